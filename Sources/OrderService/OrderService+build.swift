import Caching
import Hummingbird
import Logging
import Messaging
import NIOCore
import OrderMessaging
import ServiceCore
import ServiceLifecycle
import ServiceRuntime

/// Settings of the order service; the command line fills them (flag > environment > default).
public struct OrderServiceConfiguration: Sendable {
    /// The address to listen on.
    public var hostname: String = "0.0.0.0"
    /// The port (`SERVICE_PORT`, 8080).
    public var port: Int = 8080
    /// Timeouts, connection cap and ops port of the HTTP listener (`HTTP_*`, `OPS_PORT`).
    public var http = HTTPServerSettings()
    /// The largest request body accepted; larger is a 413.
    public var maxBodySize: Int = 64 * 1024
    /// Retry delays declared for the consumer queues (the order service declares the whole topology so that no
    /// event is routed nowhere before a consumer starts).
    public var retryDelays: [Duration] = OrderTopology.defaultRetryDelays
    /// How long an `Idempotency-Key` answers with its order (`IDEMPOTENCY_KEY_TTL`, 24 h); expired keys are purged
    /// by the relay's housekeeping and a reused expired key creates a new order.
    public var idempotencyKeyTTL: Duration = .seconds(24 * 3600)
    /// Orders kept in the process in front of a shared cache (`NEAR_CACHE_CAPACITY`, 10000; 0 for none). Unused
    /// when the cache is already in the process.
    public var nearCacheCapacity: Int = 10_000
    /// Orders waiting for the database at most (`ORDER_QUEUE_LIMIT`, 1024); beyond it `POST /orders` answers 503
    /// `unavailable` with `Retry-After` at once.
    public var orderQueueLimit: Int = OrderGroupCommit.defaultMaximumQueued
    /// The outbox relay's tunables.
    public var relay = OutboxRelay.Configuration(exchange: OrderTopology.exchange)

    /// Creates the defaults.
    public init() {}
}

/// The backends the order service runs on, opened by the caller.
public struct OrderServiceBackends: Sendable {
    /// Orders and outbox.
    public var store: any OrderStore
    /// The order cache.
    public var cache: any KeyValueCache
    /// The broker events are published to.
    public var broker: any MessageBroker

    /// Creates the set.
    public init(store: any OrderStore, cache: any KeyValueCache, broker: any MessageBroker) {
        self.store = store
        self.cache = cache
        self.broker = broker
    }
}

/// Builds the order service: routes, health, metrics and the outbox relay.
///
/// The one build function the executable, `ordersystem all` and the tests use. The returned application runs the
/// relay beside the HTTP server; on graceful shutdown the server stops first, then the group commit stores what is queued, then the relay
/// flushes. The backends
/// belong to the caller, who opened them and closes them after the application has stopped.
public func buildOrderService(
    configuration: OrderServiceConfiguration,
    backends: OrderServiceBackends,
    metrics registry: ServiceMetrics = ServiceMetrics(),
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
    onOpsServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let metrics = OrderServiceMetrics(registry: registry)
    let brokerTopology = OrderTopology.topology(
        queues: OrderTopology.consumerQueues,
        retryDelays: configuration.retryDelays
    )
    let topology = try await TopologyDeclaration.declare(brokerTopology, on: backends.broker, logger: logger)
    let handoff = OutboxHandoff()
    var relayConfiguration = configuration.relay
    relayConfiguration.idempotencyKeyTTL = configuration.idempotencyKeyTTL
    let relay = OutboxRelay(
        store: backends.store,
        broker: backends.broker,
        configuration: relayConfiguration,
        metrics: metrics,
        handoff: handoff,
        topology: brokerTopology,
        logger: logger
    )
    let store = backends.store
    let groupCommit = OrderGroupCommit(store: store, maximumQueued: configuration.orderQueueLimit)
    let cache = backends.cache
    let broker = backends.broker
    let health = HealthMonitor(
        service: "order-service",
        checks: [
            HealthCheck(name: "database", importance: .required) { try await store.checkHealth() },
            HealthCheck(name: "cache", importance: .optional) { try await cache.checkHealth() },
            // The outbox keeps events while the broker is down or routes them nowhere: orders are still taken,
            // so this only degrades.
            topology.healthCheck(broker: broker, importance: .optional, also: { try relay.checkRouting() }),
            // Parked events need an operator, not a restart: degraded.
            HealthCheck(name: "outbox", importance: .optional) { try relay.checkParked() },
        ]
    )
    let router = ServiceApplication.router(metrics: registry, health: health, http: configuration.http)
    // A cache in the process is written in place; a shared one (Redis) in the background, many orders per round trip.
    let local = cache is MemoryCache<ContinuousClock>
    let cacheWriter = local ? nil : OrderCacheWriter(cache: cache, ttl: OrderCache.ttl, metrics: metrics, logger: logger)
    OrderRoutes<BasicRequestContext>(
        store: store,
        groupCommit: groupCommit,
        cache: OrderCache(
            cache: cache,
            near: local || configuration.nearCacheCapacity == 0
                ? nil : MemoryCache(capacity: configuration.nearCacheCapacity),
            writer: cacheWriter,
            metrics: metrics,
            logger: logger
        ),
        outbox: handoff,
        metrics: metrics,
        maxBodySize: configuration.maxBodySize,
        idempotencyKeyTTL: configuration.idempotencyKeyTTL,
        logger: logger
    ).add(to: router)
    return ServiceApplication.make(
        router: router, hostname: configuration.hostname, port: configuration.port, http: configuration.http,
        metrics: registry, health: health,
        // Stopped in reverse order once the server has stopped: the group commit stores what is queued, then the
        // relay publishes it, then the cache writer writes what is left.
        services: ([cacheWriter, relay, groupCommit] as [(any Service)?]).compactMap { $0 },
        onServerRunning: onServerRunning, onOpsServerRunning: onOpsServerRunning, logger: logger
    )
}
