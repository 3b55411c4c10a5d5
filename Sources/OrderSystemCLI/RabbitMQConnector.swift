import AMQPClient
import Logging
import ServiceRuntime

/// Opens the RabbitMQ connection of a service or an administrative command from `RABBITMQ_URL` and waits up to
/// `BROKER_CONNECT_TIMEOUT` for it (the client keeps retrying meanwhile), with one clear error for a bad URL or a
/// broker that does not answer.
enum RabbitMQConnector {
    /// A running, connected client; `running.stop()` closes it.
    static func connect(
        _ settings: BackendSettings, logger: Logger
    ) async throws -> (client: AMQPClient, running: BackgroundService) {
        let configuration: AMQPConnectionConfiguration
        do {
            configuration = try AMQPConnectionConfiguration(url: settings.rabbitmqURL)
        } catch {
            throw UnsupportedBackendError(description: "RABBITMQ_URL is not a valid amqp:// URL: \(error)")
        }
        let client = AMQPClient(configuration: configuration, logger: logger)
        let running = BackgroundService(client)
        logger.info("connecting to RabbitMQ", metadata: ["broker": "\(configuration)"])
        do {
            try await client.waitUntilConnected(timeout: settings.brokerConnectTimeout)
        } catch {
            await running.stop()
            throw UnsupportedBackendError(
                description: "RabbitMQ at \(configuration.host):\(configuration.port) did not answer within "
                    + "\(DurationParser.format(settings.brokerConnectTimeout)) (RABBITMQ_URL; BROKER_CONNECT_TIMEOUT): \(error)"
            )
        }
        return (client, running)
    }

    /// Runs `body` with a connected client, closed when `body` returns or throws (`migrate-queues`, `replay-dlq`).
    static func with<Result>(
        _ settings: BackendSettings, logger: Logger, _ body: (AMQPClient) async throws -> Result
    ) async throws -> Result {
        let (client, running) = try await Self.connect(settings, logger: logger)
        return try await running.stop(after: { try await body(client) })
    }
}
