/// Exponential backoff with full jitter, for reconnecting and for pausing while a dependency is down.
///
/// Thread-safety: a value type; each retry loop owns its own copy.
public struct Backoff: Sendable {
    /// The first delay.
    public var initial: Duration
    /// The largest delay.
    public var maximum: Duration
    private var attempt = 0

    /// Creates a backoff that starts at `initial` and doubles up to `maximum`.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt; each call doubles the ceiling.
    public mutating func nextDelay() -> Duration {
        let factor = 1 << min(self.attempt, 20)
        self.attempt += 1
        let ceiling = min(self.initial * factor, self.maximum)
        // Half fixed, half jitter: never zero, and instances that failed together do not retry in lockstep.
        let ceilingNanos = ceiling.totalNanoseconds
        let jitter = Int64.random(in: 0...max(ceilingNanos / 2, 1))
        return .nanoseconds(ceilingNanos / 2 + jitter)
    }

    /// Starts again from `initial`, after a success.
    public mutating func reset() {
        self.attempt = 0
    }

    /// Sleeps for the next delay; returns false when the task was cancelled.
    public mutating func sleep() async -> Bool {
        do {
            try await Task.sleep(for: self.nextDelay())
            return true
        } catch {
            return false
        }
    }
}
