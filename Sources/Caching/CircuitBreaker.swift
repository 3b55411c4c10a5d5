import Synchronization

/// What ``CircuitBreakingCache`` asks its breaker: may a call go through, and how did it go.
///
/// An existential over the breaker rather than a generic cache: the cache keeps a plain name
/// (`CircuitBreakingCache.Configuration` needs no clock type), while the breaker reads a real clock instant.
protocol CircuitBreaking: Sendable {
    /// The state, for ``CircuitBreakingCache/circuit``.
    var circuit: CircuitBreakingCache.Circuit { get }
    /// `nil` when a call may go through (moving an open circuit whose cool-down is over to probing), else the last
    /// failure, to refuse the call with.
    func admit() -> String?
    /// Records a success; returns whether it closed a circuit that was not closed.
    func recordSuccess() -> Bool
    /// Records a failure; returns whether it opened a closed circuit (a failed probe opens it again silently).
    func recordFailure(reason: String) -> Bool
}

/// The breaker's state, with the cool-down timed on `clock` (the continuous clock in production, a test clock in
/// tests, which then open and close the circuit by advancing it instead of sleeping).
///
/// Thread-safety: `Sendable`; the state is behind a `Mutex`.
final class CircuitBreaker<C: Clock<Duration>>: CircuitBreaking {
    private enum Circuit {
        case closed
        case open(until: C.Instant)
        case probing
    }

    private struct State {
        var circuit = Circuit.closed
        var consecutiveFailures = 0
        var lastFailure = ""
    }

    private let clock: C
    private let failureThreshold: Int
    private let coolDown: Duration
    private let state = Mutex(State())

    init(failureThreshold: Int, coolDown: Duration, clock: C) {
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
        self.clock = clock
    }

    var circuit: CircuitBreakingCache.Circuit {
        let now = self.clock.now
        return self.state.withLock { state in
            switch state.circuit {
            case .closed: .closed
            case .open(let until): .open(remaining: max(.zero, now.duration(to: until)))
            case .probing: .probing
            }
        }
    }

    func admit() -> String? {
        let now = self.clock.now
        return self.state.withLock { state -> String? in
            switch state.circuit {
            case .closed:
                return nil
            case .open(let until) where now >= until:
                state.circuit = .probing
                return nil
            case .open, .probing:
                return state.lastFailure
            }
        }
    }

    func recordSuccess() -> Bool {
        self.state.withLock { state -> Bool in
            defer {
                state.circuit = .closed
                state.consecutiveFailures = 0
            }
            if case .closed = state.circuit { return false }
            return true
        }
    }

    func recordFailure(reason: String) -> Bool {
        let now = self.clock.now
        return self.state.withLock { state -> Bool in
            state.consecutiveFailures += 1
            state.lastFailure = reason
            switch state.circuit {
            case .probing:
                state.circuit = .open(until: now.advanced(by: self.coolDown))
                return false
            case .closed where state.consecutiveFailures >= self.failureThreshold:
                state.circuit = .open(until: now.advanced(by: self.coolDown))
                return true
            default:
                return false
            }
        }
    }
}
