import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Timing
import _ConnectionPoolModule

/// A Redis client with a connection pool: every typed command, pipelining, and automatic reconnection.
///
/// Plain commands and pipelines from all concurrent callers share a few connections
/// (``RedisConfiguration/sharedConnections``): what queues up while a connection's event loop is busy is written in
/// one go and replies are matched in order, so concurrent callers are pipelined automatically. Blocking and
/// connection-state commands and ``withConnection(_:)`` lease a connection of their own.
///
/// The client is a swift-service-lifecycle `Service`: its ``run()`` keeps the pool alive (opening at least
/// ``RedisConfiguration/minimumConnections``, replacing broken connections, reconnecting with backoff after the
/// server went away) until the task is cancelled or the service group shuts down gracefully. Commands wait for
/// ``run()`` to be running.
///
/// ```swift
/// let client = RedisClient(
///     configuration: .init(host: "127.0.0.1", port: 6379, password: nil),
///     logger: logger
/// )
/// let group = ServiceGroup(services: [client, httpServer], logger: logger)
/// // ... in a task: try await group.run()
///
/// try await client.set("greeting", value: "hello", expiration: .seconds(900), condition: .ifNotExists)
/// let greeting = try await client.getString("greeting")          // "hello"
/// try await client.delete(["greeting"])
///
/// // Several commands in one round trip, one result each:
/// let results = try await client.pipeline([.incr("hits"), .expire("hits", seconds: 60), .get("hits")])
///
/// // Several commands on the same connection (e.g. for SELECT, WATCH):
/// try await client.withConnection { connection in
///     try await connection.ping()
/// }
///
/// // In tests and scripts, without a service group:
/// try await withRedisClient(configuration: .init(port: 6379), logger: logger) { client in
///     try await client.ping()
/// }
/// ```
///
/// Every command is an extension on ``RedisCommandExecutor``, which both the client and ``RedisConnection``
/// conform to; ``RedisCommandExecutor/send(command:arguments:)`` sends any other command.
///
/// Thread safety: `Sendable`; share one client across the whole process.
public final class RedisClient: RedisCommandExecutor, Service, Sendable {
    typealias Pool = ConnectionPool<
        RedisConnection,
        RedisConnection.ID,
        ConnectionIDGenerator,
        RedisLeaseRequest,
        Int,
        RedisKeepAliveBehavior,
        NoOpConnectionPoolMetrics<RedisConnection.ID>,
        ContinuousClock
    >

    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    private let pool: Pool
    /// Connections shared by plain commands and pipelines; see ``RedisConfiguration/sharedConnections``.
    let shared: RedisSharedConnections<ContinuousClock>
    /// Where lease timeouts are scheduled.
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    /// The error of the latest connect attempt, `nil` once one succeeds: reported instead of a vague timeout when
    /// no connection can be made (e.g. `WRONGPASS`).
    private let lastConnectError: LastConnectError

    /// Creates a client; nothing connects until ``run()`` runs.
    ///
    /// - Parameters:
    ///   - configuration: address, credentials, TLS, pool size and timeouts.
    ///   - eventLoopGroup: where connections live (default: NIO's shared singleton group).
    ///   - logger: logs connection events (never a password or a command's arguments).
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        let lastConnectError = LastConnectError()
        self.lastConnectError = lastConnectError
        var poolConfiguration = ConnectionPoolConfiguration()
        poolConfiguration.minimumConnectionCount = max(0, configuration.minimumConnections)
        poolConfiguration.maximumConnectionSoftLimit = max(1, configuration.maximumConnections)
        poolConfiguration.maximumConnectionHardLimit = max(1, configuration.maximumConnections)
        poolConfiguration.idleTimeout = configuration.idleTimeout
        poolConfiguration.circuitBreakerTripAfter = configuration.circuitBreakerTripAfter
        poolConfiguration.maximumConcurrentConnectionRequests = max(1, configuration.maximumConnections)
        // Read the TLS files once: every pooled connection shares the context, and a bad file fails each connect
        // attempt with the same clear error.
        let tls = Result { () throws(RedisError) in
            try configuration.tls.map { settings throws(RedisError) in
                try RedisTLS.setup(configuration: configuration, tls: settings)
            }
        }
        let pool = Pool(
            configuration: poolConfiguration,
            idGenerator: ConnectionIDGenerator(),
            requestType: RedisLeaseRequest.self,
            keepAliveBehavior: RedisKeepAliveBehavior(),
            observabilityDelegate: NoOpConnectionPoolMetrics(connectionIDType: RedisConnection.ID.self),
            clock: ContinuousClock()
        ) { id, _ in
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration, tls: try tls.get(), id: id, eventLoop: eventLoopGroup.any(),
                    logger: logger
                )
                lastConnectError.value.withLock { $0 = nil }
                return ConnectionAndMetadata(connection: connection, maximalStreamsOnConnection: 1)
            } catch let error as RedisError {
                lastConnectError.value.withLock { $0 = error }
                logger.debug("cannot connect to Redis", metadata: ["error": "\(error)"])
                throw error
            }
        }
        self.pool = pool
        // At least one connection stays for exclusive use (withConnection, blocking commands).
        let sharedCount = min(max(0, configuration.sharedConnections), max(1, configuration.maximumConnections) - 1)
        let leaseTimeout = configuration.commandTimeout
        let clock = ContinuousClock()
        self.shared = RedisSharedConnections(count: sharedCount, clock: clock) { () async throws(RedisError) in
            try await Self.leaseConnection(
                from: pool, timeout: leaseTimeout, timerLoop: eventLoopGroup.any(),
                lastConnectError: lastConnectError, configuration: configuration
            )
        }
    }

    /// Runs the pool until the task is cancelled or a graceful shutdown starts; then closes every connection and
    /// fails waiting commands with ``RedisError/Code/poolShutdown``.
    public func run() async {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.pool.run() }
                // The shared connections are leased here, so no lease outlives the client.
                group.addTask { await self.shared.run() }
                // Either ends only when cancelled; should one end anyway, the other must not run on alone.
                await group.next()
                group.cancelAll()
            }
        }
        self.shared.shutdown()
    }

    /// Leases a connection for the duration of `body`, e.g. to run several commands on the same connection. Nobody
    /// else uses it meanwhile, so `SELECT`, `WATCH` and the like only affect `body`'s commands.
    /// Waiting for a connection is bounded by ``RedisConfiguration/commandTimeout``.
    ///
    /// When `body` ends with the task cancelled, the connection is closed rather than given back: a command it
    /// abandoned (a `BLPOP`, a transaction half done) may still be running on it. The pool opens a new one.
    public func withConnection<Result: Sendable>(
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let lease = try await self.leaseConnection()
        defer { lease.release() }
        do {
            return try await body(lease.connection)
        } catch {
            if Task.isCancelled || (error as? RedisError)?.code == .cancelled { lease.connection.close() }
            throw error
        }
    }

    /// Runs `command` on a shared connection (or, for blocking and connection-state commands, a leased one of its
    /// own); an error reply throws ``RedisError`` with code ``RedisError/Code/server``. Cancelling the calling task
    /// throws ``RedisError/Code/cancelled`` at once, whether or not the server answers (see <doc:Pipelining>).
    public func execute(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        // The common case first, without the generic retry wrapper: a shared connection that takes the command.
        if !command.needsExclusiveConnection, let connection = self.shared.connection() {
            do {
                return try await connection.execute(command)
            } catch where error.commandWasNotSent {
                // The connection closed before the command went out: try once more below.
            }
            return try await self.run(exclusive: false, retry: false) { connection throws(RedisError) in
                try await connection.execute(command)
            }
        }
        return try await self.run(exclusive: command.needsExclusiveConnection, retry: true) { connection throws(RedisError) in
            try await connection.execute(command)
        }
    }

    /// Sends all `commands` together in one write, on one connection (a shared one unless a command needs a
    /// connection of its own); one result per command, in order. Nothing from other callers comes between them.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        let exclusive = commands.contains { $0.needsExclusiveConnection }
        return try await self.run(exclusive: exclusive, retry: true) { connection throws(RedisError) in
            try await connection.pipeline(commands)
        }
    }

    /// Runs `body` on a shared connection, or (`exclusive`, or none ready) on a leased one; when the connection
    /// turns out to have closed before the command was written (the server never saw it) and `retry` is set, runs
    /// it once more on another connection.
    private func run<Value>(
        exclusive: Bool,
        retry: Bool,
        _ body: (RedisConnection) async throws(RedisError) -> Value
    ) async throws(RedisError) -> Value {
        var retry = retry
        while true {
            do throws(RedisError) {
                if !exclusive, let connection = self.shared.connection() {
                    return try await body(connection)
                }
                let lease = try await self.leaseConnection()
                defer { lease.release() }
                do throws(RedisError) {
                    return try await body(lease.connection)
                } catch {
                    // The abandoned command (a blocking one, or a connection-state one) may still run on this
                    // connection: close it rather than hand it to the next caller.
                    if error.code == .cancelled { lease.connection.close() }
                    throw error
                }
            } catch where error.commandWasNotSent && retry {
                retry = false
            }
        }
    }

    private func leaseConnection() async throws(RedisError) -> ConnectionLease<RedisConnection> {
        try await Self.leaseConnection(
            from: self.pool, timeout: self.configuration.commandTimeout, timerLoop: self.eventLoopGroup.any(),
            lastConnectError: self.lastConnectError, configuration: self.configuration
        )
    }

    private static func leaseConnection(
        from pool: Pool,
        timeout: Duration,
        timerLoop: any EventLoop,
        lastConnectError: LastConnectError,
        configuration: RedisConfiguration
    ) async throws(RedisError) -> ConnectionLease<RedisConnection> {
        // A connection that has just closed can still be handed out until the pool processes its close: give it
        // back and ask again, briefly (about 50 ms in all).
        var backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(10))
        for _ in 0..<10 {
            let lease = try await Self.leaseAnyConnection(
                from: pool, timeout: timeout, timerLoop: timerLoop, lastConnectError: lastConnectError,
                configuration: configuration
            )
            if !lease.connection.isClosed { return lease }
            lease.release()
            guard await backoff.sleep() else {
                throw RedisError(code: .cancelled, message: "the command was cancelled")
            }
        }
        throw RedisError.closedBeforeSending
    }

    /// One lease from the pool, failing with ``RedisError/Code/timeout`` (and the last connect error, if any) after
    /// `timeout`. The timeout is one task scheduled on an event loop and cancelled when the lease arrives.
    private static func leaseAnyConnection(
        from pool: Pool,
        timeout: Duration,
        timerLoop: any EventLoop,
        lastConnectError: LastConnectError,
        configuration: RedisConfiguration
    ) async throws(RedisError) -> ConnectionLease<RedisConnection> {
        let request = RedisLeaseRequest()
        do {
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { continuation in
                    guard request.start(continuation) else { return }
                    pool.leaseConnection(request)
                    let timer = timerLoop.scheduleTask(in: TimeAmount(timeout)) {
                        let connectError = lastConnectError.value.withLock { $0 }
                        let error = RedisError(
                            code: .timeout,
                            message: "no connection available within the command timeout"
                                + (connectError.map { "; last connect attempt: \($0.serverPrefix.map { $0 + " " } ?? "")\($0.message)" }
                                    ?? " (is the client's run() running?)"),
                            underlying: connectError
                        )
                        if request.fail(error) { pool.cancelLeaseConnection(request.id) }
                    }
                    request.setTimer(timer)
                }
            } onCancel: {
                if request.fail(RedisError(code: .cancelled, message: "the command was cancelled")) {
                    pool.cancelLeaseConnection(request.id)
                }
            }
        } catch let error as RedisError {
            throw error
        } catch let error as ConnectionPoolError {
            switch error {
            case .poolShutdown:
                throw RedisError(code: .poolShutdown, message: "the Redis client is shut down")
            case .requestCancelled:
                throw RedisError(code: .cancelled, message: "the command was cancelled")
            case .connectionCreationCircuitBreakerTripped:
                if let connectError = lastConnectError.value.withLock({ $0 }) { throw connectError }
                throw RedisError(
                    code: .connectFailed,
                    message: "cannot connect to \(configuration.host):\(configuration.port)",
                    underlying: error
                )
            default:
                throw RedisError(code: .connectFailed, message: "no connection", underlying: error)
            }
        } catch {
            throw RedisError(code: .connectFailed, message: "no connection", underlying: error)
        }
    }
}

/// Creates a client, runs it for the duration of `body`, then shuts it down. Handy in tests and scripts.
public func withRedisClient<Result: Sendable>(
    configuration: RedisConfiguration,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger,
    _ body: (RedisClient) async throws -> Result
) async throws -> Result {
    let client = RedisClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Pings idle pooled connections every 30 s so that dead ones are found and replaced before a command needs them.
struct RedisKeepAliveBehavior: ConnectionKeepAliveBehavior {
    var keepAliveFrequency: Duration? { .seconds(30) }

    func runKeepAlive(for connection: RedisConnection) async throws {
        try await connection.ping()
    }
}

/// Shared between the client and its connection factory.
final class LastConnectError: Sendable {
    let value = Mutex<RedisError?>(nil)
}
