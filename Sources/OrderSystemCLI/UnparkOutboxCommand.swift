import ArgumentParser
import Logging
import OrderService
import ServiceRuntime

/// `ordersystem unpark-outbox`: makes every parked outbox event due again, and exits.
public struct UnparkOutboxCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "unpark-outbox",
        abstract: "Make the outbox events parked after OUTBOX_MAX_ATTEMPTS due again (their attempts reset), and exit.",
        discussion: """
            Reads the order database as `order-service` does (plain DB_* variables; the store defaults to mysql). \
            A running order service publishes them within its poll interval. Fix what made the broker refuse them \
            first (the log line "outbox event parked" and the outbox's last_error column say why).
            """
    )

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var database: DatabaseOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.order, options: self.database, resolver: resolver)
        return try SystemConfiguration.resolve(
            common: self.common, orderDatabase: database, analyticsDatabase: database, defaults: .servers,
            resolver: resolver
        )
    }

    public func run() async throws {
        let configuration = try self.resolve(environment: processEnvironment)
        ServiceLogging.bootstrap(level: configuration.logLevel)
        try await AllCommand.reportingStartFailures {
            let count = try await Self.unpark(configuration: configuration)
            print("\(count) parked outbox event(s) made due again")
        }
    }

    /// Unparks every parked event of the order store; returns how many.
    public static func unpark(configuration: SystemConfiguration) async throws -> Int {
        var backends = configuration.backends
        // Only the order store is touched.
        backends.cache = .memory
        backends.broker = .embedded
        try BackendFactory.validate(backends, singleService: false)
        let logger = ServiceLogging.logger(service: "unpark-outbox", level: configuration.logLevel)
        let clients = try BackendClients.make(backends, orderDatabase: configuration.orderDatabase, analyticsDatabase: nil, logger: logger)
        let opened = OpenedResources()
        return try await withRunning(clients.services) {
            try await opened.closing {
                let store = try await BackendFactory.openOrderStore(
                    backends, database: configuration.orderDatabase, client: clients.orderDatabase,
                    opened: opened, logger: logger
                )
                let count = try await store.unparkEvents()
                logger.info("parked outbox events made due again", metadata: ["count": "\(count)"])
                return count
            }
        }
    }
}
