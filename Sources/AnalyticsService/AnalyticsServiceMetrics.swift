import Metrics
import ServiceRuntime

/// The analytics service's metrics.
public struct AnalyticsServiceMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: ServiceMetrics
    let eventsApplied: Counter
    let eventsDuplicate: Counter
    let eventsDeadLettered: Counter
    /// Dead letters of deliveries over `AMQP_MAX_BODY`, never decoded (the same metric, `reason="body_too_large"`).
    let eventsBodyTooLarge: Counter
    let batchDuration: Timer
    /// Store failures that pause consumption (connection lost, deadlock, timeout, ...).
    let storeOutages: Counter
    /// Store refusals of an event's data, each ending with that event dead-lettered.
    let storeDataErrors: Counter
    let brokerErrors: Counter
    let consumerPaused: Gauge
    let cacheHits: Counter
    let cacheMisses: Counter
    let cacheErrors: Counter

    /// Creates the metrics in `registry`.
    public init(registry: ServiceMetrics, queue: String) {
        self.registry = registry
        self.eventsApplied = registry.counter("events_applied_total")
        self.eventsDuplicate = registry.counter("events_duplicate_total")
        self.eventsDeadLettered = registry.counter("events_dead_lettered_total", [("queue", queue)])
        self.eventsBodyTooLarge = registry.counter(
            "events_dead_lettered_total", [("queue", queue), ("reason", "body_too_large")])
        self.batchDuration = registry.timer("events_batch_apply_duration_seconds")
        self.storeOutages = registry.counter("store_errors_total", [("store", "analytics"), ("kind", "outage")])
        self.storeDataErrors = registry.counter("store_errors_total", [("store", "analytics"), ("kind", "data")])
        self.brokerErrors = registry.counter("broker_errors_total")
        self.consumerPaused = registry.gauge("consumer_paused", [("queue", queue)])
        self.cacheHits = registry.counter("cache_requests_total", [("cache", "summary"), ("result", "hit")])
        self.cacheMisses = registry.counter("cache_requests_total", [("cache", "summary"), ("result", "miss")])
        self.cacheErrors = registry.counter("cache_requests_total", [("cache", "summary"), ("result", "error")])
    }
}
