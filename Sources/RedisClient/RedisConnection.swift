import Logging
import NIOCore
import NIOPosix
import _ConnectionPoolModule

/// One connection to Redis. Many commands may be in flight at once (from one task or many); replies are matched to
/// commands in order.
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

    private init(id: Int, channel: any Channel, commandTimeout: TimeAmount, logger: Logger) {
        self.id = id
        self.channel = channel
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    /// Opens a connection, then sends `AUTH` (when a password is configured) and `SELECT` (when a database is).
    ///
    /// Throws ``RedisError`` with code ``RedisError/Code/connectFailed`` when the server cannot be reached, or
    /// ``RedisError/Code/server`` (prefix `WRONGPASS`, `NOAUTH`, ...) when it refuses the credentials.
    public static func connect(
        configuration: RedisConfiguration,
        id: Int = 0,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
        logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        var logger = logger
        logger[metadataKey: "redis.connection.id"] = "\(id)"
        let limits = configuration.limits
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(configuration.connectTimeout.timeAmount)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPValueDecoder(limits: limits)))
                        try channel.pipeline.syncOperations.addHandler(RedisChannelHandler())
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw RedisError(
                code: .connectFailed,
                message: "cannot connect to \(configuration.host):\(configuration.port)",
                underlying: error
            )
        }
        let connection = RedisConnection(
            id: id, channel: channel, commandTimeout: configuration.commandTimeout.timeAmount, logger: logger
        )
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            setup.append(.auth(username: configuration.username, password: password))
        }
        if let database = configuration.database { setup.append(.select(database)) }
        if !setup.isEmpty {
            do {
                let replies = try await connection.pipeline(setup, timeout: configuration.connectTimeout.timeAmount)
                for reply in replies { _ = try reply.get() }
            } catch {
                connection.close()
                if error.code == .server { throw error }
                throw RedisError(code: .connectFailed, message: "connection setup failed: \(error.message)", underlying: error)
            }
        }
        logger.debug("connected to Redis", metadata: ["redis.host": "\(configuration.host)", "redis.port": "\(configuration.port)"])
        return connection
    }

    /// Sends `command` and returns its reply; an error reply throws ``RedisError`` with code
    /// ``RedisError/Code/server``.
    public func execute(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        let value = try await self.send([command], timeout: self.commandTimeout)[0]
        if let error = value.redisError { throw error }
        return value
    }

    /// Sends all `commands` in one write and returns one result per command, in order. An error reply fails only its
    /// own command; a connection failure throws.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        try await self.pipeline(commands, timeout: self.commandTimeout)
    }

    func pipeline(_ commands: [RedisCommand], timeout: TimeAmount) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        try await self.send(commands, timeout: timeout).map { value in
            if let error = value.redisError { return .failure(error) }
            return .success(value)
        }
    }

    private func send(_ commands: [RedisCommand], timeout: TimeAmount) async throws(RedisError) -> [RESPValue] {
        if commands.isEmpty { return [] }
        let eventLoop = self.channel.eventLoop
        let deadline = eventLoop.now + timeout
        let requests = commands.map {
            RedisRequest(command: $0, promise: eventLoop.makePromise(of: RESPValue.self), deadline: deadline)
        }
        let written = eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            // The handler never saw these (e.g. the channel was already closed): fail them here.
            // The handler rejected them, or never saw them (the channel was already closed): the server did not get
            // them. Any other write failure may have sent part of the bytes, so it is not marked retryable.
            let redisError: RedisError
            if let error = error as? RedisError {
                redisError = error
            } else if let error = error as? ChannelError, error == .ioOnClosedChannel {
                redisError = .closedBeforeSending
            } else {
                redisError = RedisError(code: .connectionClosed, message: "writing to the connection failed", underlying: error)
            }
            for request in requests { request.promise.fail(redisError) }
        }
        self.channel.writeAndFlush(requests, promise: written)
        var values: [RESPValue] = []
        values.reserveCapacity(requests.count)
        for request in requests {
            do {
                values.append(try await request.promise.futureResult.get())
            } catch let error as RedisError {
                throw error
            } catch {
                throw RedisError(code: .connectionClosed, message: "the connection failed", underlying: error)
            }
        }
        return values
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
