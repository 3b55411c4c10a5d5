import Synchronization
import _ConnectionPoolModule

/// A few pooled connections that ``RedisClient`` keeps leased and shares between all concurrent callers of plain
/// commands and pipelines (automatic pipelining).
///
/// A ``RedisConnection`` matches replies to commands in order and batches everything submitted while its event
/// loop is busy into one write, so many callers on one connection cost one system call per batch each way instead
/// of one per command, and no lease per command. Getting a connection is a lock and a check; when a slot has none
/// (at start, after its connection broke, while the server is down) it returns `nil` and asks ``run()`` to lease
/// one, and the caller leases a connection of its own meanwhile, with the usual timeout and errors.
///
/// The leases for the slots run in ``run()``, a child task of ``RedisClient/run()``: a refill never outlives the
/// client, and one asked for before the client runs waits for it.
///
/// The connections come from the pool, so they are authenticated, selected, created with backoff and closed at
/// shutdown like any other; a slot gives its lease back when the connection closes (broken, timed out, shut down).
///
/// The pause after a failed lease runs on `clock` (the continuous clock in production).
///
/// Thread safety: `Sendable`.
final class RedisSharedConnections<C: Clock<Duration>>: Sendable {
    private enum State {
        /// No connection; lease one when asked, but not before `retryAfter` (after a failed lease).
        case idle(retryAfter: C.Instant?)
        case leasing
        case ready(RedisConnection)
        case shutDown
    }

    private final class Slot: Sendable {
        let state = Mutex(State.idle(retryAfter: nil))
    }

    /// How long a slot waits after a failed lease before trying again (the pool backs off connecting by itself; this
    /// only keeps a failing pool from being asked once per command).
    static var retryDelay: Duration { .milliseconds(100) }

    private let slots: [Slot]
    private let clock: C
    private let next = Atomic<UInt>(0)
    private let lease: @Sendable () async throws(RedisError) -> ConnectionLease<RedisConnection>
    /// Slots that need a connection, for ``run()``; a slot asks once per refill (it is `.leasing` until served).
    private let refills: AsyncStream<Slot>
    private let refillRequests: AsyncStream<Slot>.Continuation

    /// - Parameters:
    ///   - count: how many connections to share (0: none, every command leases its own).
    ///   - clock: what `retryDelay` is measured on.
    ///   - lease: leases a connection from the pool, bounded by the command timeout.
    init(
        count: Int, clock: C,
        lease: @escaping @Sendable () async throws(RedisError) -> ConnectionLease<RedisConnection>
    ) {
        self.slots = (0..<max(0, count)).map { _ in Slot() }
        self.clock = clock
        self.lease = lease
        (self.refills, self.refillRequests) = AsyncStream.makeStream()
    }

    /// Leases a connection for every slot that asks, each lease in a child task (a slow lease does not hold up the
    /// others), until the task is cancelled; then waits for the leases in flight, which the cancellation ends.
    /// Runs once, as a child of ``RedisClient/run()``.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await slot in self.refills {
                group.addTask { await self.refill(slot) }
            }
        }
    }

    /// A shared connection that is open, taking turns between the slots; `nil` when none is ready (starting to
    /// lease for each slot that has none).
    func connection() -> RedisConnection? {
        let count = self.slots.count
        guard count > 0 else { return nil }
        let first = Int(self.next.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(count))
        for offset in 0..<count {
            let slot = self.slots[(first + offset) % count]
            let now = self.clock.now
            let (connection, refill) = slot.state.withLock { state -> (RedisConnection?, Bool) in
                switch state {
                case .ready(let connection):
                    if !connection.isClosed { return (connection, false) }
                    // Closed, and its close callback has not run yet: it will release the lease.
                    state = .leasing
                    return (nil, true)
                case .idle(let retryAfter):
                    if let retryAfter, now < retryAfter { return (nil, false) }
                    state = .leasing
                    return (nil, true)
                case .leasing, .shutDown:
                    return (nil, false)
                }
            }
            if refill { self.refillRequests.yield(slot) }
            if let connection { return connection }
        }
        return nil
    }

    /// How many slots have an open connection (for tests and diagnostics).
    var readyCount: Int {
        self.slots.reduce(0) { count, slot in
            count + slot.state.withLock { state in
                if case .ready(let connection) = state, !connection.isClosed { return 1 }
                return 0
            }
        }
    }

    /// Stops sharing: closes the shared connections and never leases again.
    func shutdown() {
        self.refillRequests.finish()
        for slot in self.slots {
            let connection = slot.state.withLock { state -> RedisConnection? in
                defer { state = .shutDown }
                if case .ready(let connection) = state { return connection }
                return nil
            }
            connection?.close()
        }
    }

    /// Leases a connection for `slot` and installs it, unless the slot was shut down meanwhile.
    private func refill(_ slot: Slot) async {
        let leased: ConnectionLease<RedisConnection>
        do throws(RedisError) {
            leased = try await self.lease()
        } catch {
            slot.state.withLock { state in
                guard case .leasing = state else { return }
                state = error.code == .poolShutdown
                    ? .shutDown : .idle(retryAfter: self.clock.now.advanced(by: Self.retryDelay))
            }
            return
        }
        let connection = leased.connection
        let installed = slot.state.withLock { state in
            guard case .leasing = state else { return false }
            state = .ready(connection)
            return true
        }
        guard installed else {
            leased.release()
            return
        }
        // Exactly one release per lease: when the connection closes, for whatever reason.
        connection.onClose { _ in
            slot.state.withLock { state in
                if case .ready(let current) = state, current === connection { state = .idle(retryAfter: nil) }
            }
            leased.release()
        }
    }
}
