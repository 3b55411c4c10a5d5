import AnalyticsService
import ArgumentParser
import NIOCore
import NotificationWorker
import OrderService
import ServiceRuntime

/// `ordersystem`: the root command. Without a subcommand it runs `all`.
public struct OrderSystemCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ordersystem",
        abstract: "An event-driven order system: order service, analytics service and notification worker.",
        discussion: """
            Every option also has an environment variable (shown in each option's help); a flag wins over the \
            environment, which wins over the default. Passwords (DB_PASSWORD, ORDER_DB_PASSWORD, \
            ANALYTICS_DB_PASSWORD, REDIS_PASSWORD) are read from the environment only, so they never show in `ps`.
            """,
        subcommands: [
            AllCommand.self, OrderServiceCommand.self, AnalyticsServiceCommand.self, NotificationWorkerCommand.self,
            MigrateCommand.self, MigrateQueuesCommand.self, ReplayDeadLettersCommand.self, UnparkOutboxCommand.self,
            HealthcheckCommand.self,
        ],
        defaultSubcommand: AllCommand.self
    )

    public init() {}
}

/// The process environment.
var processEnvironment: [String: String] { ProcessEnvironment.current() }

/// `ordersystem all`: the three services in one process.
public struct AllCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run all three services in one process (default: SQLite, in-process cache, embedded broker)."
    )

    @Option(help: "Order service port. (env: ORDER_SERVICE_PORT; default: 8080)")
    public var orderPort: Int?

    @Option(help: "Analytics service port. (env: ANALYTICS_SERVICE_PORT; default: 8081)")
    public var analyticsPort: Int?

    @Option(help: "Notification worker health port. (env: NOTIFICATION_HEALTH_PORT; default: 8082)")
    public var notificationPort: Int?

    @Option(help: "Port serving the order service's /health, /health/live and /metrics instead of its service port. (env: ORDER_OPS_PORT; default: none)")
    public var orderOpsPort: Int?

    @Option(help: "Port serving the analytics service's /health, /health/live and /metrics instead of its service port. (env: ANALYTICS_OPS_PORT; default: none)")
    public var analyticsOpsPort: Int?

    @OptionGroup public var common: CommonOptions
    @OptionGroup public var http: ProcessOptions
    @OptionGroup public var databases: SystemDatabaseOptions
    @OptionGroup public var orderTuning: OrderTuningOptions
    @OptionGroup public var analyticsTuning: AnalyticsTuningOptions
    @OptionGroup public var notificationTuning: NotificationTuningOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        var configuration = try SystemConfiguration.resolve(
            common: self.common,
            orderTuning: self.orderTuning,
            analyticsTuning: self.analyticsTuning,
            notificationTuning: self.notificationTuning,
            http: self.http,
            orderDatabase: try .system(.order, options: self.databases, resolver: resolver),
            analyticsDatabase: try .system(.analytics, options: self.databases, resolver: resolver),
            defaults: .embedded,
            resolver: resolver
        )
        configuration.order.port = try resolver.port(
            self.orderPort, option: "order-port", env: ["ORDER_SERVICE_PORT"], default: 8080
        )
        configuration.analytics.port = try resolver.port(
            self.analyticsPort, option: "analytics-port", env: ["ANALYTICS_SERVICE_PORT"], default: 8081
        )
        configuration.notification.port = try resolver.port(
            self.notificationPort, option: "notification-port", env: ["NOTIFICATION_HEALTH_PORT"], default: 8082
        )
        configuration.order.http.opsPort = try resolver.optionalPort(
            self.orderOpsPort, option: "order-ops-port", env: ["ORDER_OPS_PORT"]
        )
        configuration.analytics.http.opsPort = try resolver.optionalPort(
            self.analyticsOpsPort, option: "analytics-ops-port", env: ["ANALYTICS_OPS_PORT"]
        )
        return configuration
    }

    public func run() async throws {
        let configuration = try self.resolve(environment: processEnvironment)
        ServiceLogging.bootstrap(level: configuration.logLevel)
        let ports = [
            (configuration.order.port, "ORDER_SERVICE_PORT"), (configuration.analytics.port, "ANALYTICS_SERVICE_PORT"),
            (configuration.notification.port, "NOTIFICATION_HEALTH_PORT"),
        ] + [(configuration.order.http.opsPort, "ORDER_OPS_PORT"), (configuration.analytics.http.opsPort, "ANALYTICS_OPS_PORT")]
            .compactMap { port, setting in port.map { ($0, setting) } }
        try await Self.reportingStartFailures(listeningOn: ports) {
            try await EmbeddedSystem.run(configuration: configuration)
        }
    }

    /// Turns a backend that cannot be used into a one-line message and exit code 1, instead of a stack of errors.
    static func reportingStartFailures(
        listeningOn ports: [(port: Int, setting: String)] = [], _ body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch let error as UnsupportedBackendError {
            throw ValidationError(error.description)
        } catch let error as IOError where !ports.isEmpty {
            throw ListenFailure(error, ports: ports) ?? error
        }
    }
}

/// The executable's entry point: parses the command line and runs the chosen command.
public enum OrderSystemMain {
    /// Runs `ordersystem` with the process arguments and exits.
    public static func run() async {
        await OrderSystemCommand.main()
    }
}
