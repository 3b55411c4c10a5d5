import Caching
import Hummingbird
import Logging
import Messaging
import NIOCore
import OrderMessaging
import ServiceCore
import ServiceLifecycle
import ServiceRuntime

/// Settings of the analytics service; the command line fills them (flag > environment > default).
public struct AnalyticsServiceConfiguration: Sendable {
    /// The address to listen on.
    public var hostname: String = "0.0.0.0"
    /// The port (`SERVICE_PORT`, 8081).
    public var port: Int = 8081
    /// Timeouts, connection cap and ops port of the HTTP listener (`HTTP_*`, `OPS_PORT`).
    public var http = HTTPServerSettings()
    /// Unacknowledged deliveries in flight (`ANALYTICS_PREFETCH`, 512). Batches of up to half of them are applied,
    /// one transaction each, so the next batch is already here while one commits.
    public var prefetch: Int = 512
    /// Retry delays of the queue's retry levels.
    public var retryDelays: [Duration] = OrderTopology.defaultRetryDelays

    /// Creates the defaults.
    public init() {}
}

/// The backends the analytics service runs on, opened by the caller.
public struct AnalyticsServiceBackends: Sendable {
    /// Applied events and totals.
    public var store: any AnalyticsStore
    /// The summary cache.
    public var cache: any KeyValueCache
    /// The broker events come from.
    public var broker: any MessageBroker

    /// Creates the set.
    public init(store: any AnalyticsStore, cache: any KeyValueCache, broker: any MessageBroker) {
        self.store = store
        self.cache = cache
        self.broker = broker
    }
}

/// Builds the analytics service: the summary route, health, metrics and the `analytics.orders` consumer.
/// The backends belong to the caller, who closes them after the application has stopped.
public func buildAnalyticsService(
    configuration: AnalyticsServiceConfiguration,
    backends: AnalyticsServiceBackends,
    metrics registry: ServiceMetrics = ServiceMetrics(),
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
    onOpsServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let queue = OrderTopology.analyticsQueue
    let metrics = AnalyticsServiceMetrics(registry: registry, queue: queue)
    let brokerTopology = OrderTopology.topology(queues: [queue], retryDelays: configuration.retryDelays)
    let topology = try await TopologyDeclaration.declare(brokerTopology, on: backends.broker, logger: logger)
    let summaryCache = SummaryCache(cache: backends.cache, metrics: metrics, logger: logger)
    let consumer = QueueConsumerService(
        broker: backends.broker,
        queue: queue,
        prefetch: configuration.prefetch,
        batchLimit: max(1, configuration.prefetch / 2),
        handler: OrderEventApplier(store: backends.store, summaryCache: summaryCache, metrics: metrics, logger: logger),
        brokerErrors: metrics.brokerErrors,
        paused: metrics.consumerPaused,
        topology: brokerTopology,
        oversizedBodies: metrics.eventsBodyTooLarge,
        logger: logger
    )
    let store = backends.store
    let cache = backends.cache
    let broker = backends.broker
    let health = HealthMonitor(
        service: "analytics-service",
        checks: [
            // The store may answer pings while refusing the batch (a read-only server during a failover): a paused
            // consumer is reported too.
            HealthCheck(name: "database", importance: .required) {
                try await store.checkHealth()
                try consumer.checkNotPaused(by: OrderEventApplier.storeDependency)
            },
            HealthCheck(name: "cache", importance: .optional) { try await cache.checkHealth() },
            topology.healthCheck(broker: broker, importance: .required) {
                try consumer.checkNotPaused(by: ConsumerControl.forwardingDependency)
            },
        ]
    )
    let router = ServiceApplication.router(metrics: registry, health: health, http: configuration.http)
    AnalyticsRoutes<BasicRequestContext>(store: store, summaryCache: summaryCache, metrics: metrics, logger: logger)
        .add(to: router)
    return ServiceApplication.make(
        router: router, hostname: configuration.hostname, port: configuration.port, http: configuration.http,
        metrics: registry, health: health, services: [consumer],
        onServerRunning: onServerRunning, onOpsServerRunning: onOpsServerRunning, logger: logger
    )
}
