import AMQPClient
import AnalyticsService
import ArgumentParser
import Logging
import OrderMessaging
import RabbitMQMessaging
import ServiceRuntime

/// `ordersystem migrate-queues`: moves the original system's RabbitMQ queues (and retry queues with other delays) to
/// our topology without losing a message, then exits.
public struct MigrateQueuesCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate-queues",
        abstract: "Move RabbitMQ queues declared with other arguments (the original's) to our topology, keeping every message.",
        discussion: """
            Stop the services first (at least every consumer of analytics.orders and notifications.orders): a queue \
            that has consumers is refused. For each of analytics.orders and notifications.orders that exists without \
            our arguments (RabbitMQ answers 406 PRECONDITION_FAILED to the services' declaration), the command binds a \
            holding queue <queue>.migrating to the orders exchange (events published meanwhile are kept), moves every \
            message into it (confirmed copies with all properties, originals acked only after the confirm), deletes \
            the queue, declares the full topology (dead-letter exchange, retry and dead-letter queues) and moves the \
            messages back. Retry queues declared with other delays are emptied into their main queue (their messages \
            would be retried anyway) and redeclared with --retry-delays. Idempotent: a second run finds nothing to \
            do; an interrupted run is resumed by running it again. Give it the services' RETRY_DELAYS. Only \
            --rabbitmq-url, --broker-connect-timeout, --retry-delays and --log-level matter here.
            """
    )

    @OptionGroup public var common: CommonOptions

    public init() {}

    /// Resolves the configuration against `environment`.
    public func resolve(environment: [String: String]) throws -> SystemConfiguration {
        try Self.resolve(common: self.common, environment: environment)
    }

    /// The configuration of a command that only talks to RabbitMQ (this one and `replay-dlq`).
    static func resolve(common: CommonOptions, environment: [String: String]) throws -> SystemConfiguration {
        let resolver = SettingResolver(environment: environment)
        let database = try DatabaseOptions.parse([])
        return try SystemConfiguration.resolve(
            common: common,
            orderDatabase: try .plain(.order, options: database, resolver: resolver),
            analyticsDatabase: try .plain(.analytics, options: database, resolver: resolver),
            defaults: .servers,
            resolver: resolver
        )
    }

    public func run() async throws {
        let configuration = try self.resolve(environment: processEnvironment)
        ServiceLogging.bootstrap(level: configuration.logLevel)
        let report: RabbitMQQueueMigration.Report
        do {
            report = try await Self.migrateQueues(configuration: configuration)
        } catch {
            StandardError.print("error: migrate-queues failed: \(Self.oneLine(error))")
            throw ExitCode.failure
        }
        print(report.description)
    }

    /// The queues this command migrates: the consumers' queues (docs/CONTRACTS.md, "Messaging").
    public static let queues = OrderTopology.consumerQueues

    /// Connects to `configuration.backends.rabbitmqURL` and migrates ``queues`` with the configured retry delays.
    public static func migrateQueues(
        configuration: SystemConfiguration, queues: [String] = Self.queues
    ) async throws -> RabbitMQQueueMigration.Report {
        let logger = ServiceLogging.logger(service: "migrate-queues", level: configuration.logLevel)
        return try await RabbitMQConnector.with(configuration.backends, logger: logger) { client in
            let topology = OrderTopology.topology(queues: queues, retryDelays: configuration.analytics.retryDelays)
            return try await RabbitMQQueueMigration.migrate(client: client, topology: topology, logger: logger)
        }
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
