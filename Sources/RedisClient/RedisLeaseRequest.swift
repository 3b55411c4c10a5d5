import NIOCore
import Synchronization
import _ConnectionPoolModule

/// A request for a pooled connection that can also be ended from outside: by its timeout (one NIO scheduled task,
/// not a task group with a sleeping child task per lease) or by the caller's cancellation. Whichever comes first
/// wins; a lease the pool hands over after that is given straight back.
///
/// Thread safety: `Sendable`; the pool, the timer and the cancellation handler may race, the lock decides.
final class RedisLeaseRequest: ConnectionRequestProtocol, Sendable {
    typealias Connection = RedisConnection

    private enum State {
        case created
        case waiting(UnsafeContinuation<ConnectionLease<RedisConnection>, any Error>, timer: Scheduled<Void>?)
        /// Ended from outside before the continuation was installed: it is resumed with this error at once.
        case failedEarly(RedisError)
        case finished
    }

    private static let ids = Atomic<Int>(0)

    /// Unique within the process, as the pool requires.
    let id: Int
    private let state = Mutex(State.created)

    init() {
        self.id = Self.ids.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Installs the continuation; returns `false` (having resumed it with the error) when the request was already
    /// ended, e.g. cancelled before it started.
    func start(_ continuation: UnsafeContinuation<ConnectionLease<RedisConnection>, any Error>) -> Bool {
        let earlyError: RedisError? = self.state.withLock { state in
            switch state {
            case .created:
                state = .waiting(continuation, timer: nil)
                return nil
            case .failedEarly(let error):
                state = .finished
                return error
            case .waiting, .finished:
                preconditionFailure("a lease request was started twice")
            }
        }
        guard let earlyError else { return true }
        continuation.resume(throwing: earlyError)
        return false
    }

    /// Attaches the timeout timer so that an answer from the pool cancels it; cancels it at once when the request
    /// has already ended.
    func setTimer(_ timer: Scheduled<Void>) {
        let attached = self.state.withLock { state in
            guard case .waiting(let continuation, nil) = state else { return false }
            state = .waiting(continuation, timer: timer)
            return true
        }
        if !attached { timer.cancel() }
    }

    /// Called by the pool with a connection or an error.
    func complete(with result: Result<ConnectionLease<RedisConnection>, ConnectionPoolError>) {
        guard let (continuation, timer) = self.finish() else {
            // The request timed out or was cancelled first: nobody wants this connection.
            if case .success(let lease) = result { lease.release() }
            return
        }
        timer?.cancel()
        continuation.resume(with: result.mapError { $0 })
    }

    /// Ends the request with `error` (timeout, cancellation); returns `true` when this ended it, in which case the
    /// caller should withdraw it from the pool.
    @discardableResult
    func fail(_ error: RedisError) -> Bool {
        let waiting: (UnsafeContinuation<ConnectionLease<RedisConnection>, any Error>, Scheduled<Void>?)?? =
            self.state.withLock { state in
                switch state {
                case .created:
                    state = .failedEarly(error)
                    return .some(nil)
                case .waiting(let continuation, let timer):
                    state = .finished
                    return .some((continuation, timer))
                case .failedEarly, .finished:
                    return nil
                }
            }
        guard let waiting else { return false }
        if let (continuation, timer) = waiting {
            timer?.cancel()
            continuation.resume(throwing: error)
        }
        return true
    }

    private func finish() -> (UnsafeContinuation<ConnectionLease<RedisConnection>, any Error>, Scheduled<Void>?)? {
        self.state.withLock { state in
            guard case .waiting(let continuation, let timer) = state else { return nil }
            state = .finished
            return (continuation, timer)
        }
    }
}
