import Synchronization

/// Wakes one waiting task, coalescing signals that arrive while nobody waits.
///
/// The outbox relay waits on this: every new order signals it, so the relay runs as soon as there is work
/// and a burst of a thousand orders costs one wake-up, not a thousand.
///
/// Thread-safety: `Sendable`; `signal()` may be called from anywhere, `wait` by one task at a time.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Creates a signal with nothing pending.
    public init() {}

    /// Wakes the waiter, or leaves a pending wake-up for the next `wait`.
    public func signal() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled, when `timeout` has passed on `clock`, or when the task is cancelled.
    ///
    /// The clock belongs to the waiter, not to the signal (whoever signals never needs one): production waits on the
    /// continuous clock, tests pass a test clock and advance it to make the timeout pass.
    public func wait(timeout: Duration, clock: some Clock<Duration> = ContinuousClock()) async {
        let pending = self.state.withLock { state -> Bool in
            defer { state.pending = false }
            return state.pending
        }
        if pending { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await clock.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns when signalled or when the task is cancelled; no timer, so it costs no more than a continuation.
    public func wait() async {
        await self.waitForSignal()
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
