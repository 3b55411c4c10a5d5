import Synchronization

/// Group commit for new orders: concurrent `POST /orders` share one store transaction.
///
/// Each order waits in a queue; at most ``maximumWriters`` writers take everything queued (up to ``maximumBatch``)
/// and store it with ``OrderStore/create(batch:)``, one transaction, then answer every waiting request with the
/// outcome. While a batch commits, the next one gathers, so under load the cost of a transaction (round trips, the
/// log flush) is shared by many orders, and with a single request it is one transaction as before. A failed batch
/// fails each of its requests (503): the transaction held all of them or none.
public final class OrderGroupCommit: Sendable {
    private typealias Waiter = (entry: NewOrder, continuation: CheckedContinuation<Void, any Error>)

    private struct State {
        var pending: [Waiter] = []
        var writers = 0
    }

    private let store: any OrderStore
    /// Transactions in flight at once (several connections let the database group-commit them too).
    public let maximumWriters: Int
    /// Orders per transaction at most.
    public let maximumBatch: Int
    private let state = Mutex(State())

    /// Creates a group commit in front of `store`.
    public init(store: any OrderStore, maximumWriters: Int = 2, maximumBatch: Int = 128) {
        self.store = store
        self.maximumWriters = max(1, maximumWriters)
        self.maximumBatch = max(1, maximumBatch)
    }

    /// Stores `entry` (its order and outbox event) in a transaction shared with the orders queued meanwhile;
    /// returns once that transaction committed, throws what made it fail.
    public func create(_ entry: NewOrder) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startWriter = self.state.withLock { state in
                state.pending.append((entry, continuation))
                guard state.writers < self.maximumWriters else { return false }
                state.writers += 1
                return true
            }
            if startWriter {
                Task { await self.write() }
            }
        }
    }

    /// Writes batches until the queue is empty, then retires.
    private func write() async {
        while true {
            let batch: [Waiter] = self.state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.writers -= 1
                    return []
                }
                let count = min(self.maximumBatch, state.pending.count)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await self.store.create(batch: batch.map(\.entry))
                for waiter in batch { waiter.continuation.resume() }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
