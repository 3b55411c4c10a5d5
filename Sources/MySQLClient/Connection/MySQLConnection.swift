import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One connection to a MySQL or MariaDB server.
///
/// Usually you get one from ``MySQLClient`` (`withConnection`, `withTransaction`); ``connect(configuration:id:eventLoop:logger:)``
/// opens one without a pool. Statements run one at a time in the order they were issued; statements with
/// parameters use the binary protocol through a per-connection prepared-statement cache.
///
/// Thread-safety: `Sendable`; may be used from any task, but a connection runs one statement at a time.
public final class MySQLConnection: Sendable {
    /// The pool's identifier of this connection.
    public let id: Int
    /// The server's thread id (`CONNECTION_ID()`), e.g. for `KILL`.
    public let serverConnectionID: UInt32
    /// The server's version string, e.g. `10.11.6-MariaDB`.
    public let serverVersion: String
    /// Whether the connection runs inside TLS (see ``MySQLConfiguration/tls``).
    public let isTLS: Bool
    let channel: any Channel
    /// The channel's handler, for submitting requests on the event loop without a trip through the pipeline.
    private let handler: NIOLoopBound<MySQLChannelHandler>
    let logger: Logger
    let configuration: MySQLConfiguration
    private let statements = Mutex(StatementCache())
    private let transactionOpen = Atomic<Bool>(false)

    struct StatementCache {
        var bySQL: [String: MySQLPreparedStatement] = [:]
        var order: [String] = []
    }

    private init(
        id: Int, info: MySQLConnectionInfo, channel: any Channel, handler: NIOLoopBound<MySQLChannelHandler>,
        configuration: MySQLConfiguration, logger: Logger
    ) {
        self.id = id
        self.handler = handler
        self.serverConnectionID = info.connectionID
        self.serverVersion = info.serverVersion
        self.isTLS = info.isTLS
        self.channel = channel
        self.configuration = configuration
        self.logger = logger
    }

    /// Whether the connection is closed (by either side).
    public var isClosed: Bool { !self.channel.isActive }

    /// Opens and authenticates a connection, then runs ``MySQLConfiguration/connectionInitialization``.
    ///
    /// TLS is negotiated as ``MySQLConfiguration/tls`` says (by default when the server offers it).
    ///
    /// Throws a ``MySQLError`` with code ``MySQLError/Code/authenticationFailed`` when the server refuses the
    /// credentials (or `caching_sha2_password` would need an unverified RSA key), ``MySQLError/Code/tls`` when TLS
    /// cannot protect the connection as configured, ``MySQLError/Code/timeout`` after
    /// ``MySQLConfiguration/connectTimeout``, and ``MySQLError/Code/connectionClosed`` when the server cannot be
    /// reached. No error or log line contains the password.
    public static func connect(
        configuration: MySQLConfiguration, id: Int = 0,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(), logger: Logger
    ) async throws -> MySQLConnection {
        try await self.connect(
            configuration: configuration, tls: MySQLTLSSetup(configuration: configuration), id: id,
            eventLoop: eventLoop, logger: logger)
    }

    /// As the public `connect`, with the TLS context built once by the caller (``MySQLClient`` shares one between
    /// its connections).
    static func connect(
        configuration: MySQLConfiguration, tls: MySQLTLSSetup, id: Int, eventLoop: any EventLoop, logger: Logger
    ) async throws -> MySQLConnection {
        var logger = logger
        logger[metadataKey: "mysql.connection"] = "\(id)"
        let connectTimeout = TimeAmount(configuration.connectTimeout)
        let connectPromise = eventLoop.makePromise(of: MySQLConnectionInfo.self)
        let authentication = MySQLAuthenticationStateMachine(configuration: configuration)
        let handlerLogger = logger
        let handlerBox = Mutex<NIOLoopBound<MySQLChannelHandler>?>(nil)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = MySQLChannelHandler(
                            authentication: authentication, tls: tls, connectTimeout: connectTimeout,
                            maximumPacketSize: configuration.maximumPacketSize, connectPromise: connectPromise,
                            logger: handlerLogger)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        handlerBox.withLock { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                    }
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            connectPromise.fail(error)
            var timedOut = false
            if case ChannelError.connectTimeout = error { timedOut = true }
            throw MySQLError(
                code: timedOut ? .timeout : .connectionClosed,
                message: "could not connect to \(configuration.host):\(configuration.port): \(error)")
        }
        let info: MySQLConnectionInfo
        do {
            info = try await connectPromise.futureResult.get()
        } catch {
            channel.close(promise: nil)
            if let error = error as? MySQLError { throw error }
            throw MySQLError(code: .connectionClosed, message: "connecting failed: \(error)")
        }
        guard let handler = handlerBox.withLock({ $0 }) else {
            channel.close(promise: nil)
            throw MySQLError(code: .connectionClosed, message: "connecting failed: the channel was not set up")
        }
        let connection = MySQLConnection(
            id: id, info: info, channel: channel, handler: handler, configuration: configuration, logger: logger)
        logger.debug(
            "MySQL connection open",
            metadata: [
                "mysql.server": "\(info.serverVersion)", "mysql.thread_id": "\(info.connectionID)",
                "mysql.tls": "\(info.isTLS)",
            ])
        do {
            for sql in configuration.connectionInitialization {
                _ = try await connection.query(sql)
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Runs `sql`. Without `binds` it uses the text protocol (`COM_QUERY`, several statements not allowed); with
    /// them, `?` placeholders are bound through a cached prepared statement (binary protocol).
    ///
    /// - Parameters:
    ///   - timeout: overrides ``MySQLConfiguration/queryTimeout`` for this statement.
    /// - Returns: the rows, affected rows and last insert id.
    /// - Throws: ``MySQLError``: the server's error (``MySQLError/Code/server``), or a client-side code;
    ///   `CancellationError` when the task is cancelled, which closes the connection.
    @discardableResult
    public func query(_ sql: String, _ binds: [MySQLData] = [], timeout: Duration? = nil) async throws
        -> MySQLQueryResult
    {
        let timeout = timeout ?? self.configuration.queryTimeout
        if binds.isEmpty {
            return self.track(try Self.expectResult(try await self.send(.query(sql), timeout: timeout)))
        }
        let statement = try await self.preparedStatement(for: sql, timeout: timeout)
        guard statement.parameterCount == binds.count else {
            throw MySQLError(
                code: .unsupported,
                message: "the statement has \(statement.parameterCount) placeholders but \(binds.count) binds")
        }
        return self.track(try Self.expectResult(try await self.send(.execute(statement, binds), timeout: timeout)))
    }

    /// Whether the server reported an open transaction after the last statement.
    public var isInTransaction: Bool { self.transactionOpen.load(ordering: .acquiring) }

    private func track(_ result: MySQLQueryResult) -> MySQLQueryResult {
        self.transactionOpen.store(result.inTransaction, ordering: .releasing)
        return result
    }

    /// Checks that the connection works (`COM_PING`).
    public func ping() async throws {
        _ = try await self.send(.ping, timeout: self.configuration.queryTimeout)
    }

    /// Runs `body` in a transaction: `START TRANSACTION`, then `COMMIT` when `body` returns, or `ROLLBACK` when it
    /// throws (the error is rethrown). If the rollback itself fails, the connection is closed so it never goes
    /// back to a pool mid-transaction.
    @discardableResult
    public func withTransaction<Result>(
        isolation: MySQLIsolationLevel? = nil, _ body: (MySQLConnection) async throws -> Result
    ) async throws -> Result {
        if let isolation {
            try await self.query("SET TRANSACTION ISOLATION LEVEL \(isolation.sql)")
        }
        try await self.query("START TRANSACTION")
        let result: Result
        do {
            result = try await body(self)
        } catch {
            do {
                try await self.query("ROLLBACK")
            } catch {
                self.logger.warning("ROLLBACK failed; closing the connection", metadata: ["error": "\(error)"])
                self.close()
            }
            throw error
        }
        do {
            try await self.query("COMMIT")
        } catch {
            // The outcome of a failed COMMIT is unknown; never reuse such a connection.
            self.close()
            throw error
        }
        return result
    }

    /// Closes the connection, politely (`COM_QUIT`) when it is idle; returns at once.
    public func close() {
        self.channel.close(mode: .all, promise: nil)
    }

    /// Closes the connection and waits until it is closed.
    public func closeAndWait() async {
        let promise = self.channel.eventLoop.makePromise(of: Void.self)
        self.channel.close(mode: .all, promise: promise)
        try? await promise.futureResult.get()
        try? await self.channel.closeFuture.get()
    }

    // MARK: - Internals

    func send(_ command: MySQLCommand, timeout: Duration?) async throws -> MySQLCommandResult {
        let timeout = timeout.map(TimeAmount.init)
        // MySQL cannot cancel a running statement on its own connection: cancelling the task closes the
        // connection (the server then aborts the statement), as Go's driver does for a cancelled context.
        do {
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { continuation in
                    // One hop onto the event loop per statement; the handler resumes the continuation when the
                    // answer is complete (or fails it when the connection is closed, so it is always resumed).
                    let request = MySQLRequest(command: command, continuation: continuation, timeout: timeout)
                    let handler = self.handler
                    if handler.eventLoop.inEventLoop {
                        handler.value.submit(request)
                    } else {
                        handler.eventLoop.execute { handler.value.submit(request) }
                    }
                }
            } onCancel: {
                self.channel.close(mode: .all, promise: nil)
            }
        } catch let error as MySQLError where error.code == .connectionClosed && Task.isCancelled {
            throw CancellationError()
        }
    }

    private static func expectResult(_ result: MySQLCommandResult) throws -> MySQLQueryResult {
        guard case .result(let result) = result else {
            throw MySQLError(code: .protocolError, message: "expected a result")
        }
        return result
    }

    func preparedStatement(for sql: String, timeout: Duration?) async throws -> MySQLPreparedStatement {
        if let cached = self.statements.withLock({ $0.bySQL[sql] }) { return cached }
        guard case .prepared(let statement) = try await self.send(.prepare(sql), timeout: timeout) else {
            throw MySQLError(code: .protocolError, message: "expected a prepared statement")
        }
        let (chosen, evicted): (MySQLPreparedStatement, [UInt32]) = self.statements.withLock { cache in
            // Another task prepared the same SQL meanwhile: keep theirs, close ours.
            if let existing = cache.bySQL[sql] { return (existing, [statement.id]) }
            cache.bySQL[sql] = statement
            cache.order.append(sql)
            var evicted: [UInt32] = []
            while cache.order.count > max(1, self.configuration.preparedStatementCacheSize) {
                let oldest = cache.order.removeFirst()
                if let old = cache.bySQL.removeValue(forKey: oldest) { evicted.append(old.id) }
            }
            return (statement, evicted)
        }
        for id in evicted {
            _ = try? await self.send(.closeStatement(id), timeout: timeout)
        }
        return chosen
    }

    /// The number of cached prepared statements (for tests and metrics).
    var cachedStatementCount: Int { self.statements.withLock { $0.bySQL.count } }
}

/// A transaction isolation level.
public enum MySQLIsolationLevel: Sendable {
    /// `READ UNCOMMITTED`.
    case readUncommitted
    /// `READ COMMITTED`.
    case readCommitted
    /// `REPEATABLE READ` (InnoDB's default).
    case repeatableRead
    /// `SERIALIZABLE`.
    case serializable

    var sql: String {
        switch self {
        case .readUncommitted: "READ UNCOMMITTED"
        case .readCommitted: "READ COMMITTED"
        case .repeatableRead: "REPEATABLE READ"
        case .serializable: "SERIALIZABLE"
        }
    }
}
