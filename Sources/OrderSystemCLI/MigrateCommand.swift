import ArgumentParser
import Logging
import ServiceRuntime

/// `ordersystem migrate [order|analytics|all]`: applies schema migrations and exits.
public struct MigrateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply database migrations and exit (idempotent; safe while other instances start).",
        discussion: """
            One service reads the plain DB_* variables, as the single-service commands do; `all` reads the \
            prefixed ORDER_DB_* / ANALYTICS_DB_* variables first, as `ordersystem all` does. The store defaults to \
            sqlite, as for `all`.
            """
    )

    /// What to migrate.
    public enum Target: String, CaseIterable, ExpressibleByArgument, Sendable {
        case order, analytics, all
    }

    @Argument(help: "What to migrate: order, analytics or all.")
    public var target: Target = .all

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var databases: SystemDatabaseOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let order: DatabaseSettings
        let analytics: DatabaseSettings
        switch self.target {
        case .order:
            order = try .plain(.order, options: self.database, resolver: resolver)
            analytics = try .system(.analytics, options: self.databases, resolver: resolver)
        case .analytics:
            order = try .system(.order, options: self.databases, resolver: resolver)
            analytics = try .plain(.analytics, options: self.database, resolver: resolver)
        case .all:
            order = try .system(.order, options: self.databases, resolver: resolver)
            analytics = try .system(.analytics, options: self.databases, resolver: resolver)
        }
        return try SystemConfiguration.resolve(
            common: self.common, orderDatabase: order, analyticsDatabase: analytics, defaults: .embedded,
            resolver: resolver
        )
    }

    public func run() async throws {
        let configuration = try self.resolve(environment: processEnvironment)
        ServiceLogging.bootstrap(level: configuration.logLevel)
        try await AllCommand.reportingStartFailures {
            try await Self.migrate(self.target, configuration: configuration)
        }
    }

    /// Applies the migrations of `target`.
    public static func migrate(_ target: Target, configuration: SystemConfiguration) async throws {
        var backends = configuration.backends
        // Migration touches only the stores: the cache and broker choices do not matter here.
        backends.cache = .memory
        backends.broker = .embedded
        try BackendFactory.validate(backends, singleService: false)
        try BackendFactory.prepareDataDirectory(backends.dataDirectory)
        let logger = ServiceLogging.logger(service: "migrate", level: configuration.logLevel)
        let clients = try BackendClients.make(
            backends,
            orderDatabase: target != .analytics ? configuration.orderDatabase : nil,
            analyticsDatabase: target != .order ? configuration.analyticsDatabase : nil,
            logger: logger
        )
        let opened = OpenedResources()
        try await withRunning(clients.services) {
            try await opened.closing {
                if target != .analytics {
                    _ = try await BackendFactory.openOrderStore(
                        backends, database: configuration.orderDatabase, client: clients.orderDatabase,
                        opened: opened, logger: logger
                    )
                    logger.info("order store migrated", metadata: ["store": "\(backends.store.rawValue)"])
                }
                if target != .order {
                    _ = try await BackendFactory.openAnalyticsStore(
                        backends, database: configuration.analyticsDatabase, client: clients.analyticsDatabase,
                        opened: opened, logger: logger
                    )
                    logger.info("analytics store migrated", metadata: ["store": "\(backends.store.rawValue)"])
                }
            }
        }
    }
}
