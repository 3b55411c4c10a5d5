import AMQPClient
import Logging
import Messaging

/// Operations on the dead-letter queues of a RabbitMQ topology (`<queue>.dlq`), for `ordersystem replay-dlq`.
public enum RabbitMQDeadLetters {
    /// The headers a message gains on its way to a dead-letter queue: our retry count and reason, and RabbitMQ's own
    /// dead-lettering record. A replayed message starts over without them, with every retry level available again.
    public static let deathHeaders = [
        MessageHeaders.retryCount, MessageHeaders.deathReason, "x-death",
        "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
        "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
    ]

    /// How many messages wait in `queue`'s dead-letter queue, or nil when it does not exist.
    public static func depth(client: AMQPClient, queue: String) async throws -> Int? {
        try await RabbitMQQueueMigration.passiveDeclare(client: client, name: BrokerTopology.deadLetterQueueName(of: queue))
            .map { Int($0.messageCount) }
    }

    /// Moves up to `limit` messages from `queue`'s dead-letter queue back to `queue`, oldest first, each a confirmed
    /// copy without ``deathHeaders`` whose original is acked only after the confirm (an interruption can leave a
    /// copy and its original, never neither). Returns how many were moved.
    public static func replay(client: AMQPClient, queue: String, limit: Int = .max, logger: Logger) async throws -> Int {
        try await RabbitMQQueueMigration.move(
            client: client, from: BrokerTopology.deadLetterQueueName(of: queue), to: queue, limit: limit,
            rewrite: { properties in
                guard var headers = properties.headers else { return }
                for name in Self.deathHeaders { headers[name] = nil }
                properties.headers = headers.isEmpty ? nil : headers
            },
            logger: logger
        )
    }
}
