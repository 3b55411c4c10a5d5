import Metrics
import Synchronization

/// Counts a listener's open connections and says whether one more may open (`HTTP_MAX_CONNECTIONS`).
///
/// Shared by every event loop of the listener, so the count is atomic. A connection refused here is still
/// accepted, answered and closed by ``ConnectionRefusalHandler``: a client learns at once that the server is
/// full, instead of waiting in the kernel's accept queue for a slot that may never come.
final class ConnectionGate: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)
    private let openGauge: Gauge
    private let refused: Counter

    init(limit: Int, listener: String, metrics: ServiceMetrics) {
        self.limit = limit
        self.openGauge = metrics.gauge("http_connections_open", [("listener", listener)])
        self.refused = metrics.counter("http_connections_refused_total", [("listener", listener)])
        self.openGauge.record(0)
    }

    /// Takes a slot, or counts a refusal and returns false when all ``limit`` are taken.
    func enter() -> Bool {
        var current = self.open.load(ordering: .relaxed)
        while current < self.limit {
            let (exchanged, original) = self.open.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed
            )
            if exchanged {
                self.openGauge.record(current + 1)
                return true
            }
            current = original
        }
        self.refused.increment()
        return false
    }

    /// Gives back the slot of a connection that has closed.
    func leave() {
        let now = self.open.subtract(1, ordering: .relaxed).newValue
        self.openGauge.record(now)
    }

    /// Connections open now.
    var count: Int { self.open.load(ordering: .relaxed) }
}
