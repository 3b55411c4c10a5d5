import Synchronization

/// The operation did not finish within its deadline.
public struct DeadlineExceededError: Error, CustomStringConvertible {
    /// The deadline that passed.
    public var timeout: Duration
    /// Creates the error.
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "no answer within \(DurationParser.format(self.timeout))" }
}

/// Runs `operation` and returns its result, or throws ``DeadlineExceededError`` once `timeout` has passed.
///
/// Unlike a task-group race, this returns at the deadline even when the operation ignores cancellation (a read on a
/// socket whose peer is paused): the operation is cancelled and left to finish on its own. Use it where a stuck
/// dependency must not stall the caller, such as health probes and cache calls.
public func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    let work = Task<Void, Never> {
        do {
            race.finish(.success(try await operation()))
        } catch {
            race.finish(.failure(error))
        }
    }
    let timer = Task<Void, Never> {
        try? await Task.sleep(for: timeout)
        if !Task.isCancelled {
            race.finish(.failure(DeadlineExceededError(timeout: timeout)))
            work.cancel()
        }
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.wait(continuation)
        }
    } onCancel: {
        work.cancel()
    }
}

/// The first result wins; it may arrive before or after the waiter.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }

    private let state = Mutex(State())

    func finish(_ result: Result<T, any Error>) {
        let waiter = self.state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready = self.state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.waiter = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }
}
