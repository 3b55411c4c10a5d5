import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import _ConnectionPoolModule

/// A MySQL/MariaDB client with a connection pool: the type most code uses.
///
/// Run it as a swift-service-lifecycle `Service` (its ``run()`` maintains the pool until cancelled or graceful
/// shutdown), then query through it: each call leases a connection and hands it back afterwards.
///
/// ```swift
/// let client = MySQLClient(
///     configuration: .init(host: "127.0.0.1", port: 3306, username: "orderuser", password: "orderpass",
///                          database: "order_db"),
///     logger: logger)
/// let group = ServiceGroup(services: [client], logger: logger)   // or: async let _ = client.run()
///
/// let result = try await client.query("SELECT id, total_amount FROM orders WHERE id = ?", [.string(id)])
/// for row in result.rows {
///     let amount = try row.decode(String.self, column: "total_amount")   // DECIMAL as exact text
/// }
/// try await client.withTransaction { connection in
///     try await connection.query("INSERT INTO orders (id) VALUES (?)", [.string(id)])
///     try await connection.query("INSERT INTO outbox (order_id) VALUES (?)", [.string(id)])
/// }   // COMMIT, or ROLLBACK if the closure throws
/// ```
///
/// Built on postgres-nio's `_ConnectionPoolModule`: minimum and maximum connections, idle timeout, keep-alive
/// `COM_PING`; a connection that closes (killed, network failure, timed-out query) leaves the pool and is replaced.
///
/// Thread-safety: `Sendable`; share one client across tasks.
public final class MySQLClient: Service, Sendable {
    typealias Pool = ConnectionPool<
        MySQLConnection, MySQLConnection.ID, ConnectionIDGenerator, ConnectionRequest<MySQLConnection>,
        ConnectionRequest<MySQLConnection>.ID, MySQLKeepAliveBehavior, NoOpConnectionPoolMetrics<Int>,
        ContinuousClock
    >

    /// The configuration the client was created with.
    public let configuration: MySQLConfiguration
    let pool: Pool
    let logger: Logger
    /// Why the last connection attempt failed, so a request the pool cannot serve says why (e.g. a wrong password).
    private let lastConnectError: LastConnectError

    /// Creates a client; nothing connects until ``run()`` runs.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: where connections run; defaults to NIO's shared singleton group.
    public init(
        configuration: MySQLConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        let lastConnectError = LastConnectError()
        self.lastConnectError = lastConnectError
        var poolConfiguration = ConnectionPoolConfiguration()
        poolConfiguration.minimumConnectionCount = configuration.pool.minimumConnections
        poolConfiguration.maximumConnectionSoftLimit = configuration.pool.maximumConnections
        poolConfiguration.maximumConnectionHardLimit = configuration.pool.maximumConnections
        poolConfiguration.idleTimeout = configuration.pool.idleTimeout
        poolConfiguration.circuitBreakerTripAfter = configuration.pool.circuitBreakerTripAfter
        self.pool = Pool(
            configuration: poolConfiguration,
            idGenerator: ConnectionIDGenerator(),
            keepAliveBehavior: MySQLKeepAliveBehavior(frequency: configuration.pool.keepAliveFrequency),
            observabilityDelegate: NoOpConnectionPoolMetrics(connectionIDType: Int.self),
            clock: ContinuousClock()
        ) { id, _ in
            do {
                let connection = try await MySQLConnection.connect(
                    configuration: configuration, id: id, eventLoop: eventLoopGroup.any(), logger: logger)
                lastConnectError.value.withLock { $0 = nil }
                return ConnectionAndMetadata(connection: connection, maximalStreamsOnConnection: 1)
            } catch {
                let mysqlError = error as? MySQLError
                    ?? MySQLError(code: .connectionClosed, message: "connecting failed: \(error)")
                lastConnectError.value.withLock { $0 = mysqlError }
                logger.warning("MySQL connection attempt failed", metadata: ["error": "\(mysqlError)"])
                throw mysqlError
            }
        }
    }

    /// Maintains the pool until the task is cancelled or a graceful shutdown begins; then closes every
    /// connection. Call it once.
    public func run() async {
        await cancelWhenGracefulShutdown {
            await self.pool.run()
        }
    }

    /// Leases a connection for `body` and returns it to the pool afterwards. A connection found closed is
    /// dropped and another one leased.
    public func withConnection<Result>(_ body: (MySQLConnection) async throws -> Result) async throws -> Result {
        let lease = try await self.lease()
        let result: Result
        do {
            result = try await body(lease.connection)
        } catch {
            await self.release(lease)
            throw error
        }
        await self.release(lease)
        return result
    }

    /// Hands a connection back; a closed one only after the pool has seen it close, so it is never leased again.
    private func release(_ lease: ConnectionLease<MySQLConnection>) async {
        if !lease.connection.isClosed && lease.connection.isInTransaction {
            // A transaction left open (e.g. a manual START TRANSACTION) must not reach the next user.
            self.logger.warning("a pooled connection came back inside a transaction; rolling back")
            do {
                try await lease.connection.query("ROLLBACK")
            } catch {
                lease.connection.close()
            }
        }
        if lease.connection.isClosed {
            try? await lease.connection.channel.closeFuture.get()
        }
        lease.release()
    }

    /// Runs `sql` on a pooled connection; see ``MySQLConnection/query(_:_:timeout:)``.
    @discardableResult
    public func query(_ sql: String, _ binds: [MySQLData] = [], timeout: Duration? = nil) async throws
        -> MySQLQueryResult
    {
        try await self.withConnection { try await $0.query(sql, binds, timeout: timeout) }
    }

    /// Runs `body` in a transaction on one pooled connection: `COMMIT` when it returns, `ROLLBACK` when it throws.
    /// The connection goes back to the pool only after the transaction ended (or is closed if ending it failed).
    @discardableResult
    public func withTransaction<Result>(
        isolation: MySQLIsolationLevel? = nil, _ body: (MySQLConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection { connection in
            try await connection.withTransaction(isolation: isolation, body)
        }
    }

    /// Checks that a pooled connection works (`COM_PING`).
    public func ping() async throws {
        try await self.withConnection { try await $0.ping() }
    }

    private func lease() async throws -> ConnectionLease<MySQLConnection> {
        for _ in 0..<4 {
            let lease: ConnectionLease<MySQLConnection>
            do {
                lease = try await self.pool.leaseConnection()
            } catch let error as ConnectionPoolError {
                if error == .connectionCreationCircuitBreakerTripped,
                    var cause = self.lastConnectError.value.withLock({ $0 })
                {
                    // Keep the cause's code (e.g. authenticationFailed) so callers can tell why.
                    cause.message = "no connection from the pool: \(cause.message)"
                    throw cause
                }
                throw MySQLError(code: .poolUnavailable, message: "no connection from the pool: \(error)")
            }
            if !lease.connection.isClosed { return lease }
            // Closed under us (killed, network): the pool learns it through onClose and replaces it.
            lease.connection.close()
            await self.release(lease)
        }
        throw MySQLError(code: .connectionClosed, message: "every leased connection was closed")
    }
}

extension MySQLConnection: PooledConnection {
    /// Registers `closure` to run when the connection has closed.
    public func onClose(_ closure: @escaping @Sendable ((any Error)?) -> Void) {
        self.channel.closeFuture.whenComplete { result in
            switch result {
            case .success: closure(nil)
            case .failure(let error): closure(error)
            }
        }
    }
}

/// The last connection failure, shared by the client and its connection factory.
final class LastConnectError: Sendable {
    let value = Mutex<MySQLError?>(nil)
}

/// Pings idle pooled connections.
struct MySQLKeepAliveBehavior: ConnectionKeepAliveBehavior {
    let frequency: Duration?
    var keepAliveFrequency: Duration? { self.frequency }

    func runKeepAlive(for connection: MySQLConnection) async throws {
        try await connection.ping()
    }
}
