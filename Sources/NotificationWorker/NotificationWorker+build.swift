import Hummingbird
import Logging
import Messaging
import NIOCore
import OrderMessaging
import ServiceCore
import ServiceLifecycle
import ServiceRuntime

/// Settings of the notification worker; the command line fills them (flag > environment > default).
public struct NotificationWorkerConfiguration: Sendable {
    /// The address the health server listens on.
    public var hostname: String = "0.0.0.0"
    /// The health port (`HEALTH_PORT`, 8082).
    public var port: Int = 8082
    /// Timeouts and connection cap of the health listener (`HTTP_*`); its port is already an ops port.
    public var http = HTTPServerSettings()
    /// Deliveries in flight (processed concurrently).
    public var prefetch: Int = 32
    /// Attempts before a failing notification is dead-lettered.
    public var maxAttempts: Int = 5
    /// Retry delays of the queue's retry levels.
    public var retryDelays: [Duration] = OrderTopology.defaultRetryDelays

    /// Creates the defaults.
    public init() {}
}

/// The backends the worker runs on, opened by the caller.
public struct NotificationWorkerBackends: Sendable {
    /// The dedupe record.
    public var record: any NotificationRecord
    /// The provider.
    public var sender: any NotificationSender
    /// The broker events come from.
    public var broker: any MessageBroker

    /// Creates the set.
    public init(record: any NotificationRecord, sender: any NotificationSender, broker: any MessageBroker) {
        self.record = record
        self.sender = sender
        self.broker = broker
    }
}

/// Builds the notification worker: the `notifications.orders` consumer and its health/metrics server.
/// The backends belong to the caller, who closes them after the application has stopped.
public func buildNotificationWorker(
    configuration: NotificationWorkerConfiguration,
    backends: NotificationWorkerBackends,
    metrics registry: ServiceMetrics = ServiceMetrics(),
    statistics: WorkerStatistics? = nil,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
    onOpsServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let queue = OrderTopology.notificationsQueue
    let statistics = statistics ?? WorkerStatistics(registry: registry, queue: queue)
    let brokerTopology = OrderTopology.topology(queues: [queue], retryDelays: configuration.retryDelays)
    let topology = try await TopologyDeclaration.declare(brokerTopology, on: backends.broker, logger: logger)
    let consumer = QueueConsumerService(
        broker: backends.broker,
        queue: queue,
        prefetch: configuration.prefetch,
        handler: NotificationDispatcher(
            sender: backends.sender,
            record: backends.record,
            maxAttempts: configuration.maxAttempts,
            statistics: statistics,
            logger: logger
        ),
        brokerErrors: statistics.brokerErrors,
        paused: statistics.consumerPaused,
        topology: brokerTopology,
        oversizedBodies: statistics.bodyTooLarge,
        logger: logger
    )
    let record = backends.record
    let broker = backends.broker
    let health = HealthMonitor(
        service: "notification-worker",
        checks: [
            // Without its record the worker cannot dedupe, so it pauses: required.
            HealthCheck(name: record.healthCheckName, importance: .required) {
                try await record.checkHealth()
                try consumer.checkNotPaused(by: NotificationDispatcher.recordDependency)
            },
            topology.healthCheck(broker: broker, importance: .required) {
                try consumer.checkNotPaused(by: ConsumerControl.forwardingDependency)
            },
        ],
        stats: { statistics.snapshot }
    )
    let router = ServiceApplication.router(metrics: registry, health: health, http: configuration.http)
    return ServiceApplication.make(
        router: router, hostname: configuration.hostname, port: configuration.port, http: configuration.http,
        metrics: registry, health: health, services: [consumer],
        onServerRunning: onServerRunning, onOpsServerRunning: onOpsServerRunning, logger: logger
    )
}
