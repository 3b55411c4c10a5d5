import AMQPClient
import Logging

/// The order system's fixed RabbitMQ names (DESIGN.md, Messaging) on the shared broker: tests that run the services on
/// RabbitMQ delete them first, so messages left by an earlier run are not counted.
public enum RabbitMQTestTopology {
    /// The stack's `RABBITMQ_URL`, as `ordersystem`'s `--rabbitmq-url`.
    public static func url() throws -> String {
        try RealServers.require("RABBITMQ_URL")
    }

    /// Deletes `analytics.orders`, `notifications.orders`, their retry and dead-letter queues, and both exchanges.
    public static func deleteOrderTopology() async throws {
        let connection = try await AMQPConnection.connect(
            configuration: try AMQPConnectionConfiguration(url: try Self.url()), logger: testLogger("amqp")
        )
        let channel = try await connection.openChannel()
        for queue in ["analytics.orders", "notifications.orders"] {
            for name in [queue, "\(queue).dlq", "\(queue).retry.1", "\(queue).retry.2", "\(queue).retry.3"] {
                _ = try await channel.queueDelete(name: name)
            }
        }
        for exchange in ["orders", "orders.dlx"] {
            try await channel.exchangeDelete(name: exchange)
        }
        try await connection.close()
    }
}
