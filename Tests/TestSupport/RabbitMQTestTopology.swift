import AMQPClient
import Logging

/// The order system's fixed RabbitMQ names (docs/CONTRACTS.md, "Messaging") on the shared broker: tests that run the services on
/// RabbitMQ delete them first, so messages left by an earlier run are not counted.
public enum RabbitMQTestTopology {
    /// The stack's `RABBITMQ_URL`, as `ordersystem`'s `--rabbitmq-url`.
    public static func url() throws -> String {
        try RealServers.require("RABBITMQ_URL")
    }

    /// Runs `body` on a channel of a connection of its own to the stack's RabbitMQ, closed afterwards.
    public static func withChannel<T>(_ body: (AMQPChannel) async throws -> T) async throws -> T {
        let connection = try await AMQPConnection.connect(
            configuration: try AMQPConnectionConfiguration(url: try Self.url()), logger: testLogger("amqp"))
        do {
            let channel = try await connection.openChannel()
            let result = try await body(channel)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Deletes `analytics.orders`, `notifications.orders`, their retry and dead-letter queues, and both exchanges.
    public static func deleteOrderTopology() async throws {
        try await Self.withChannel { channel in
            for queue in ["analytics.orders", "notifications.orders"] {
                for name in [queue, "\(queue).dlq", "\(queue).retry.1", "\(queue).retry.2", "\(queue).retry.3"] {
                    _ = try await channel.queueDelete(name: name)
                }
            }
            for exchange in ["orders", "orders.dlx"] {
                try await channel.exchangeDelete(name: exchange)
            }
        }
    }
}
