import Synchronization

/// Where one caller of a ``RedisConnection`` waits for its reply: resumed exactly once, either by the reply (or the
/// connection's failure) from the event loop, or by the caller's task being cancelled, whichever comes first.
///
/// A cancelled caller returns at once with ``RedisError/Code/cancelled``, even when the server (or a paused peer)
/// never answers. Its command keeps its place in the connection's queue and its reply, when it comes, completes
/// nobody: the replies of the other callers stay matched in order, so a shared connection stays usable. A command
/// cancelled before its write is not sent at all.
///
/// Thread-safety: `Sendable`; the event loop and the cancelling task race through one lock.
final class RedisReplyWaiter<Value: Sendable>: Sendable {
    private enum State {
        /// Created; the caller has not suspended yet.
        case idle
        case waiting(UnsafeContinuation<Value, any Error>)
        /// Abandoned by its caller: whatever comes later is dropped.
        case cancelled
        case done
    }

    private let state = Mutex(State.idle)

    init() {}

    static var cancellationError: RedisError {
        RedisError(code: .cancelled, message: "the command was cancelled")
    }

    /// Records the suspended caller; returns `false` (after resuming it with the cancellation) when the task was
    /// cancelled first, in which case the command must not be sent.
    func start(_ continuation: UnsafeContinuation<Value, any Error>) -> Bool {
        let cancelled = self.state.withLock { state -> Bool in
            guard case .idle = state else { return true }
            state = .waiting(continuation)
            return false
        }
        if cancelled { continuation.resume(throwing: Self.cancellationError) }
        return !cancelled
    }

    /// The caller's task was cancelled: it returns now, with ``RedisError/Code/cancelled``.
    func cancel() {
        let continuation = self.state.withLock { state -> UnsafeContinuation<Value, any Error>? in
            switch state {
            case .idle:
                state = .cancelled
                return nil
            case .waiting(let continuation):
                state = .cancelled
                return continuation
            case .cancelled, .done:
                return nil
            }
        }
        continuation?.resume(throwing: Self.cancellationError)
    }

    /// Completes the caller, unless it is gone (cancelled), in which case `result` is dropped.
    func resume(with result: Result<Value, any Error>) {
        let continuation = self.state.withLock { state -> UnsafeContinuation<Value, any Error>? in
            guard case .waiting(let continuation) = state else { return nil }
            state = .done
            return continuation
        }
        continuation?.resume(with: result)
    }

    /// Whether the caller has gone: its command need not be written.
    var isCancelled: Bool {
        self.state.withLock { state in
            if case .cancelled = state { return true }
            return false
        }
    }
}
