import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

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
/// The pool (``MySQLConfiguration/Pool``) keeps minimum and maximum connections, closes idle ones after the idle
/// timeout, pings idle ones (`COM_PING`), bounds the wait for a connection, and trips a circuit breaker when
/// connecting keeps failing; a connection that closes (killed, network failure, timed-out query) leaves the pool and
/// is replaced.
///
/// Thread-safety: `Sendable`; share one client across tasks.
public final class MySQLClient: Service, Sendable {
    /// The configuration the client was created with.
    public let configuration: MySQLConfiguration
    let pool: MySQLConnectionPool<ContinuousClock>
    let logger: Logger

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
        // Built once: the CA and client files are read (and an SSL context made) for the client, not per
        // connection. A file that cannot be read fails every connection attempt with the same clear error.
        let tls = Result { () throws(MySQLError) in try MySQLTLSSetup(configuration: configuration) }
        self.pool = MySQLConnectionPool(
            configuration: configuration.pool, eventLoopGroup: eventLoopGroup, clock: ContinuousClock(), logger: logger
        ) { id in
            try await MySQLConnection.connect(
                configuration: configuration, tls: tls.get(), id: id, eventLoop: eventLoopGroup.any(), logger: logger)
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
    ///
    /// Throws a ``MySQLError/Code/timeout`` error when no connection is free within
    /// ``MySQLConfiguration/Pool/leaseTimeout``.
    public func withConnection<Result>(_ body: (MySQLConnection) async throws -> Result) async throws -> Result {
        let connection = try await self.pool.lease()
        let result: Result
        do {
            result = try await body(connection)
        } catch {
            await self.release(connection)
            throw error
        }
        await self.release(connection)
        return result
    }

    /// Hands a connection back; a closed one is dropped, so it is never leased again.
    private func release(_ connection: MySQLConnection) async {
        if connection.isInTransaction && !connection.isClosed {
            // A transaction left open (e.g. a manual START TRANSACTION) must not reach the next user.
            self.logger.warning("a pooled connection came back inside a transaction; rolling back")
            do {
                try await connection.query("ROLLBACK")
            } catch {
                connection.close()
            }
        }
        self.pool.release(connection)
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
}

extension MySQLConnection {
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
