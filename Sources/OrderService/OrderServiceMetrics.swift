import Metrics
import ServiceRuntime

/// The order service's metrics, created once so the hot path only increments.
public struct OrderServiceMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: ServiceMetrics
    let ordersCreated: Counter
    let ordersRejectedQueueFull: Counter
    let orderCreationDuration: Timer
    let cacheHits: Counter
    let cacheMisses: Counter
    let cacheErrors: Counter
    let nearCacheHits: Counter
    let nearCacheMisses: Counter
    let storeErrors: Counter
    let outboxPending: Gauge
    let outboxOldestPendingSeconds: Gauge
    let outboxPublished: Counter
    let outboxPublishFailures: Counter
    let outboxUnroutable: Counter
    let outboxPurged: Counter
    let outboxParked: Counter
    let outboxParkedEvents: Gauge
    let idempotentCreated: Counter
    let idempotentReplays: Counter
    let idempotentConflicts: Counter
    let idempotencyKeysPurged: Counter

    /// Creates the metrics in `registry`.
    public init(registry: ServiceMetrics) {
        self.registry = registry
        self.ordersCreated = registry.counter("orders_created_total")
        self.ordersRejectedQueueFull = registry.counter("orders_rejected_total", [("reason", "queue_full")])
        self.orderCreationDuration = registry.timer("orders_created_duration_seconds")
        self.cacheHits = registry.counter("cache_requests_total", [("cache", "order"), ("result", "hit")])
        self.cacheMisses = registry.counter("cache_requests_total", [("cache", "order"), ("result", "miss")])
        self.cacheErrors = registry.counter("cache_requests_total", [("cache", "order"), ("result", "error")])
        self.nearCacheHits = registry.counter("cache_requests_total", [("cache", "order_near"), ("result", "hit")])
        self.nearCacheMisses = registry.counter("cache_requests_total", [("cache", "order_near"), ("result", "miss")])
        self.storeErrors = registry.counter("store_errors_total", [("store", "orders")])
        self.outboxPending = registry.gauge("outbox_pending_events")
        self.outboxOldestPendingSeconds = registry.gauge("outbox_oldest_pending_seconds")
        self.outboxPublished = registry.counter("outbox_events_published_total")
        self.outboxPublishFailures = registry.counter("outbox_publish_failures_total")
        self.outboxUnroutable = registry.counter("outbox_events_unroutable_total")
        self.outboxPurged = registry.counter("outbox_events_purged_total")
        self.outboxParked = registry.counter("outbox_events_parked_total")
        self.outboxParkedEvents = registry.gauge("outbox_parked_events")
        self.idempotentCreated = registry.counter("idempotent_requests_total", [("result", "created")])
        self.idempotentReplays = registry.counter("idempotent_requests_total", [("result", "replayed")])
        self.idempotentConflicts = registry.counter("idempotent_requests_total", [("result", "conflict")])
        self.idempotencyKeysPurged = registry.counter("idempotency_keys_purged_total")
    }
}
