import AMQPClient
import Logging
import ServiceCore
import ServiceRuntime

/// Opens the RabbitMQ connection of a service or an administrative command from `RABBITMQ_URL` and waits up to
/// `BROKER_CONNECT_TIMEOUT` for it (the client keeps retrying meanwhile), with one clear error for a bad URL or a
/// broker that does not answer.
enum RabbitMQConnector {
    /// A running, connected client; `running.stop()` closes it.
    static func connect(
        _ settings: BackendSettings, logger: Logger
    ) async throws -> (client: AMQPClient, running: BackgroundService) {
        var configuration: AMQPConnectionConfiguration
        do {
            configuration = try AMQPConnectionConfiguration(url: settings.rabbitmqURL)
        } catch {
            // The error never repeats the URL (it may hold a password).
            throw UnsupportedBackendError(
                description: "\(settings.rabbitmqURLSource) is not a valid amqp:// or amqps:// URL: \(error)")
        }
        let files = settings.rabbitmqTLS
        if var tls = configuration.tls {
            tls.caFile = files.caFile
            tls.certificateFile = files.certificateFile
            tls.keyFile = files.keyFile
            configuration.tls = tls
        } else if !files.isEmpty {
            throw UnsupportedBackendError(
                description: "RABBITMQ_TLS_CA, RABBITMQ_TLS_CERT or RABBITMQ_TLS_KEY is set but the URL is amqp://: use amqps:// for TLS")
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
