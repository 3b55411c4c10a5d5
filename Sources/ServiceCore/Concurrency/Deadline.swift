/// The operation did not finish within its deadline.
public struct DeadlineExceededError: Error, CustomStringConvertible {
    /// The deadline that passed.
    public var timeout: Duration
    /// Creates the error.
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "no answer within \(DurationParser.format(self.timeout))" }
}

/// Runs `operation` and returns its result, or throws ``DeadlineExceededError`` once `timeout` has passed on `clock`.
///
/// The operation and a timer race as two children of a task group; the first to finish wins and the other is
/// cancelled and awaited, so nothing outlives the call. At the deadline the operation is cancelled, and the call
/// returns as soon as the operation notices: every operation used here (health probes, cache calls) must honour
/// cancellation. Our clients do, also on a socket whose peer is paused: a cancelled Redis command returns at once
/// and its late reply is discarded, a cancelled MySQL statement closes its connection. An operation that ignored
/// cancellation would hold the caller until it finished on its own; its result is then discarded and the deadline
/// error thrown all the same.
public func withDeadline<T: Sendable, C: Clock<Duration>>(
    _ timeout: Duration,
    clock: C = ContinuousClock(),
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await clock.sleep(for: timeout)
            throw DeadlineExceededError(timeout: timeout)
        }
        // Cancels the loser, which the group then awaits before returning.
        defer { group.cancelAll() }
        guard let first = try await group.next() else {
            // Unreachable: the group holds two tasks.
            throw DeadlineExceededError(timeout: timeout)
        }
        return first
    }
}
