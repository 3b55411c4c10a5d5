import AnalyticsService
import ArgumentParser
import NotificationWorker
import OrderService
import ServiceRuntime

/// `ordersystem order-service`: the order service alone, on the real servers by default (as the original).
public struct OrderServiceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "order-service",
        abstract: "Run the order service alone (default: MySQL, Redis, RabbitMQ)."
    )

    @Option(help: "HTTP port. (env: SERVICE_PORT; default: 8080)")
    public var port: Int?

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var orderTuning: OrderTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.order, options: self.database, resolver: resolver)
        var configuration = try SystemConfiguration.resolve(
            common: self.common, orderTuning: self.orderTuning, orderDatabase: database,
            analyticsDatabase: database, defaults: .servers, resolver: resolver
        )
        configuration.order.port = try resolver.port(self.port, option: "port", env: ["SERVICE_PORT"], default: 8080)
        return configuration
    }

    public func run() async throws {
        try await SingleService.run(try self.resolve(environment: processEnvironment))
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

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var analyticsTuning: AnalyticsTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.analytics, options: self.database, resolver: resolver)
        var configuration = try SystemConfiguration.resolve(
            common: self.common, analyticsTuning: self.analyticsTuning, orderDatabase: database,
            analyticsDatabase: database, defaults: .servers, resolver: resolver
        )
        configuration.analytics.port = try resolver.port(self.port, option: "port", env: ["SERVICE_PORT"], default: 8081)
        return configuration
    }

    public func run() async throws {
        try await SingleService.run(try self.resolve(environment: processEnvironment))
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
    @OptionGroup public var notificationTuning: NotificationTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseSettings.plain(.order, options: try DatabaseOptions.parse([]), resolver: resolver)
        var configuration = try SystemConfiguration.resolve(
            common: self.common, notificationTuning: self.notificationTuning, orderDatabase: database,
            analyticsDatabase: database, defaults: .servers, resolver: resolver
        )
        // The worker keeps no database: its record follows the cache choice (DESIGN.md, Notifications).
        configuration.backends.store = .sqlite
        configuration.notification.port = try resolver.port(self.port, option: "port", env: ["HEALTH_PORT"], default: 8082)
        return configuration
    }

    public func run() async throws {
        try await SingleService.run(try self.resolve(environment: processEnvironment))
    }
}

/// What the three single-service commands do once their configuration is resolved.
enum SingleService {
    /// Sets up logging and checks the backends; the services run here once the RabbitMQ adapter lands (the
    /// embedded broker only connects services inside one process).
    static func run(_ configuration: SystemConfiguration) async throws {
        ServiceLogging.bootstrap(level: configuration.logLevel)
        try await AllCommand.reportingStartFailures {
            try BackendFactory.validate(configuration.backends, singleService: true)
        }
    }
}
