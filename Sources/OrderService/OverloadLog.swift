import Logging
import Synchronization

/// The log line for orders refused because the group-commit queue was full: at most one every ten seconds, with how
/// many were refused since the last one, so a burst of 503s is visible without a line per request.
final class OverloadLog: Sendable {
    private struct State {
        var refused = 0
        var lastLine: ContinuousClock.Instant?
    }

    private static let interval: Duration = .seconds(10)
    private let state = Mutex(State())

    func note(_ full: OrderGroupCommitFull, logger: Logger) {
        let now = ContinuousClock.now
        let refused = self.state.withLock { state -> Int? in
            state.refused += 1
            if let last = state.lastLine, now - last < Self.interval { return nil }
            state.lastLine = now
            defer { state.refused = 0 }
            return state.refused
        }
        guard let refused else { return }
        logger.warning(
            "orders refused with 503: the database is not keeping up",
            metadata: ["queue_limit": "\(full.limit)", "refused": "\(refused)", "setting": "ORDER_QUEUE_LIMIT"])
    }
}
