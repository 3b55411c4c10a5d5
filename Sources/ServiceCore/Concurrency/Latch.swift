import Synchronization

/// A gate that opens once and stays open: every task waiting on it, however many, resumes when it opens, and later
/// waits return at once.
///
/// A stop request is one: the consumer loop, its watcher and a handler pausing for a dependency may all wait for the
/// same stop. (``WakeSignal`` is the other kind: one waiter, and each signal is consumed by one wait.)
///
/// Thread-safety: `Sendable`; `open()` and the waits may be called from any task.
public final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates a closed latch.
    public init() {}

    /// Whether ``open()`` has been called.
    public var isOpen: Bool { self.state.withLock { $0.isOpen } }

    /// Opens the latch and resumes every waiter. Idempotent.
    public func open() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the latch is open, or when the calling task is cancelled; `true` when it is open.
    @discardableResult
    public func wait() async -> Bool {
        let id = self.state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the lock the cancellation handler takes: either it finds this waiter, or this
                // check sees the cancellation.
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.isOpen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
        return self.isOpen
    }

    /// Returns once the latch is open, when `timeout` has passed, or when the calling task is cancelled, whichever
    /// comes first; `true` when it is open.
    @discardableResult
    public func wait(timeout: Duration) async -> Bool {
        if self.isOpen { return true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return self.isOpen
    }
}
