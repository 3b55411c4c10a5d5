import ClientTLS
import Logging
import NIOCore
import Synchronization

/// State that the event loop writes and any thread reads.
final class AMQPConnectionSharedState: Sendable {
    struct Values {
        var isBlocked = false
        var blockedReason: String?
        var closeError: AMQPError?
    }

    let values = Mutex(Values())
}

/// What an ``AMQPChannel`` shares with the handler: why it closed. Each open creates a new one, so a channel
/// object never talks to a later channel that reuses its number.
final class AMQPChannelSharedState: Sendable {
    let closeError = Mutex<AMQPError?>(nil)
}

/// The thin `ChannelHandler` between NIO and the state machines: it feeds frames into
/// ``AMQPConnectionStateMachine`` and the per-channel ``AMQPChannelStateMachine``s and performs their actions
/// (writing frames, completing promises, yielding deliveries). Every method runs on the connection's event loop.
final class AMQPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = AMQPFrame
    typealias OutboundOut = ByteBuffer

    private var stateMachine: AMQPConnectionStateMachine
    private var channels: [UInt16: AMQPChannelStateMachine] = [:]
    private var channelStates: [UInt16: AMQPChannelSharedState] = [:]
    private var returnContinuations: [UInt16: AsyncStream<AMQPReturnedMessage>.Continuation] = [:]
    private var context: ChannelHandlerContext?
    /// Set once the connection's end has been handled (``closeEverything(_:)`` runs once).
    private var everythingClosed = false
    private var tuning: AMQPConnectionStateMachine.Tuning?
    private var heartbeatTask: RepeatedTask?
    private var nextChannelID: UInt16 = 1
    private var needsFlush = false
    private let connectPromise: EventLoopPromise<AMQPConnectionStateMachine.Tuning>
    private var connectDone = false
    let closePromise: EventLoopPromise<Void>
    let shared: AMQPConnectionSharedState
    private(set) var serverProperties = AMQPFieldTable()
    private let logger: Logger

    init(
        configuration: AMQPConnectionConfiguration, eventLoop: any EventLoop, shared: AMQPConnectionSharedState,
        logger: Logger
    ) {
        var properties: AMQPFieldTable = [
            "product": "swift-amqp-client",
            "platform": "Swift",
            "version": "0.1.0",
            "capabilities": .table([
                "publisher_confirms": true,
                "exchange_exchange_bindings": true,
                "basic.nack": true,
                "consumer_cancel_notify": true,
                "connection.blocked": true,
                "authentication_failure_close": true,
                "per_consumer_qos": true,
            ]),
        ]
        if let name = configuration.connectionName { properties["connection_name"] = .string(name) }
        self.stateMachine = AMQPConnectionStateMachine(
            credentials: .init(
                username: configuration.username, password: configuration.password,
                virtualHost: configuration.virtualHost, heartbeat: configuration.heartbeat,
                frameMax: configuration.frameMax, channelMax: configuration.channelMax, clientProperties: properties))
        self.connectPromise = eventLoop.makePromise()
        self.closePromise = eventLoop.makePromise()
        self.shared = shared
        self.logger = logger
    }

    var connectFuture: EventLoopFuture<AMQPConnectionStateMachine.Tuning> { self.connectPromise.futureResult }

    // MARK: NIO events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.run(self.stateMachine.connected()) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.run(self.stateMachine.connected())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.run(self.stateMachine.channelInactive())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let amqpError = (error as? AMQPError) ?? .connectionClosed("connection error: \(error)")
        self.run(self.stateMachine.errorCaught(amqpError))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        self.stateMachine.frameReceived()
        switch frame {
        case .heartbeat:
            break
        case .method(0, let method):
            if case .connectionStart(_, _, let properties, _, _) = method { self.serverProperties = properties }
            self.run(self.stateMachine.methodReceived(method))
        case .header(0, _), .body(0, _):
            self.run(self.stateMachine.errorCaught(.protocolError("content on channel 0")))
        default:
            let id = frame.channel
            guard self.channels[id] != nil else {
                // Frames racing a channel that was just closed are dropped.
                return
            }
            self.runChannel(id, self.channels[id]!.frameReceived(frame))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.flushIfNeeded()
        context.fireChannelReadComplete()
    }

    // MARK: requests (on the event loop)

    /// Fails the handshake if it has not finished after `timeout`; with a TLS error when it is the TLS handshake that
    /// has not finished (its handler is still in the pipeline).
    func startConnectTimeout(_ timeout: TimeAmount) {
        guard let context else { return }
        context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard !self.connectDone else { return }
            let tlsError = (try? context.pipeline.syncOperations.handler(type: ClientTLSHandshakeHandler.self))?
                .timeoutError.map { AMQPError($0) }
            self.run([.closeConnection(tlsError ?? AMQPError(code: .timeout, message: "the AMQP handshake timed out"))])
        }
    }

    func openChannel(shared: AMQPChannelSharedState, promise: EventLoopPromise<UInt16>) {
        guard self.stateMachine.isOpen, let tuning else {
            promise.fail(self.closedError)
            return
        }
        let channelMax = tuning.channelMax == 0 ? UInt16.max : tuning.channelMax
        guard self.channels.count < Int(channelMax) else {
            promise.fail(AMQPError.invalidArgument("all \(channelMax) channels are in use"))
            return
        }
        var id = self.nextChannelID
        while self.channels[id] != nil || id == 0 || id > channelMax { id = id >= channelMax ? 1 : id + 1 }
        self.nextChannelID = id >= channelMax ? 1 : id + 1
        self.channels[id] = AMQPChannelStateMachine(id: id, frameMax: tuning.frameMax)
        self.channelStates[id] = shared
        let rpcPromise = promise.futureResult.eventLoop.makePromise(of: AMQPRPCResponse.self)
        let channelID = id
        rpcPromise.futureResult.whenComplete { result in
            switch result {
            case .success: promise.succeed(channelID)
            case .failure(let error): promise.fail(error)
            }
        }
        self.runChannel(id, self.channels[id]!.open(promise: rpcPromise))
        self.flushIfNeeded()
    }

    func setReturnContinuation(
        _ continuation: AsyncStream<AMQPReturnedMessage>.Continuation, channel id: UInt16,
        shared: AMQPChannelSharedState
    ) {
        guard self.channels[id] != nil, self.channelStates[id] === shared else {
            continuation.finish()
            return
        }
        self.returnContinuations[id] = continuation
    }

    /// Runs `body` against channel `id` and performs its actions; `missing` is called when there is no such channel.
    func withChannel(
        _ id: UInt16, shared: AMQPChannelSharedState, missing: (AMQPError) -> Void,
        _ body: (inout AMQPChannelStateMachine) -> [AMQPChannelStateMachine.Action]
    ) {
        guard self.channels[id] != nil, self.channelStates[id] === shared else {
            let error = shared.closeError.withLock { $0 }
            missing(error ?? (self.stateMachine.isOpen ? .channelClosed("channel \(id) is closed") : self.closedError))
            return
        }
        let actions = body(&self.channels[id]!)
        self.runChannel(id, actions)
    }

    /// Writes what the last requests queued, in one flush.
    func heartbeatTick() {
        self.run(self.stateMachine.heartbeatTick())
    }

    func flushIfNeeded() {
        guard self.needsFlush, let context else { return }
        self.needsFlush = false
        context.flush()
    }

    func close(promise: EventLoopPromise<Void>) {
        self.closePromise.futureResult.whenComplete { _ in promise.succeed() }
        self.run(self.stateMachine.closeRequested())
        self.flushIfNeeded()
        // A broker that blocks the connection (a resource alarm) reads nothing, so its close-ok may never come: the
        // socket is closed after a short wait instead, which AMQP allows, so a stopping client is not held up.
        guard !self.everythingClosed, let context else { return }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeOkTimeout) {
            guard !self.everythingClosed else { return }
            self.logger.info(
                "no close-ok from the broker; closing the socket",
                metadata: ["waited": "\(Self.closeOkTimeout)", "blocked": "\(self.shared.values.withLock { $0.isBlocked })"])
            self.run([.closeConnection(.connectionClosed("the connection was closed by the client"))])
        }
    }

    /// How long a client's `connection.close` waits for the broker's `close-ok` before closing the socket.
    static let closeOkTimeout: TimeAmount = .seconds(2)

    private var closedError: AMQPError {
        self.shared.values.withLock { $0.closeError } ?? .connectionClosed()
    }

    // MARK: performing actions

    private func write(_ frames: [AMQPFrame], promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(self.closedError)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        do {
            for frame in frames { try frame.encode(into: &buffer) }
        } catch {
            promise?.fail(error)
            return
        }
        context.write(self.wrapOutboundOut(buffer), promise: promise)
        self.needsFlush = true
    }

    private func run(_ actions: [AMQPConnectionStateMachine.Action]) {
        for action in actions {
            switch action {
            case .sendProtocolHeader:
                guard let context else { continue }
                context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(bytes: AMQPProtocolHeader.bytes)), promise: nil)
            case .send(let frame):
                self.write([frame], promise: nil)
                self.flushIfNeeded()
            case .connected(let tuning):
                self.tuning = tuning
                self.connectDone = true
                if tuning.heartbeat > 0, let context {
                    let interval = TimeAmount.milliseconds(Int64(tuning.heartbeat) * 500)
                    let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                    self.heartbeatTask = context.eventLoop.scheduleRepeatedTask(
                        initialDelay: interval, delay: interval
                    ) { _ in
                        bound.value.heartbeatTick()
                    }
                }
                self.connectPromise.succeed(tuning)
            case .closeConnection(let error):
                self.closeEverything(error)
            case .blocked(let reason):
                self.shared.values.withLock {
                    $0.isBlocked = true
                    $0.blockedReason = reason
                }
                self.logger.warning("the broker blocked the connection", metadata: ["reason": "\(reason)"])
            case .unblocked:
                self.shared.values.withLock { $0.isBlocked = false }
                self.logger.info("the broker unblocked the connection")
            }
        }
    }

    private func closeEverything(_ error: AMQPError) {
        guard !self.everythingClosed else { return }
        self.everythingClosed = true
        self.shared.values.withLock { if $0.closeError == nil { $0.closeError = error } }
        self.heartbeatTask?.cancel()
        self.heartbeatTask = nil
        if !self.connectDone {
            self.connectDone = true
            self.connectPromise.fail(error)
        } else if error.code != .connectionClosed || error.message != "the connection was closed by the client" {
            self.logger.warning("AMQP connection closed", metadata: ["error": "\(error)"])
        }
        for id in Array(self.channels.keys) {
            guard self.channels[id] != nil else { continue }
            self.runChannel(id, self.channels[id]!.connectionClosed(error))
        }
        self.channels.removeAll()
        self.channelStates.removeAll()
        self.flushIfNeeded()
        if let context {
            context.close(promise: nil)
        }
        self.closePromise.succeed()
    }

    private func runChannel(_ id: UInt16, _ actions: [AMQPChannelStateMachine.Action]) {
        for action in actions {
            switch action {
            case .send(let frames, let promise):
                self.write(frames, promise: promise)
            case .succeedRPC(let promise, let response):
                promise.succeed(response)
            case .failRPC(let promise, let error):
                promise.fail(error)
            case .failWrite(let promise, let error):
                promise?.fail(error)
            case .succeedConfirms(let promises):
                for promise in promises { promise.succeed() }
            case .failConfirms(let promises, let error):
                for promise in promises { promise.fail(error) }
            case .yield(let continuation, let message):
                continuation.yield(message)
            case .finishConsumer(let continuation, let error):
                if let error { continuation.finish(throwing: error) } else { continuation.finish() }
            case .returned(let message, let code, let text):
                self.returnContinuations[id]?.yield(
                    AMQPReturnedMessage(
                        replyCode: code, replyText: text, exchange: message.exchange, routingKey: message.routingKey,
                        properties: message.properties, body: message.body))
            case .channelClosed(let error):
                self.channels.removeValue(forKey: id)
                self.channelStates.removeValue(forKey: id)?.closeError.withLock { if $0 == nil { $0 = error } }
                self.returnContinuations.removeValue(forKey: id)?.finish()
                if error.code == .brokerClosedChannel {
                    self.logger.debug("the broker closed a channel", metadata: ["channel": "\(id)", "error": "\(error)"])
                }
            case .connectionError(let error):
                self.run(self.stateMachine.errorCaught(error))
                return
            }
        }
    }
}
