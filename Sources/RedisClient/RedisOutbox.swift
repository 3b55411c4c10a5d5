import Synchronization

/// Requests handed over from any thread to a connection's event loop, so that everything submitted while the loop
/// is busy goes out in one write and one flush.
///
/// ``submit(_:)`` appends under a lock and tells the caller to schedule a drain only when the queue goes from
/// empty to non-empty: many concurrent callers cost one event-loop task and one `write` system call per batch
/// instead of one each. The event loop takes the whole batch with ``takeAll(swappingWith:)``.
///
/// Thread safety: `Sendable`; any thread may submit.
final class RedisOutbox: Sendable {
    private struct State {
        var requests: [RedisRequest] = []
        /// A drain is scheduled (or running) and has not yet taken the queue.
        var drainScheduled = false
    }

    private let state = Mutex(State())

    init() {}

    /// Queues `request`; returns `true` when the caller must schedule a drain on the event loop.
    func submit(_ request: RedisRequest) -> Bool {
        self.state.withLock { state in
            state.requests.append(request)
            if state.drainScheduled { return false }
            state.drainScheduled = true
            return true
        }
    }

    /// Takes every queued request by swapping the queue with `spare` (an empty array whose capacity is reused, so a
    /// steady stream of batches allocates nothing). Requests submitted after this schedule a new drain.
    func takeAll(swappingWith spare: inout [RedisRequest]) {
        self.state.withLock { state in
            swap(&state.requests, &spare)
            state.drainScheduled = false
        }
    }
}
