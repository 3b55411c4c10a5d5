// The embedded broker: RabbitMQ's semantics, in process, persisted in the service's SQLite file.
//
// Design
// - Every routed copy of a message is one row of `broker_messages`; `queue` says where the row is now (its main
//   queue, a retry queue `<q>.retry.<n>` or the dead-letter queue `<q>.dlq`), `home_queue` the main queue it
//   belongs to. `publish` inserts all rows of a batch in one transaction and confirms only after the commit:
//   that is the publisher confirm. Ack deletes rows, retry and dead-letter update them; nothing else writes.
// - Memory mirrors the rows of main and retry queues: a ready list per main queue (FIFO; requeue puts back at the
//   head), the delayed retries, and each consumer's unsettled deliveries. A ready list holds `readyWindow` messages
//   at most: past it, a publish decides before writing that its copy waits on disk (`paged = 1`); once consumers
//   have taken half the window, the oldest paged rows are read back (and unmarked) in one statement. A row is in
//   memory exactly when it is not paged, so nothing is read twice, also after a restart. Dead-lettered rows live only in the
//   database. One `Mutex` guards that state (`EmbeddedBrokerState`, a pure state machine); it is never held
//   across an await, and continuations are resumed after it is released.
// - A scheduler moves retried rows back to their main queue (row updated first, then the message is appended to
//   the ready list) when their `available_at` passes; a `WakeSignal` tells it about new retries. It runs in the
//   broker's `run()` (the broker is a Service), so the service group that runs the broker owns it.
//
// What survives a crash of the process
// - Every confirmed message that was not acked or dead-lettered is still a row: after `open`, rows of main
//   queues are ready again, marked redelivered (they may have been handed out before the crash); rows of retry
//   queues come back when their delay elapses (at once when it already has); dead-lettered rows stay in the dlq.
//   Delivery is at least once: an ack that had not committed delivers its message again. Against power loss
//   too only with the database's `.full` durability (`.normal` leaves the last commits in the OS page cache).
// - The ready order after a restart is by `available_at` (when the row became ready), then id: publish order,
//   with returned retries at the tail, as before the crash; requeues to the head are not recorded.
// - Rows of queues that no topology has declared yet stay parked in memory after `open` and join their queue
//   when it is declared, so services may open the broker first and declare later.
//
// The redelivered flag is true after a requeue (explicit, or by `close`) and for every main-queue message loaded
// at open; a message returning from a retry queue arrives as new (redelivered false, `x-retry-count` one higher),
// as one re-routed by RabbitMQ's dead-letter exchange does.
//
// Delivery tags come from a counter of the broker, not from row ids: every hand-out gets a new tag, so a stale
// settle of an earlier delivery of the same message (before a requeue) is refused instead of settling the new one.
import Logging
import Messaging
import SQLiteNIO
import SQLiteStorage
import ServiceCore
import ServiceLifecycle
import Synchronization
import Timing

/// An in-process ``MessageBroker`` with the semantics of the RabbitMQ adapter, persisted in a SQLite file so that a
/// crash of the process loses no confirmed message.
///
/// Topology: `declare` is additive, as in RabbitMQ. The main exchange is a topic exchange routing by
/// ``TopicPattern``; the dead-letter exchange is a direct exchange whose routing keys are the queue names (`q`,
/// `q.retry.n`, `q.dlq`). A message that matches no binding, or is published to an undeclared exchange, is
/// `.unroutable` and not stored (RabbitMQ's `mandatory` return, and its 404). Declaring a queue again replaces its retry delays
/// and adds its binding keys; no binding is ever removed.
///
/// Counting: ``messageCount(queue:)`` of a main queue is its ready messages (neither unacknowledged ones nor
/// retries waiting for their delay); of a retry or dead-letter queue, its rows in the database.
///
/// Memory: a main queue keeps at most `readyWindow` ready messages in memory; further publishes wait on disk only
/// (`paged` rows) until consumers have taken half the window, then are read back a page at a time, oldest first.
///
/// Lifecycle: ``open(database:maximumBodySize:logger:)``; then ``run()``, in the service group of the services that
/// use the broker (before them, so that it stops after them), returns retried messages to their queues when their
/// delay has passed; ``shutdown()`` before closing the database. Without `run()` everything works but retries stay
/// in their retry queues.
///
/// Bodies: every body is stored whole; one over `maximumBodySize` is handed to a consumer without it, marked with
/// ``Delivery/oversizedBody``, as the RabbitMQ adapter's client does, and dead-lettering it moves the stored body.
///
/// Thread-safety: `Sendable`; every method may be called from any task.
public final class EmbeddedBroker: MessageBroker, Service {
    let database: SQLiteFileDatabase
    let logger: Logger
    let state: Mutex<EmbeddedBrokerState>
    /// Wakes the scheduler when a retried message arrives.
    let retrySignal = WakeSignal()
    /// Opened by ``shutdown()``: ends ``run()``.
    private let stopRequested = Latch()

    private init(
        database: SQLiteFileDatabase, logger: Logger, loaded: [StoredMessage], spilled: [String: Int],
        maximumBodySize: Int?, readyWindow: Int
    ) {
        self.database = database
        self.logger = logger
        self.state = Mutex(
            EmbeddedBrokerState(loaded: loaded, spilled: spilled, maximumBodySize: maximumBodySize, readyWindow: readyWindow))
    }

    /// Opens the broker on `database`: creates its `broker_` tables if missing and loads the stored messages of
    /// main and retry queues (rows of queues not declared yet wait for their declaration).
    /// - Parameters:
    ///   - database: the service's SQLite file; the broker shares it and does not close it.
    ///   - maximumBodySize: the largest body handed to a consumer (`AMQP_MAX_BODY`), as the RabbitMQ adapter's; a
    ///     larger one stays stored and its delivery comes with ``Delivery/oversizedBody``, to be dead-lettered with
    ///     its body. `nil`: any size.
    ///   - readyWindow: ready messages kept in memory per main queue at most; more wait on disk and are read back
    ///     in pages (``EmbeddedBrokerState/readyWindow``).
    ///   - logger: for failures of the scheduler and a summary at open.
    public static func open(
        database: SQLiteFileDatabase, maximumBodySize: Int? = nil, readyWindow: Int = 4096, logger: Logger
    ) async throws -> EmbeddedBroker {
        try await Self.createSchema(in: database)
        let loaded = try await Self.loadMessages(from: database)
        let spilled = try await Self.countPaged(in: database)
        let broker = EmbeddedBroker(
            database: database, logger: logger, loaded: loaded, spilled: spilled, maximumBodySize: maximumBodySize,
            readyWindow: readyWindow)
        logger.info(
            "embedded broker opened",
            metadata: [
                "path": "\(database.path)", "stored_messages": "\(loaded.count)",
                "waiting_on_disk": "\(spilled.values.reduce(0, +))",
            ]
        )
        return broker
    }

    /// Runs the scheduler that moves retried messages back to their main queue when their delay has passed, until
    /// ``shutdown()``, a graceful shutdown of its service group, or cancellation; then shuts the broker down. Returns
    /// at once when the broker is shut down already or `run()` runs elsewhere.
    public func run() async {
        guard self.state.withLock({ $0.startScheduler() }) else { return }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.runScheduler() }
                // Cancelling the scheduler interrupts its waits (and its backoff after a failed write) at once.
                await self.stopRequested.wait()
                group.cancelAll()
            }
        }
        let waiters = self.state.withLock { $0.schedulerStopped() }
        for waiter in waiters { waiter.resume() }
        await self.shutdown()
    }

    /// Stops the broker: wakes every waiting consumer (`next` returns nil), makes later calls fail, and ends
    /// ``run()``, waiting until its scheduler has stopped (so the database may be closed next). Stored messages stay
    /// for the next ``open(database:maximumBodySize:logger:)``. Idempotent.
    public func shutdown() async {
        let waiters = self.state.withLock { $0.shutDown() }
        for waiter in waiters { waiter.resume(returning: nil) }
        self.stopRequested.open()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let running = self.state.withLock { $0.waitForScheduler(continuation) }
            if !running { continuation.resume() }
        }
    }

    /// Records the exchanges, queues and bindings of `topology` in addition to those already declared.
    /// Throws when the broker is shut down or an exchange was declared before with another type.
    public func declare(_ topology: BrokerTopology) async throws {
        let attachedRetries = try self.state.withLock { state throws(EmbeddedBrokerError) in
            try state.declare(topology)
        }
        if attachedRetries { self.retrySignal.signal() }
    }

    /// Routes each message and stores every routed copy in one transaction; confirms them after the commit.
    /// A message matching no binding or for an undeclared exchange is `.unroutable` (not stored); every routed one
    /// of a batch whose transaction failed, or published to a broker shut down, is `.unavailable`.
    public func publish(_ messages: [OutgoingMessage]) async -> [PublishOutcome] {
        let now = Self.wallClockMilliseconds()
        let plans = self.state.withLock { state in messages.map { state.routes(for: $0) } }
        var outcomes: [PublishOutcome] = []
        var copies: [(index: Int, message: StoredMessage)] = []
        for (index, (message, plan)) in zip(messages, plans).enumerated() {
            switch plan {
            case .failure(let error) where error.code == .unknownExchange:
                // Nothing can route it: to the relay, the same as a missing binding (it declares the topology again).
                outcomes.append(.unroutable(reason: error.message))
            case .failure(let error):
                // The broker is shut down: it takes nothing, whatever the message.
                outcomes.append(.unavailable(reason: error.message))
            case .success(let routes) where routes.isEmpty:
                // RabbitMQ returns such a `mandatory` message; the adapters agree that confirmed means routed.
                outcomes.append(
                    .unroutable(
                        reason: "no queue is bound to exchange '\(message.exchange)' for routing key '\(message.routingKey)'"))
            case .success(let routes):
                outcomes.append(.confirmed)
                for route in routes {
                    let copy = StoredMessage(
                        id: 0,
                        queue: route.queue,
                        home: route.home,
                        routingKey: message.routingKey,
                        body: message.body,
                        properties: message.properties,
                        availableAt: now + Self.milliseconds(route.delay),
                        redelivered: false
                    )
                    copies.append((index, copy))
                }
            }
        }
        guard !copies.isEmpty else { return outcomes }

        var placed = copies.map(\.message)
        self.state.withLock { $0.place(&placed) }
        let stored: [StoredMessage]
        do {
            stored = try await self.insert(placed)
        } catch {
            self.state.withLock { $0.unplace(placed) }
            self.logger.warning(
                "embedded broker could not store published messages",
                metadata: ["messages": "\(messages.count)", "error": "\(error)"]
            )
            for index in Set(copies.map(\.index)) {
                // The store failed (or the publishing task was cancelled mid-write): nothing about this message.
                outcomes[index] = .unavailable(reason: "the broker could not store the message: \(error)")
            }
            return outcomes
        }
        let (wakeups, addedDelayed) = self.state.withLock { state in
            var wakeups = EmbeddedBrokerState.Wakeups()
            let addedDelayed = state.enqueue(stored, placed: true, wakeups: &wakeups)
            return (wakeups, addedDelayed)
        }
        wakeups.resume()
        if addedDelayed { self.retrySignal.signal() }
        // Rows that went to disk while the queue's memory is short (its consumers took the rest meanwhile) are read
        // back now: a consumer waiting on an empty list would not ask again.
        for home in Set(stored.filter(\.paged).map(\.home)) { await self.loadPage(queue: home) }
        return outcomes
    }

    /// Reads the next page of `queue`'s rows waiting on disk into its ready list, when it is short of ready messages
    /// (``EmbeddedBrokerState/pageToLoad(queue:)``); called by publishes and by consumers asking for more.
    func loadPage(queue: String) async {
        guard let limit = self.state.withLock({ $0.pageToLoad(queue: queue) }) else { return }
        do {
            let page = try await self.readPage(queue: queue, limit: limit)
            let wakeups = self.state.withLock { state in
                var wakeups = EmbeddedBrokerState.Wakeups()
                state.loaded(page, queue: queue, wakeups: &wakeups)
                return wakeups
            }
            wakeups.resume()
        } catch {
            // The next publish or `next` of this queue tries again.
            self.state.withLock { $0.loadFailed(queue: queue) }
            self.logger.warning(
                "embedded broker could not read waiting messages back", metadata: ["queue": "\(queue)", "error": "\(error)"])
        }
    }

    /// Starts a consumer of main queue `queue` with at most `prefetch` (at least 1) unsettled deliveries.
    /// Throws for an undeclared queue, a retry or dead-letter queue, or a prefetch below 1.
    public func consume(queue: String, prefetch: Int) async throws -> any MessageConsumer {
        let id = try self.state.withLock { state throws(EmbeddedBrokerError) in
            try state.addConsumer(queue: queue, prefetch: prefetch)
        }
        return EmbeddedBrokerConsumer(broker: self, id: id, queue: queue)
    }

    /// The number of messages in `queue`: for a main queue, the ready messages (in memory or on disk; unacknowledged
    /// deliveries and retries waiting for their delay are not counted); for a retry queue (`q.retry.n`) or a
    /// dead-letter queue (`q.dlq`) of a declared queue, its rows in the database. Throws for any other name.
    public func messageCount(queue: String) async throws -> Int {
        let ready = try self.state.withLock { state throws(EmbeddedBrokerError) -> Int? in
            guard !state.isShutDown else { throw .shutDown }
            if let ready = state.readyCount(queue: queue) { return ready }
            guard state.isStoredOnlyQueue(queue) else {
                throw EmbeddedBrokerError(.unknownQueue, "queue '\(queue)' is not declared")
            }
            return nil
        }
        if let ready { return ready }
        return try await self.countRows(queue: queue)
    }

    /// Ready messages of main queue `queue` held in memory now (at most `readyWindow`); nil for an unknown queue.
    public func readyInMemory(queue: String) -> Int? {
        self.state.withLock { $0.readyInMemory(queue: queue) }
    }

    /// Reads up to `limit` stored messages of any queue (main, retry or dead-letter), oldest first, without
    /// consuming them; for tests and tools. A main queue's rows include deliveries not yet acknowledged.
    /// Each result's ``Delivery/tag`` is the stored row id (it cannot be settled), ``Delivery/queue`` the queue the
    /// row is in, and ``Delivery/redelivered`` false.
    public func peek(queue: String, limit: Int) async throws -> [Delivery] {
        guard !self.state.withLock({ $0.isShutDown }) else { throw EmbeddedBrokerError.shutDown }
        return try await self.peekRows(queue: queue, limit: limit)
    }

    /// Throws when the broker is shut down or its database does not answer.
    public func checkHealth() async throws {
        guard !self.state.withLock({ $0.isShutDown }) else { throw EmbeddedBrokerError.shutDown }
        try await self.database.ping()
    }

    /// Closes consumer `id` without waiting: used by ``EmbeddedBrokerConsumer``'s `close` and `deinit`.
    func closeConsumer(_ id: UInt64) {
        let wakeups = self.state.withLock { state in
            var wakeups = EmbeddedBrokerState.Wakeups()
            state.close(consumer: id, wakeups: &wakeups)
            return wakeups
        }
        wakeups.resume()
    }

    /// Moves retried messages back to their main queue when their delay has elapsed, until cancelled.
    private func runScheduler() async {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(5))
        while !Task.isCancelled {
            let now = Self.wallClockMilliseconds()
            let (due, nextDue) = self.state.withLock { $0.takeDueMessages(now: now) }
            guard !due.isEmpty else {
                // With nothing delayed, a long nap: a new retry signals.
                await self.retrySignal.wait(timeout: .milliseconds(nextDue.map { $0 - now } ?? 60_000))
                continue
            }
            do {
                try await self.moveHome(ids: due.map(\.id))
            } catch {
                self.state.withLock { $0.restoreDelayed(due) }
                if Task.isCancelled { return }
                self.logger.warning(
                    "embedded broker could not move retried messages back; trying again",
                    metadata: ["messages": "\(due.count)", "error": "\(error)"]
                )
                guard await backoff.sleep() else { return }
                continue
            }
            backoff.reset()
            let wakeups = self.state.withLock { state in
                var wakeups = EmbeddedBrokerState.Wakeups()
                state.returnFromRetry(due, wakeups: &wakeups)
                return wakeups
            }
            wakeups.resume()
        }
    }

    /// Milliseconds since the epoch: `available_at` must mean the same after a restart, so not a monotonic clock.
    static func wallClockMilliseconds() -> Int64 {
        Timestamp.now().microsecondsSinceEpoch / 1000
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.totalMilliseconds
    }
}
