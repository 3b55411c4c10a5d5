import Metrics
import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory

/// One service's metrics: its own Prometheus registry and the swift-metrics factory that writes into it.
///
/// Each service owns a registry instead of the process-global one, so `ordersystem all` serves three `/metrics`
/// endpoints that each show their own service, and tests never share counters.
///
/// Thread-safety: `Sendable`; the registry is internally locked.
public struct ServiceMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    /// The factory to pass to `Counter(label:dimensions:factory:)` and friends.
    public let factory: PrometheusMetricsFactory

    /// Creates an empty registry.
    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Latency buckets from 0.5 ms to 10 s: fine enough for a cache hit, wide enough for an outage.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.registry = registry
        self.factory = factory
    }

    /// A counter in this registry.
    public func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        Counter(label: label, dimensions: dimensions, factory: self.factory)
    }

    /// A gauge (a recorder that keeps the last value) in this registry.
    public func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Gauge {
        Gauge(label: label, dimensions: dimensions, factory: self.factory)
    }

    /// A timer (a histogram of durations, exported in seconds) in this registry.
    public func timer(_ label: String, _ dimensions: [(String, String)] = []) -> Timer {
        Timer(label: label, dimensions: dimensions, factory: self.factory)
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> [UInt8] {
        self.registry.emitToBuffer()
    }
}
