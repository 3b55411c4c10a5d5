import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A connection to an AMQP 0-9-1 broker (RabbitMQ), on SwiftNIO.
///
/// ```swift
/// let connection = try await AMQPConnection.connect(
///     configuration: .init(url: "amqp://guest:guest@127.0.0.1:5672/"), logger: logger)
/// let channel = try await connection.openChannel()
/// try await channel.exchangeDeclare(name: "events", type: .topic, durable: true)
/// try await channel.queueDeclare(name: "q", durable: true, arguments: ["x-dead-letter-exchange": "events.dlx"])
/// try await channel.queueBind(queue: "q", exchange: "events", routingKey: "thing.created")
/// try await channel.confirmSelect()
/// try await channel.publish(
///     ByteBuffer(string: #"{"id":1}"#), exchange: "events", routingKey: "thing.created",
///     properties: .init(contentType: "application/json", deliveryMode: .persistent))   // returns once acked
/// try await channel.basicQos(prefetchCount: 256)
/// let consumer = try await channel.consume(queue: "q")
/// for try await delivery in consumer {
///     print(String(buffer: delivery.body))
///     try await delivery.ack()
/// }
/// try await connection.close()
/// ```
///
/// The connection negotiates with PLAIN, sends and checks heartbeats (two missed intervals close it with
/// ``AMQPError/Code/connectionClosed``), and multiplexes channels. A channel error closes that channel only. For
/// automatic reconnection use ``AMQPClient``.
///
/// Thread-safety: `AMQPConnection` is `Sendable`; every method may be called from any task. The work happens on the
/// connection's event loop.
public final class AMQPConnection: Sendable {
    let nioChannel: any Channel
    let handler: NIOLoopBound<AMQPConnectionHandler>
    let shared: AMQPConnectionSharedState
    /// The logger the connection logs to (never with the password).
    public let logger: Logger
    /// The frame size agreed with the broker.
    public let frameMax: UInt32
    /// The heartbeat interval agreed with the broker, in seconds (0: none).
    public let heartbeat: UInt16
    /// The most channels agreed with the broker.
    public let channelMax: UInt16
    /// The properties the broker announced in `connection.start` (product, version, capabilities, ...).
    public let serverProperties: AMQPFieldTable

    /// The event loop the connection runs on.
    public var eventLoop: any EventLoop { self.nioChannel.eventLoop }

    /// Connects (with TLS when ``AMQPConnectionConfiguration/tls`` is set, e.g. by an `amqps://` URL), authenticates
    /// and opens the virtual host, or throws ``AMQPError`` (`timeout`, `tls`, `authenticationFailed`,
    /// `connectionClosed`, `brokerClosedConnection`, ...) within the configuration's `connectTimeout`. No error or log
    /// line contains the password.
    public static func connect(
        configuration: AMQPConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> AMQPConnection {
        var logger = logger
        logger[metadataKey: "amqp_connection"] = "\(configuration.host):\(configuration.port)"
        let shared = AMQPConnectionSharedState()
        let connectLogger = logger
        let peer = "\(configuration.host):\(configuration.port)"
        let tls = try configuration.tls.map { settings throws(AMQPError) in
            try AMQPTLS.setup(configuration: configuration, tls: settings)
        }
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        let output: (any Channel, NIOLoopBound<AMQPConnectionHandler>, EventLoopFuture<AMQPConnectionStateMachine.Tuning>)
        do {
            output = try await bootstrap.connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = AMQPConnectionHandler(
                        configuration: configuration, eventLoop: channel.eventLoop, shared: shared,
                        logger: connectLogger)
                    if let tls {
                        try channel.pipeline.syncOperations.addHandlers(
                            AMQPTLS.handlers(setup: tls, configuration: configuration))
                    } else {
                        try channel.pipeline.syncOperations.addHandler(AMQPTLS.plainConnectionGuard(peer: peer))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(AMQPFrameDecoder(maxFrameSize: configuration.frameMax)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    handler.startConnectTimeout(configuration.connectTimeout)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop), handler.connectFuture)
                }
            }
        } catch let error as AMQPError {
            throw error
        } catch let error as ChannelError {
            if case .connectTimeout = error {
                throw AMQPError(code: .timeout, message: "connecting to \(configuration) timed out")
            }
            throw AMQPError.connectionClosed("cannot connect to \(configuration): \(error)")
        } catch {
            throw AMQPError.connectionClosed("cannot connect to \(configuration): \(error)")
        }
        let tuning = try await output.2.get()
        let serverProperties = try await output.0.eventLoop.submit { output.1.value.serverProperties }.get()
        logger.debug(
            "AMQP connection open",
            metadata: ["frame_max": "\(tuning.frameMax)", "heartbeat": "\(tuning.heartbeat)"])
        return AMQPConnection(
            nioChannel: output.0, handler: output.1, shared: shared, logger: logger, tuning: tuning,
            serverProperties: serverProperties)
    }

    private init(
        nioChannel: any Channel, handler: NIOLoopBound<AMQPConnectionHandler>, shared: AMQPConnectionSharedState,
        logger: Logger, tuning: AMQPConnectionStateMachine.Tuning, serverProperties: AMQPFieldTable
    ) {
        self.nioChannel = nioChannel
        self.handler = handler
        self.shared = shared
        self.logger = logger
        self.frameMax = tuning.frameMax
        self.heartbeat = tuning.heartbeat
        self.channelMax = tuning.channelMax
        self.serverProperties = serverProperties
    }

    /// Whether the connection is open (not closed by either side, not lost).
    public var isOpen: Bool { self.shared.values.withLock { $0.closeError == nil } }

    /// Whether the broker has blocked publishing on this connection (`connection.blocked`, e.g. a memory alarm).
    public var isBlocked: Bool { self.shared.values.withLock { $0.isBlocked } }
    /// The reason the broker gave for blocking the connection, while it is blocked.
    public var blockedReason: String? { self.shared.values.withLock { $0.isBlocked ? $0.blockedReason : nil } }

    /// Why the connection closed, once it has.
    public var closeError: AMQPError? { self.shared.values.withLock { $0.closeError } }

    /// Opens a new channel.
    public func openChannel() async throws -> AMQPChannel {
        let shared = AMQPChannelSharedState()
        let id: UInt16 = try await self.onEventLoop { handler, promise in
            handler.openChannel(shared: shared, promise: promise)
        }
        return AMQPChannel(id: id, connection: self, shared: shared)
    }

    /// Closes the connection politely (`connection.close`, waiting for `close-ok`). Pending requests fail with
    /// ``AMQPError/Code/connectionClosed``.
    public func close() async throws {
        let _: Void = try await self.onEventLoop { handler, promise in handler.close(promise: promise) }
    }

    /// Waits until the connection closes, for any reason, and returns why.
    public func closed() async -> AMQPError {
        let handler = self.handler
        let future = self.eventLoop.flatSubmit { handler.value.closePromise.futureResult }
        _ = try? await future.get()
        return self.closeError ?? .connectionClosed()
    }

    /// Runs `body` on the event loop with the handler and a promise, then awaits the promise.
    func onEventLoop<T: Sendable>(
        _ body: @escaping @Sendable (AMQPConnectionHandler, EventLoopPromise<T>) -> Void
    ) async throws -> T {
        let promise = self.eventLoop.makePromise(of: T.self)
        let handler = self.handler
        self.eventLoop.execute {
            body(handler.value, promise)
            handler.value.flushIfNeeded()
        }
        return try await promise.futureResult.get()
    }

    /// Runs `body` on the event loop with the handler.
    func executeOnEventLoop(_ body: @escaping @Sendable (AMQPConnectionHandler) -> Void) {
        let handler = self.handler
        self.eventLoop.execute {
            body(handler.value)
            handler.value.flushIfNeeded()
        }
    }
}
