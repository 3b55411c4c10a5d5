import ClientTLS
import Logging
import NIOCore
import NIOPosix
import _ConnectionPoolModule

/// One connection to Redis. Many commands may be in flight at once (from one task or many); replies are matched to
/// commands in order, and commands submitted while the connection's event loop is busy are written together in one
/// system call.
///
/// Open one with ``connect(configuration:id:eventLoop:logger:)`` or, usually, let ``RedisClient`` lease one from
/// its pool with ``RedisClient/withConnection(_:)``. Every typed command (``RedisCommandExecutor``) works here.
///
/// Thread safety: `Sendable`; any task may use it concurrently.
public final class RedisConnection: RedisCommandExecutor, PooledConnection, Sendable {
    /// An identifier, unique within one pool.
    public let id: Int
    /// The underlying NIO channel.
    public let channel: any Channel
    private let commandTimeout: TimeAmount
    private let logger: Logger
    /// Commands from any thread wait here for the event loop, which writes them in batches.
    private let outbox = RedisOutbox()
    private let handler: NIOLoopBound<RedisChannelHandler>

    private init(
        id: Int, channel: any Channel, handler: NIOLoopBound<RedisChannelHandler>, commandTimeout: TimeAmount,
        logger: Logger
    ) {
        self.id = id
        self.channel = channel
        self.handler = handler
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    /// Opens a connection (with TLS when ``RedisConfiguration/tls`` is set, waiting for its handshake), then sends
    /// `AUTH` (when a password is configured: `AUTH username password` with a ``RedisConfiguration/username``,
    /// `AUTH password` without) and `SELECT` (when a database is).
    ///
    /// Throws ``RedisError`` with code ``RedisError/Code/connectFailed`` when the server cannot be reached,
    /// ``RedisError/Code/tls`` when TLS fails (the message says which check), or ``RedisError/Code/server`` (prefix
    /// `WRONGPASS`, `NOAUTH`, ...) when it refuses the credentials.
    public static func connect(
        configuration: RedisConfiguration,
        id: Int = 0,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
        logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        let tls = try configuration.tls.map { settings throws(RedisError) in
            try RedisTLS.setup(configuration: configuration, tls: settings)
        }
        return try await Self.connect(
            configuration: configuration, tls: tls, id: id, eventLoop: eventLoop, logger: logger)
    }

    /// As the public `connect`, with the TLS context built once by the caller (the pool), not per connection.
    static func connect(
        configuration: RedisConfiguration,
        tls: ClientTLSSetup?,
        id: Int,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        var logger = logger
        logger[metadataKey: "redis.connection.id"] = "\(id)"
        let limits = configuration.limits
        let peer = "\(configuration.host):\(configuration.port)"
        // The bootstrap below runs on `eventLoop`, so the handshake handler completes this promise there.
        let handshake = tls.map { _ in eventLoop.makePromise(of: Void.self) }
        let channel: any Channel
        let handler: NIOLoopBound<RedisChannelHandler>
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls, let handshake {
                            try pipeline.addHandlers(
                                RedisTLS.handlers(setup: tls, configuration: configuration, promise: handshake))
                        } else {
                            try pipeline.addHandler(RedisTLS.plainConnectionGuard(peer: peer))
                        }
                        try pipeline.addHandler(RedisChannelHandler(limits: limits))
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            handshake?.fail(error)
            if let error = error as? RedisError { throw error }
            throw RedisError(code: .connectFailed, message: "cannot connect to \(peer)", underlying: error)
        }
        do {
            // A failed handshake closes the channel, which removes its handlers: wait for it before looking them up.
            try await handshake?.futureResult.get()
            handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self), eventLoop: channel.eventLoop)
            }.get()
        } catch {
            channel.close(promise: nil)
            if let error = error as? RedisError { throw error }
            throw RedisError(
                code: .connectFailed, message: "the connection to \(peer) closed while opening", underlying: error)
        }
        let connection = RedisConnection(
            id: id, channel: channel, handler: handler, commandTimeout: TimeAmount(configuration.commandTimeout),
            logger: logger
        )
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            setup.append(.auth(username: configuration.username, password: password))
        }
        if let database = configuration.database { setup.append(.select(database)) }
        if !setup.isEmpty {
            do {
                let replies = try await connection.pipeline(setup, timeout: TimeAmount(configuration.connectTimeout))
                for reply in replies { _ = try reply.get() }
            } catch {
                connection.close()
                if error.code == .server || error.code == .tls { throw error }
                throw RedisError(code: .connectFailed, message: "connection setup failed: \(error.message)", underlying: error)
            }
        }
        logger.debug(
            "connected to Redis",
            metadata: [
                "redis.host": "\(configuration.host)", "redis.port": "\(configuration.port)",
                "redis.tls": "\(tls == nil ? "off" : "on")",
            ])
        return connection
    }

    /// Sends `command` and returns its reply; an error reply throws ``RedisError`` with code
    /// ``RedisError/Code/server``.
    ///
    /// When the calling task is cancelled, this returns at once with ``RedisError/Code/cancelled``, even while the
    /// server does not answer; the reply, when it comes, is discarded and the connection stays usable.
    public func execute(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        let value = try await self.send(.one(command), timeout: self.commandTimeout, as: RESPValue.self) { .one($0) }
        if let error = value.redisError { throw error }
        return value
    }

    /// Sends all `commands` in one write and returns one result per command, in order. An error reply fails only its
    /// own command; a connection failure throws. Cancelling the calling task throws ``RedisError/Code/cancelled``
    /// at once, as for ``execute(_:)``.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        try await self.pipeline(commands, timeout: self.commandTimeout)
    }

    func pipeline(_ commands: [RedisCommand], timeout: TimeAmount) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        if commands.isEmpty { return [] }
        let values = try await self.send(.many(commands), timeout: timeout, as: [RESPValue].self) { .many($0) }
        return values.map { value in
            if let error = value.redisError { return .failure(error) }
            return .success(value)
        }
    }

    /// Submits `commands` and waits for the reply, or for the calling task's cancellation, whichever comes first.
    private func send<Value: Sendable>(
        _ commands: RedisRequest.Commands,
        timeout: TimeAmount,
        as: Value.Type,
        completion: (RedisReplyWaiter<Value>) -> RedisCompletion
    ) async throws(RedisError) -> Value {
        let waiter = RedisReplyWaiter<Value>()
        let request = RedisRequest(commands: commands, completion: completion(waiter), timeout: timeout)
        do {
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { continuation in
                    if waiter.start(continuation) { self.submit(request) }
                }
            } onCancel: {
                waiter.cancel()
            }
        } catch {
            throw Self.redisError(error)
        }
    }

    /// Hands `request` to the event loop. Only the submitter that finds the outbox empty schedules the write, so
    /// concurrent callers share one event-loop task, one buffer and one flush (automatic pipelining).
    private func submit(_ request: RedisRequest) {
        guard self.outbox.submit(request) else { return }
        let handler = self.handler
        let outbox = self.outbox
        self.channel.eventLoop.execute {
            handler.value.writeQueued(from: outbox)
        }
    }

    private static func redisError(_ error: any Error) -> RedisError {
        if let error = error as? RedisError { return error }
        return RedisError(code: .connectionClosed, message: "the connection failed", underlying: error)
    }

    /// `true` once the connection is closed (or closing).
    public var isClosed: Bool { !self.channel.isActive }

    /// Closes the connection; commands in flight fail with ``RedisError/Code/connectionClosed``.
    public func close() {
        self.channel.close(promise: nil)
    }

    /// Calls `closure` once the connection has closed, with the error that closed it, if any.
    public func onClose(_ closure: @escaping @Sendable ((any Error)?) -> Void) {
        self.channel.closeFuture.whenComplete { result in
            switch result {
            case .success: closure(nil)
            case .failure(let error): closure(error)
            }
        }
    }
}
