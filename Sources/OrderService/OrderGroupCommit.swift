import ServiceLifecycle
import Synchronization

/// Group commit for new orders: concurrent `POST /orders` share one store transaction.
///
/// Each order waits in a queue; ``maximumWriters`` writers take everything queued (up to ``maximumBatch``) and store
/// it with ``OrderStore/create(batch:)``, one transaction, then answer every waiting request with the outcome. While
/// a batch commits, the next one gathers, so under load the cost of a transaction (round trips, the log flush) is
/// shared by many orders, and with a single request it is one transaction as before. A failed batch fails each of
/// its requests (503): the transaction held all of them or none.
///
/// The writers are children of ``run()``, a service of the order service's application: they live as long as it
/// runs and no longer. Orders queued before it starts wait for it; on graceful shutdown (after the HTTP server has
/// stopped taking requests) the writers store what is queued, then return, and a later ``create(_:)`` fails with
/// ``OrderGroupCommitStopped``.
///
/// The queue is bounded (``maximumQueued``, `ORDER_QUEUE_LIMIT`): when the database falls behind, an order beyond it
/// fails at once with ``OrderGroupCommitFull`` (the route answers 503 with `Retry-After`) instead of waiting in
/// memory without end.
public final class OrderGroupCommit: Service, Sendable {
    private typealias Waiter = (entry: NewOrder, continuation: CheckedContinuation<Void, any Error>)

    private enum Phase {
        case running
        /// No new writer parks; each stores what is queued, then returns.
        case draining
        /// Every writer has returned.
        case stopped
    }

    private struct State {
        var pending: [Waiter] = []
        /// Writers with nothing to do, waiting to be woken by an order.
        var idle: [CheckedContinuation<Void, Never>] = []
        var phase = Phase.running
        var writersRunning = 0
    }

    private let store: any OrderStore
    /// Transactions in flight at once (several connections let the database group-commit them too).
    public let maximumWriters: Int
    /// Orders per transaction at most.
    public let maximumBatch: Int
    /// Orders waiting for a writer at most; one more fails with ``OrderGroupCommitFull``.
    public let maximumQueued: Int
    private let state = Mutex(State())

    /// The default bound of the queue (`ORDER_QUEUE_LIMIT`): eight full batches, about a second of orders at this
    /// machine's rate, a few hundred kilobytes.
    public static let defaultMaximumQueued = 1024

    /// Creates a group commit in front of `store`; it writes once ``run()`` runs.
    public init(
        store: any OrderStore, maximumWriters: Int = 2, maximumBatch: Int = 128,
        maximumQueued: Int = OrderGroupCommit.defaultMaximumQueued
    ) {
        self.store = store
        self.maximumWriters = max(1, maximumWriters)
        self.maximumBatch = max(1, maximumBatch)
        self.maximumQueued = max(1, maximumQueued)
    }

    /// Stores `entry` (its order and outbox event) in a transaction shared with the orders queued meanwhile;
    /// returns once that transaction committed, throws what made it fail: ``OrderGroupCommitFull`` at once when
    /// ``maximumQueued`` orders are already waiting.
    public func create(_ entry: NewOrder) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = self.state.withLock { state -> Result<CheckedContinuation<Void, Never>?, any Error> in
                guard state.phase != .stopped else { return .failure(OrderGroupCommitStopped()) }
                guard state.pending.count < self.maximumQueued else {
                    return .failure(OrderGroupCommitFull(limit: self.maximumQueued))
                }
                state.pending.append((entry, continuation))
                return .success(state.idle.popLast())
            }
            switch outcome {
            case .success(let writer): writer?.resume()
            case .failure(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// Orders waiting for a writer (for tests and diagnostics).
    public var queuedCount: Int { self.state.withLock { $0.pending.count } }

    /// Runs the writers until graceful shutdown or cancellation, then lets them store what is queued.
    public func run() async {
        self.state.withLock { $0.writersRunning = self.maximumWriters }
        await withDiscardingTaskGroup { group in
            for _ in 0..<self.maximumWriters {
                group.addTask { await self.write() }
            }
            // Returns at graceful shutdown, or throws at cancellation: either way the writers drain and stop.
            try? await gracefulShutdown()
            let idle = self.state.withLock { state in
                state.phase = .draining
                defer { state.idle.removeAll() }
                return state.idle
            }
            for writer in idle { writer.resume() }
        }
    }

    /// Writes batches; parks while the queue is empty, returns once draining and empty.
    private func write() async {
        while true {
            let batch = await self.nextBatch()
            guard !batch.isEmpty else { return }
            do {
                try await self.store.create(batch: batch.map(\.entry))
                for waiter in batch { waiter.continuation.resume() }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }

    /// The next batch, waiting for one while running; empty when this writer should return.
    private func nextBatch() async -> [Waiter] {
        while true {
            enum Next { case batch([Waiter]), park, stop }
            let taken = self.state.withLock { state -> Next in
                if !state.pending.isEmpty {
                    let count = min(self.maximumBatch, state.pending.count)
                    defer { state.pending.removeFirst(count) }
                    return .batch(Array(state.pending.prefix(count)))
                }
                guard state.phase == .running else {
                    state.writersRunning -= 1
                    if state.writersRunning == 0 { state.phase = .stopped }
                    return .stop
                }
                return .park
            }
            switch taken {
            case .batch(let batch): return batch
            case .stop: return []
            case .park:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    // Parks unless an order or the drain came in since the check above.
                    let resumeNow = self.state.withLock { state in
                        guard state.pending.isEmpty && state.phase == .running else { return true }
                        state.idle.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }
}

/// The group commit has stopped (the service is shutting down): the order was not stored.
public struct OrderGroupCommitStopped: Error, CustomStringConvertible {
    public var description: String { "the order service is shutting down" }
}

/// ``OrderGroupCommit/maximumQueued`` orders are already waiting for the database: the order was not stored.
public struct OrderGroupCommitFull: Error, CustomStringConvertible {
    /// The bound that was reached.
    public let limit: Int
    public var description: String { "\(self.limit) orders are already waiting to be stored" }
}
