import AMQPClient
import Logging
import ServiceCore
import ServiceRuntime

/// The RabbitMQ connection of a service or an administrative command, from `RABBITMQ_URL`: one clear error for a
/// bad URL, and for a broker that does not answer within `BROKER_CONNECT_TIMEOUT` (the client keeps retrying
/// meanwhile).
enum RabbitMQConnector {
    /// The client for `settings` (not running yet).
    static func makeClient(_ settings: BackendSettings, logger: Logger) throws -> AMQPClient {
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
        logger.info("connecting to RabbitMQ", metadata: ["broker": "\(configuration)"])
        return AMQPClient(configuration: configuration, logger: logger)
    }

    /// Waits until the running `client` is connected, up to `BROKER_CONNECT_TIMEOUT`.
    static func waitUntilConnected(_ client: AMQPClient, _ settings: BackendSettings) async throws {
        do {
            try await client.waitUntilConnected(timeout: settings.brokerConnectTimeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw UnsupportedBackendError(
                description: "RabbitMQ at \(client.address) did not answer within "
                    + "\(DurationParser.format(settings.brokerConnectTimeout)) (RABBITMQ_URL; BROKER_CONNECT_TIMEOUT): \(error)"
            )
        }
    }

    /// Runs `body` with a running, connected client, stopped when `body` returns or throws (`migrate-queues`,
    /// `replay-dlq`).
    static func with<Result>(
        _ settings: BackendSettings, logger: Logger, _ body: (AMQPClient) async throws -> Result
    ) async throws -> Result {
        let client = try Self.makeClient(settings, logger: logger)
        return try await withRunning(client) {
            try await Self.waitUntilConnected(client, settings)
            return try await body(client)
        }
    }
}
