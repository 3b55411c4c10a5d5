import ArgumentParser
import OrderMessaging
import RabbitMQMessaging
import ServiceRuntime

/// `ordersystem replay-dlq`: moves dead-lettered events back to their queue once the cause is fixed.
public struct ReplayDeadLettersCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "replay-dlq",
        abstract: "Move dead-lettered messages of a queue (<queue>.dlq on RabbitMQ) back to the queue, to be processed again.",
        discussion: """
            QUEUE is analytics.orders, notifications.orders or all. Messages move oldest first, each as a confirmed \
            copy whose original is acked only after the confirm, without the headers dead-lettering added \
            (x-retry-count, x-death-reason, x-death, x-first-death-*, x-last-death-*), so every retry level is \
            available again. The consumers are idempotent, so an interrupted run is safe to repeat. A message that \
            is still poison goes straight back to the dead-letter queue. --dry-run only prints how many wait. \
            Works on RabbitMQ (--rabbitmq-url / RABBITMQ_URL); services may keep running.
            """
    )

    @Argument(help: "analytics.orders, notifications.orders or all.")
    public var queue: String

    @Option(help: "Move at most this many messages per queue.")
    public var limit: Int?

    @Flag(help: "Print how many messages wait in each dead-letter queue; move nothing.")
    public var dryRun = false

    @OptionGroup public var common: CommonOptions

    public init() {}

    /// The consumers' queues.
    public static let queues = OrderTopology.consumerQueues

    /// The queues `argument` names; throws a validation error for anything else.
    static func queues(for argument: String) throws -> [String] {
        if argument == "all" { return Self.queues }
        guard Self.queues.contains(argument) else {
            throw ValidationError("unknown queue \(argument): use \(Self.queues.joined(separator: ", ")) or all")
        }
        return [argument]
    }

    public func validate() throws {
        _ = try Self.queues(for: self.queue)
        if let limit = self.limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    public func run() async throws {
        let configuration = try MigrateQueuesCommand.resolve(common: self.common, environment: processEnvironment)
        ServiceLogging.bootstrap(level: configuration.logLevel)
        do {
            for line in try await Self.replay(
                queues: try Self.queues(for: self.queue), limit: self.limit ?? .max, dryRun: self.dryRun,
                configuration: configuration
            ) {
                print(line)
            }
        } catch {
            StandardError.print("error: replay-dlq failed: \(MigrateQueuesCommand.oneLine(error))")
            throw ExitCode.failure
        }
    }

    /// Replays (or with `dryRun` counts) the dead letters of `queues`; one report line per queue.
    public static func replay(
        queues: [String], limit: Int, dryRun: Bool, configuration: SystemConfiguration
    ) async throws -> [String] {
        let logger = ServiceLogging.logger(service: "replay-dlq", level: configuration.logLevel)
        return try await RabbitMQConnector.with(configuration.backends, logger: logger) { client in
            var lines: [String] = []
            for queue in queues {
                guard let waiting = try await RabbitMQDeadLetters.depth(client: client, queue: queue) else {
                    lines.append("\(queue).dlq: does not exist (nothing to replay)")
                    continue
                }
                if dryRun {
                    lines.append("\(queue).dlq: \(waiting) message(s) waiting")
                    continue
                }
                let moved = try await RabbitMQDeadLetters.replay(client: client, queue: queue, limit: limit, logger: logger)
                lines.append("\(queue).dlq: moved \(moved) message(s) back to \(queue)")
            }
            return lines
        }
    }
}
