/// Exponential backoff with jitter, for reconnecting and for pausing while a dependency is down: the one backoff
/// of the package (the protocol clients' reconnection, the consumers' and the relay's pauses).
///
/// The ceiling starts at ``initial`` and doubles with every attempt up to ``maximum``; each delay is drawn between
/// half the ceiling and the ceiling ("equal jitter"), so it is never zero and instances that failed together do
/// not retry in lockstep.
///
/// The delays run on `clock`: the continuous clock in production, a test clock in tests, which then decide when a
/// retry happens by advancing it instead of sleeping.
///
/// Thread-safety: a value type; each retry loop owns its own copy.
public struct Backoff<C: Clock<Duration>>: Sendable {
    /// The first delay's ceiling.
    public var initial: Duration
    /// The largest delay.
    public var maximum: Duration
    /// The clock the delays are slept on.
    public let clock: C
    private var attempt = 0

    /// Creates a backoff that starts at `initial` and doubles up to `maximum`, sleeping on `clock`.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), clock: C) {
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
    }

    /// The delay before the next attempt; each call doubles the ceiling.
    public mutating func nextDelay() -> Duration {
        let factor = 1 << min(self.attempt, 20)
        self.attempt += 1
        let ceiling = min(self.initial * factor, self.maximum)
        let ceilingNanos = ceiling.totalNanoseconds
        let jitter = Int64.random(in: 0...max(ceilingNanos / 2, 1))
        return .nanoseconds(ceilingNanos / 2 + jitter)
    }

    /// Starts again from `initial`, after a success.
    public mutating func reset() {
        self.attempt = 0
    }

    /// Sleeps on the clock for the next delay; returns false when the task was cancelled.
    public mutating func sleep() async -> Bool {
        do {
            try await self.clock.sleep(for: self.nextDelay())
            return true
        } catch {
            return false
        }
    }
}

extension Backoff where C == ContinuousClock {
    /// Creates a backoff on the continuous clock (production's) that starts at `initial` and doubles up to `maximum`.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.init(initial: initial, maximum: maximum, clock: ContinuousClock())
    }
}
