import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import _ConnectionPoolModule

/// A Redis client with a connection pool: every typed command, pipelining, and automatic reconnection.
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
        ConnectionRequest<RedisConnection>,
        ConnectionRequest<RedisConnection>.ID,
        RedisKeepAliveBehavior,
        NoOpConnectionPoolMetrics<RedisConnection.ID>,
        ContinuousClock
    >

    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    private let pool: Pool
    private let logger: Logger
    /// The error of the latest connect attempt, `nil` once one succeeds: reported instead of a vague timeout when
    /// no connection can be made (e.g. `WRONGPASS`).
    private let lastConnectError: LastConnectError

    /// Creates a client; nothing connects until ``run()`` runs.
    ///
    /// - Parameters:
    ///   - configuration: address, credentials, pool size and timeouts.
    ///   - eventLoopGroup: where connections live (default: NIO's shared singleton group).
    ///   - logger: logs connection events (never a password or a command's arguments).
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
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
        self.pool = Pool(
            configuration: poolConfiguration,
            keepAliveBehavior: RedisKeepAliveBehavior(),
            observabilityDelegate: NoOpConnectionPoolMetrics(connectionIDType: RedisConnection.ID.self),
            clock: ContinuousClock()
        ) { id, _ in
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration, id: id, eventLoop: eventLoopGroup.any(), logger: logger
                )
                lastConnectError.value.withLock { $0 = nil }
                return ConnectionAndMetadata(connection: connection, maximalStreamsOnConnection: 1)
            } catch let error as RedisError {
                lastConnectError.value.withLock { $0 = error }
                logger.debug("cannot connect to Redis", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }

    /// Runs the pool until the task is cancelled or a graceful shutdown starts; then closes every connection and
    /// fails waiting commands with ``RedisError/Code/poolShutdown``.
    public func run() async {
        await cancelWhenGracefulShutdown {
            await self.pool.run()
        }
    }

    /// Leases a connection for the duration of `body`, e.g. to run several commands on the same connection.
    /// Waiting for a connection is bounded by ``RedisConfiguration/commandTimeout``.
    public func withConnection<Result: Sendable>(
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let lease = try await self.leaseConnection()
        defer { lease.release() }
        return try await body(lease.connection)
    }

    /// Runs `command` on a pooled connection; an error reply throws ``RedisError`` with code
    /// ``RedisError/Code/server``.
    public func execute(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        try await self.withRetryIfNotSent { connection throws(RedisError) in try await connection.execute(command) }
    }

    /// Sends all `commands` on one pooled connection in one write; one result per command, in order.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        try await self.withRetryIfNotSent { connection throws(RedisError) in try await connection.pipeline(commands) }
    }

    /// Runs `body` on a leased connection; when the connection turns out to have closed before the command was
    /// written (the server never saw it), runs it once more on another connection.
    private func withRetryIfNotSent<Value>(
        _ body: (RedisConnection) async throws(RedisError) -> Value
    ) async throws(RedisError) -> Value {
        for attempt in 1...2 {
            let lease = try await self.leaseConnection()
            do {
                let value = try await body(lease.connection)
                lease.release()
                return value
            } catch {
                lease.release()
                if error.commandWasNotSent && attempt == 1 { continue }
                throw error
            }
        }
        throw RedisError.closedBeforeSending
    }

    private func leaseConnection() async throws(RedisError) -> ConnectionLease<RedisConnection> {
        // A connection that has just closed can still be handed out until the pool processes its close: give it
        // back and ask again, briefly.
        for attempt in 0..<10 {
            let lease = try await self.leaseAnyConnection()
            if !lease.connection.isClosed { return lease }
            lease.release()
            do {
                try await Task.sleep(for: .milliseconds(attempt))
            } catch {
                throw RedisError(code: .cancelled, message: "the command was cancelled")
            }
        }
        throw RedisError.closedBeforeSending
    }

    private func leaseAnyConnection() async throws(RedisError) -> ConnectionLease<RedisConnection> {
        let timeout = self.configuration.commandTimeout
        let pool = self.pool
        do {
            return try await withThrowingTaskGroup(of: ConnectionLease<RedisConnection>?.self) { group in
                group.addTask { try await pool.leaseConnection() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                // The other child may still produce a lease that nobody will use: give it back.
                while let other = try? await group.next() { other?.release() }
                guard let lease = first else {
                    let connectError = self.lastConnectError.value.withLock { $0 }
                    throw RedisError(
                        code: .timeout,
                        message: "no connection available within the command timeout"
                            + (connectError.map { "; last connect attempt: \($0.serverPrefix.map { $0 + " " } ?? "")\($0.message)" }
                                ?? " (is the client's run() running?)"),
                        underlying: connectError
                    )
                }
                return lease
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
                if let connectError = self.lastConnectError.value.withLock({ $0 }) { throw connectError }
                throw RedisError(
                    code: .connectFailed,
                    message: "cannot connect to \(self.configuration.host):\(self.configuration.port)",
                    underlying: error
                )
            default:
                throw RedisError(code: .connectFailed, message: "no connection", underlying: error)
            }
        } catch is CancellationError {
            throw RedisError(code: .cancelled, message: "the command was cancelled")
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
