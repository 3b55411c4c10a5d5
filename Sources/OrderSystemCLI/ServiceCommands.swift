import AnalyticsService
import ArgumentParser
import Logging
import NotificationWorker
import OrderService
import ServiceLifecycle
import ServiceRuntime
import UnixSignals

/// `ordersystem order-service`: the order service alone, on the real servers by default (as the original).
public struct OrderServiceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "order-service",
        abstract: "Run the order service alone (default: MySQL, Redis, RabbitMQ)."
    )

    @Option(help: "HTTP port. (env: SERVICE_PORT; default: 8080)")
    public var port: Int?

    @Option(help: "Port serving /health, /health/live and /metrics instead of the HTTP port. (env: OPS_PORT; default: none)")
    public var opsPort: Int?

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var http: ProcessOptions
    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var orderTuning: OrderTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.order, options: self.database, resolver: resolver)
        var configuration = try SystemConfiguration.resolve(
            common: self.common, orderTuning: self.orderTuning, http: self.http, orderDatabase: database,
            analyticsDatabase: database, defaults: .servers, resolver: resolver
        )
        configuration.order.port = try resolver.port(self.port, option: "port", env: ["SERVICE_PORT"], default: 8080)
        configuration.order.http.opsPort = try resolver.optionalPort(self.opsPort, option: "ops-port", env: ["OPS_PORT"])
        return configuration
    }

    public func run() async throws {
        try await SingleService.run(.order, try self.resolve(environment: processEnvironment))
    }
}

/// `ordersystem analytics-service`: the analytics service alone.
public struct AnalyticsServiceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "analytics-service",
        abstract: "Run the analytics service alone (default: MySQL, Redis, RabbitMQ)."
    )

    @Option(help: "HTTP port. (env: SERVICE_PORT; default: 8081)")
    public var port: Int?

    @Option(help: "Port serving /health, /health/live and /metrics instead of the HTTP port. (env: OPS_PORT; default: none)")
    public var opsPort: Int?

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var http: ProcessOptions
    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var analyticsTuning: AnalyticsTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.analytics, options: self.database, resolver: resolver)
        var configuration = try SystemConfiguration.resolve(
            common: self.common, analyticsTuning: self.analyticsTuning, http: self.http, orderDatabase: database,
            analyticsDatabase: database, defaults: .servers, resolver: resolver
        )
        configuration.analytics.port = try resolver.port(self.port, option: "port", env: ["SERVICE_PORT"], default: 8081)
        configuration.analytics.http.opsPort = try resolver.optionalPort(self.opsPort, option: "ops-port", env: ["OPS_PORT"])
        return configuration
    }

    public func run() async throws {
        try await SingleService.run(.analytics, try self.resolve(environment: processEnvironment))
    }
}

/// `ordersystem notification-worker`: the notification worker alone.
public struct NotificationWorkerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "notification-worker",
        abstract: "Run the notification worker alone (default: Redis for its dedupe record, RabbitMQ). It has no --store: its record is Redis with --cache redis, else a SQLite file in --data-dir."
    )

    @Option(help: "Health/metrics port. (env: HEALTH_PORT; default: 8082)")
    public var port: Int?

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var http: ProcessOptions
    @OptionGroup public var notificationTuning: NotificationTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.order, options: try DatabaseOptions.parse([]), resolver: resolver)
        var configuration = try SystemConfiguration.resolve(
            common: self.common, notificationTuning: self.notificationTuning, http: self.http, orderDatabase: database,
            analyticsDatabase: database, defaults: .servers, resolver: resolver
        )
        // The worker keeps no database: its record follows the cache choice (docs/CONTRACTS.md, "Notifications").
        configuration.backends.store = .sqlite
        configuration.notification.port = try resolver.port(self.port, option: "port", env: ["HEALTH_PORT"], default: 8082)
        return configuration
    }

    public func run() async throws {
        try await SingleService.run(.notification, try self.resolve(environment: processEnvironment))
    }
}

/// What the three single-service commands do once their configuration is resolved: open this service's backends
/// (by default MySQL, Redis and RabbitMQ, as the original), build it with the same build function `all` uses, and
/// run it until SIGTERM or SIGINT.
enum SingleService {
    static func run(_ name: ServiceName, _ configuration: SystemConfiguration) async throws {
        // Refuse an impossible choice before touching the process (logging can be set up only once).
        try await AllCommand.reportingStartFailures {
            try BackendFactory.validate(configuration.backends, singleService: true)
        }
        ServiceLogging.bootstrap(level: configuration.logLevel)
        let (port, opsPort): ((Int, String), Int?) =
            switch name {
            case .order: ((configuration.order.port, "SERVICE_PORT"), configuration.order.http.opsPort)
            case .analytics: ((configuration.analytics.port, "SERVICE_PORT"), configuration.analytics.http.opsPort)
            case .notification: ((configuration.notification.port, "HEALTH_PORT"), nil)
            }
        let ports = [port] + (opsPort.map { [($0, "OPS_PORT")] } ?? [])
        try await AllCommand.reportingStartFailures(listeningOn: ports) {
            if configuration.backends.store == .sqlite || name == .notification {
                try BackendFactory.prepareDataDirectory(configuration.backends.dataDirectory)
            }
            let logger = ServiceLogging.logger(service: name.rawValue, level: configuration.logLevel)
            CredentialWarnings.log(configuration, service: name, logger: logger)
            let backends = configuration.backends
            let clients = try BackendClients.make(
                backends,
                orderDatabase: name == .order ? configuration.orderDatabase : nil,
                analyticsDatabase: name == .analytics ? configuration.analyticsDatabase : nil,
                logger: logger
            )
            let host = ServiceHost(logger: logger) { opened in
                let broker = try await BackendFactory.openBroker(backends, clients: clients, opened: opened, logger: logger)
                let cache = BackendFactory.makeCache(backends, redis: clients.redis, logger: logger)
                switch name {
                case .order:
                    let store = try await BackendFactory.openOrderStore(
                        backends, database: configuration.orderDatabase, client: clients.orderDatabase,
                        opened: opened, logger: logger
                    )
                    return [
                        try await buildOrderService(
                            configuration: configuration.order,
                            backends: OrderServiceBackends(store: store, cache: cache, broker: broker),
                            logger: logger
                        )
                    ]
                case .analytics:
                    let store = try await BackendFactory.openAnalyticsStore(
                        backends, database: configuration.analyticsDatabase, client: clients.analyticsDatabase,
                        opened: opened, logger: logger
                    )
                    return [
                        try await buildAnalyticsService(
                            configuration: configuration.analytics,
                            backends: AnalyticsServiceBackends(store: store, cache: cache, broker: broker),
                            logger: logger
                        )
                    ]
                case .notification:
                    let record = try await BackendFactory.openNotificationRecord(
                        backends, redis: clients.redis, opened: opened, logger: logger
                    )
                    return [
                        try await buildNotificationWorker(
                            configuration: configuration.notification,
                            backends: NotificationWorkerBackends(
                                record: record,
                                sender: SimulatedNotificationSender(
                                    latency: configuration.notificationLatency,
                                    failureRate: configuration.notificationFailureRate, logger: logger
                                ),
                                broker: broker
                            ),
                            logger: logger
                        )
                    ]
                }
            }
            let group = ServiceGroup(
                configuration: ShutdownDeadline.groupConfiguration(
                    services: clients.services + [host], timeout: configuration.shutdownTimeout, logger: logger)
            )
            try await group.run()
        }
    }
}
