import Logging
import NIOCore
import Synchronization
import Timing

/// The connections behind ``MySQLClient``: a small pool built for the per-statement lease.
///
/// Why not postgres-nio's `_ConnectionPoolModule` (used before): every time a connection went idle it started a
/// keep-alive timer and, for connections above the minimum, an idle timer, each a task group with a sleeping child
/// task; leasing it again cancelled them. With one lease per statement that was several task creations and
/// executor hops per query, more than the round trip itself (profiled with perf: about a quarter of the client's
/// CPU in the pool). Here the lease and the release are one lock each: a connection is popped from or pushed onto
/// the idle stack with the time it was last used, and a single housekeeping task closes connections idle for too
/// long and pings those not used for ``MySQLConfiguration/Pool/keepAliveFrequency``. Only a request that has to
/// wait costs more: a continuation and one NIO timer for ``MySQLConfiguration/Pool/leaseTimeout``.
///
/// Time (idle timeout, keep-alive, the circuit breaker's failing period, the housekeeping tick and the reconnection
/// backoff) is read from `clock`: the continuous clock in production, a test clock in tests, which then advance it
/// instead of sleeping. The lease timeout is the NIO timer named above, which reads no clock of ours.
///
/// Thread-safety: `Sendable`; all state is behind one `Mutex`, and continuations and connections are completed and
/// closed outside it.
final class MySQLConnectionPool<C: Clock<Duration>>: Sendable {
    typealias Factory = @Sendable (_ id: Int) async throws -> MySQLConnection

    private struct IdleConnection {
        var connection: MySQLConnection
        /// When it was last released (or pinged): the idle timeout and the keep-alive count from here.
        var since: C.Instant
    }

    private struct Waiter {
        var id: Int
        var continuation: UnsafeContinuation<MySQLConnection, any Error>
        var timer: Scheduled<Void>?
    }

    private enum Phase {
        case notRunning
        case running
        case shutDown
    }

    private struct State {
        var phase = Phase.notRunning
        /// Idle connections; the last one was used most recently, so it is leased first and the others idle out.
        var idle: [IdleConnection] = []
        /// Requests waiting for a connection, oldest first.
        var waiters = CircularBuffer<Waiter>()
        /// Every open connection (idle, leased or being pinged), by id, so shutdown can close them all.
        var open: [Int: MySQLConnection] = [:]
        /// Connection attempts in flight (including ones waiting out a back-off).
        var connecting = 0
        var nextConnectionID = 1
        var nextWaiterID = 0
        /// Why the last connection attempt failed; `nil` after a success.
        var lastConnectError: MySQLError?
        /// Since when every attempt failed; `nil` after a success.
        var failingSince: C.Instant?
        /// Attempts have failed for longer than `circuitBreakerTripAfter`: requests fail at once instead of waiting.
        var tripped = false
        /// Failed connection attempts and keep-alive pings sent, in all (for tests).
        var connectFailures = 0
        var keepAlivePings = 0
        /// Connects the run loop has to start (requested before it ran, or by whoever found demand).
        var events: AsyncStream<Int>.Continuation?

        /// How many more connections to start now: one per waiter not already covered by an attempt, and enough to
        /// reach the minimum, never above the maximum.
        mutating func claimConnects(minimum: Int, maximum: Int) -> Int {
            guard self.phase != .shutDown else { return 0 }
            let wanted = max(self.waiters.count, minimum - self.open.count) - self.connecting
            let room = maximum - self.open.count - self.connecting
            let count = max(0, min(wanted, room))
            self.connecting += count
            return count
        }
    }

    let configuration: MySQLConfiguration.Pool
    private let state = Mutex(State())
    private let factory: Factory
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let clock: C
    private let events: AsyncStream<Int>

    init(
        configuration: MySQLConfiguration.Pool, eventLoopGroup: any EventLoopGroup, clock: C, logger: Logger,
        factory: @escaping Factory
    ) {
        var configuration = configuration
        configuration.maximumConnections = max(1, configuration.maximumConnections)
        configuration.minimumConnections = max(0, min(configuration.minimumConnections, configuration.maximumConnections))
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.factory = factory
        self.clock = clock
        let (events, continuation) = AsyncStream<Int>.makeStream()
        self.events = events
        self.state.withLock { $0.events = continuation }
    }

    // MARK: - Leasing

    private enum LeaseFastPath {
        case connection(MySQLConnection)
        case error(MySQLError)
        case wait
    }

    /// A connection for the caller's exclusive use until ``release(_:)``.
    ///
    /// Throws ``MySQLError/Code/timeout`` after ``MySQLConfiguration/Pool/leaseTimeout``, the last connection
    /// error (code kept, e.g. ``MySQLError/Code/authenticationFailed``) once the circuit breaker has tripped with
    /// no connection open, ``MySQLError/Code/poolUnavailable`` after shutdown, and `CancellationError` when the
    /// task is cancelled.
    func lease() async throws -> MySQLConnection {
        // The common case: an idle connection, one lock, no continuation.
        while true {
            let fast: LeaseFastPath = self.state.withLock { state in
                if let idle = state.idle.popLast() { return .connection(idle.connection) }
                if let error = Self.refusal(state) { return .error(error) }
                return .wait
            }
            switch fast {
            case .connection(let connection):
                if connection.isClosed { continue }  // closed while idle; its close callback removes it
                return connection
            case .error(let error):
                throw error
            case .wait:
                return try await self.waitForConnection()
            }
        }
    }

    /// Why a request must fail at once, or `nil` when it may wait.
    private static func refusal(_ state: State) -> MySQLError? {
        if state.phase == .shutDown {
            return MySQLError(code: .poolUnavailable, message: "no connection from the pool: it is shut down")
        }
        // Only when no connection is open: with some open, a request can still wait for one of them.
        if state.tripped, state.open.isEmpty, var cause = state.lastConnectError {
            // Keep the cause's code (e.g. authenticationFailed) so callers can tell why.
            cause.message = "no connection from the pool: \(cause.message)"
            return cause
        }
        return nil
    }

    private func waitForConnection() async throws -> MySQLConnection {
        let id = self.state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let connection = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<MySQLConnection, any Error>) in
                self.enqueue(Waiter(id: id, continuation: continuation, timer: nil))
            }
        } onCancel: {
            self.failWaiter(id, with: CancellationError())
        }
        if connection.isClosed {
            // Closed between hand-over and now: try again (its close callback removes it and opens another).
            return try await self.lease()
        }
        return connection
    }

    private enum EnqueueOutcome {
        case resume(MySQLConnection)
        /// `nil`: cancelled.
        case fail(MySQLError?)
        case waiting(connects: Int)
    }

    private func enqueue(_ waiter: Waiter) {
        let outcome: EnqueueOutcome = self.state.withLock { state in
            // Released while we were getting here.
            if let idle = state.idle.popLast() { return .resume(idle.connection) }
            if let error = Self.refusal(state) { return .fail(error) }
            // Checked under the lock: a cancellation after this finds the waiter queued (see `failWaiter`).
            if Task.isCancelled { return .fail(nil) }
            state.waiters.append(waiter)
            return .waiting(connects: state.claimConnects(
                minimum: self.configuration.minimumConnections, maximum: self.configuration.maximumConnections))
        }
        switch outcome {
        case .resume(let connection):
            waiter.continuation.resume(returning: connection)
        case .fail(let error):
            waiter.continuation.resume(throwing: error ?? CancellationError())
        case .waiting(let connects):
            self.startConnects(connects)
            self.scheduleLeaseTimeout(for: waiter.id)
        }
    }

    /// One NIO timer per waiting request, cancelled when it gets a connection: cheap, and only on the slow path.
    private func scheduleLeaseTimeout(for id: Int) {
        guard let timeout = self.configuration.leaseTimeout else { return }
        let timer = self.eventLoopGroup.any().scheduleTask(in: TimeAmount(timeout)) {
            self.leaseTimedOut(id)
        }
        let stillWaiting = self.state.withLock { state -> Bool in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
            state.waiters[index].timer = timer
            return true
        }
        if !stillWaiting { timer.cancel() }
    }

    private func leaseTimedOut(_ id: Int) {
        let (open, cause) = self.state.withLock { ($0.open.count, $0.lastConnectError) }
        var message = "no connection from the pool within \(self.configuration.leaseTimeout ?? .zero)"
        if open == 0 {
            message += " (none could be opened yet"
        } else {
            message += " (\(open) of at most \(self.configuration.maximumConnections) connections open, all busy"
        }
        if let cause { message += "; the last connection attempt failed: \(cause.message)" }
        message += ")"
        self.failWaiter(id, with: MySQLError(code: .timeout, message: message))
    }

    private func failWaiter(_ id: Int, with error: any Error) {
        let waiter = self.state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        guard let waiter else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(throwing: error)
    }

    private enum ReleaseOutcome {
        case idle
        case handOver(Waiter)
        case close
    }

    /// Gives a leased connection back: to the oldest waiter, or onto the idle stack. A closed one is dropped (its
    /// close callback opens a replacement when one is needed).
    func release(_ connection: MySQLConnection) {
        if connection.isClosed { return }
        let now = self.clock.now
        let outcome = self.state.withLock { state -> ReleaseOutcome in
            if state.phase == .shutDown { return .close }
            if let waiter = state.waiters.popFirst() { return .handOver(waiter) }
            state.idle.append(IdleConnection(connection: connection, since: now))
            return .idle
        }
        switch outcome {
        case .idle:
            break
        case .handOver(let waiter):
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: connection)
        case .close:
            connection.close()
        }
    }

    // MARK: - Opening and closing connections

    private func startConnects(_ count: Int) {
        guard count > 0 else { return }
        _ = self.state.withLock { $0.events }?.yield(count)
    }

    /// Opens one connection, retrying with back-off while it is still needed. Runs as a child task of ``run()``.
    private func connect() async {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(5), clock: self.clock)
        while true {
            let id = self.state.withLock { state -> Int in
                state.nextConnectionID += 1
                return state.nextConnectionID - 1
            }
            do {
                let connection = try await self.factory(id)
                self.opened(connection)
                return
            } catch {
                let mysqlError = error as? MySQLError
                    ?? MySQLError(code: .connectionClosed, message: "connecting failed: \(error)")
                self.logger.warning("MySQL connection attempt failed", metadata: ["error": "\(mysqlError)"])
                let failed = self.connectFailed(mysqlError)
                for waiter in failed {
                    waiter.timer?.cancel()
                    var cause = mysqlError
                    cause.message = "no connection from the pool: \(cause.message)"
                    waiter.continuation.resume(throwing: cause)
                }
            }
            guard await backoff.sleep() else {
                self.state.withLock { $0.connecting -= 1 }
                return
            }
            let retry = self.state.withLock { state -> Bool in
                let needed = state.phase != .shutDown
                    && (state.waiters.count > state.connecting - 1
                        || state.open.count + state.connecting - 1 < self.configuration.minimumConnections
                        // While tripped, one attempt keeps probing so the pool recovers without a request.
                        || (state.tripped && state.connecting == 1))
                if !needed { state.connecting -= 1 }
                return needed
            }
            if !retry { return }
        }
    }

    /// Records a failed attempt; trips the circuit breaker when attempts have failed for long enough, and returns
    /// the waiters that must then fail.
    private func connectFailed(_ error: MySQLError) -> [Waiter] {
        let now = self.clock.now
        return self.state.withLock { state in
            state.lastConnectError = error
            state.connectFailures += 1
            let since = state.failingSince ?? now
            state.failingSince = since
            guard since.duration(to: now) >= self.configuration.circuitBreakerTripAfter else { return [] }
            state.tripped = true
            guard state.open.isEmpty else { return [] }  // the waiters may still get one of those
            var failed: [Waiter] = []
            while let waiter = state.waiters.popFirst() { failed.append(waiter) }
            return failed
        }
    }

    private func opened(_ connection: MySQLConnection) {
        let now = self.clock.now
        let (accepted, waiter) = self.state.withLock { state -> (Bool, Waiter?) in
            state.connecting -= 1
            guard state.phase != .shutDown else { return (false, nil) }
            state.lastConnectError = nil
            state.failingSince = nil
            state.tripped = false
            state.open[connection.id] = connection
            if let waiter = state.waiters.popFirst() { return (true, waiter) }
            state.idle.append(IdleConnection(connection: connection, since: now))
            return (true, nil)
        }
        guard accepted else {
            connection.close()
            return
        }
        connection.channel.closeFuture.whenComplete { _ in self.closed(connection) }
        if let waiter {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: connection)
        }
    }

    private func closed(_ connection: MySQLConnection) {
        let connects = self.state.withLock { state -> Int in
            state.open.removeValue(forKey: connection.id)
            state.idle.removeAll { $0.connection === connection }
            return state.claimConnects(
                minimum: self.configuration.minimumConnections, maximum: self.configuration.maximumConnections)
        }
        self.startConnects(connects)
    }

    // MARK: - Running

    /// Opens the minimum connections and serves connection requests, idle timeouts and keep-alives until the task
    /// is cancelled; then fails waiting requests and closes every connection.
    func run() async {
        let connects = self.state.withLock { state -> Int in
            if state.phase == .notRunning { state.phase = .running }
            return state.claimConnects(
                minimum: self.configuration.minimumConnections, maximum: self.configuration.maximumConnections)
        }
        self.startConnects(connects)
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.housekeeping() }
                for await count in self.events {
                    for _ in 0..<count { group.addTask { await self.connect() } }
                }
                group.cancelAll()
            }
        } onCancel: {
            self.shutDown()
        }
        self.shutDown()
    }

    private func shutDown() {
        let (waiters, connections, events) = self.state.withLock { state in
            state.phase = .shutDown
            let waiters = Array(state.waiters)
            state.waiters.removeAll()
            state.idle.removeAll()
            let connections = Array(state.open.values)
            return (waiters, connections, state.events)
        }
        events?.finish()
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(
                throwing: MySQLError(code: .poolUnavailable, message: "no connection from the pool: it is shut down"))
        }
        for connection in connections { connection.close() }
    }

    /// Every tick: closes connections above the minimum that were idle for ``MySQLConfiguration/Pool/idleTimeout``
    /// and pings those idle for ``MySQLConfiguration/Pool/keepAliveFrequency`` (taking them off the idle stack
    /// meanwhile, so nobody leases a connection mid-ping).
    private func housekeeping() async {
        var tick = self.configuration.idleTimeout
        if let keepAlive = self.configuration.keepAliveFrequency { tick = min(tick, keepAlive) }
        tick = max(.milliseconds(10), min(.seconds(1), tick / 2))
        while !Task.isCancelled {
            do { try await self.clock.sleep(for: tick) } catch { return }
            let now = self.clock.now
            let (expired, toPing) = self.state.withLock { state -> ([MySQLConnection], [MySQLConnection]) in
                var expired: [MySQLConnection] = []
                var toPing: [MySQLConnection] = []
                var kept: [IdleConnection] = []
                var open = state.open.count
                // Oldest first, so the least recently used connections are the ones that idle out.
                for entry in state.idle {
                    if open > self.configuration.minimumConnections,
                        entry.since.duration(to: now) >= self.configuration.idleTimeout
                    {
                        expired.append(entry.connection)
                        open -= 1
                    } else if let keepAlive = self.configuration.keepAliveFrequency,
                        entry.since.duration(to: now) >= keepAlive
                    {
                        toPing.append(entry.connection)
                    } else {
                        kept.append(entry)
                    }
                }
                if !expired.isEmpty || !toPing.isEmpty { state.idle = kept }
                return (expired, toPing)
            }
            for connection in expired { connection.close() }
            if toPing.isEmpty { continue }
            await withDiscardingTaskGroup { group in
                for connection in toPing {
                    group.addTask {
                        do {
                            try await connection.ping()
                        } catch {
                            self.logger.debug("MySQL keep-alive ping failed", metadata: ["error": "\(error)"])
                            connection.close()
                        }
                        self.state.withLock { $0.keepAlivePings += 1 }
                        self.release(connection)
                    }
                }
            }
        }
    }

    /// Open connections and idle ones (for tests).
    var counts: (open: Int, idle: Int, waiting: Int) {
        self.state.withLock { ($0.open.count, $0.idle.count, $0.waiters.count) }
    }

    /// Whether the circuit breaker has tripped, failed connection attempts and keep-alive pings so far (for tests).
    var history: (tripped: Bool, connectFailures: Int, keepAlivePings: Int) {
        self.state.withLock { ($0.tripped, $0.connectFailures, $0.keepAlivePings) }
    }
}
