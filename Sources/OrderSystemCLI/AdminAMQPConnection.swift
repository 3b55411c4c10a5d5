import AMQPClient
import Logging
import ServiceRuntime

/// The RabbitMQ connection of the administrative commands (`migrate-queues`, `replay-dlq`): opened from
/// `RABBITMQ_URL`, waited for up to `BROKER_CONNECT_TIMEOUT`, closed when `body` returns or throws.
enum AdminAMQPConnection {
    static func with<Result>(
        _ settings: BackendSettings, logger: Logger, _ body: (AMQPClient) async throws -> Result
    ) async throws -> Result {
        let amqp: AMQPConnectionConfiguration
        do {
            amqp = try AMQPConnectionConfiguration(url: settings.rabbitmqURL)
        } catch {
            throw UnsupportedBackendError(description: "RABBITMQ_URL is not a valid amqp:// URL: \(error)")
        }
        let client = AMQPClient(configuration: amqp, logger: logger)
        let running = BackgroundService(client)
        do {
            do {
                try await client.waitUntilConnected(timeout: settings.brokerConnectTimeout)
            } catch {
                throw UnsupportedBackendError(
                    description: "RabbitMQ at \(amqp.host):\(amqp.port) did not answer within "
                        + "\(DurationParser.format(settings.brokerConnectTimeout)) (RABBITMQ_URL; BROKER_CONNECT_TIMEOUT)"
                )
            }
            let result = try await body(client)
            await running.stop()
            return result
        } catch {
            await running.stop()
            throw error
        }
    }
}
