import Synchronization

/// A fair (FIFO) mutual-exclusion lock for async code.
///
/// Actors are re-entrant at every `await`, so they cannot keep a multi-statement database transaction
/// exclusive; this lock can. Waiters are not cancellable: a transaction that is queued runs.
///
/// Thread-safety: `Sendable`; any task may lock and unlock.
public final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Creates an unlocked lock.
    public init() {}

    /// Runs `body` while holding the lock.
    public func withLock<T>(_ body: () async throws -> T) async rethrows -> T {
        await self.lock()
        defer { self.unlock() }
        return try await body()
    }

    private func lock() async {
        let acquired = self.state.withLock { state -> Bool in
            guard !state.locked else { return false }
            state.locked = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquiredNow = self.state.withLock { state -> Bool in
                guard state.locked else {
                    state.locked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquiredNow { continuation.resume() }
        }
    }

    private func unlock() {
        // Ownership passes straight to the next waiter, so no newcomer can overtake it.
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
