import Logging
import NIOCore

/// A command handed to the channel, with the promise its result completes.
struct MySQLRequest: Sendable {
    var command: MySQLCommand
    var promise: EventLoopPromise<MySQLCommandResult>
    var timeout: TimeAmount?
}

/// What the handshake told us.
struct MySQLConnectionInfo: Sendable {
    var connectionID: UInt32
    var serverVersion: String
}

/// The thin I/O layer: feeds packets to ``MySQLConnectionStateMachine`` and performs its actions. Commands run one
/// at a time, in the order they were written.
///
/// Thread-safety: used on its channel's event loop only.
final class MySQLChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = MySQLPacket
    typealias OutboundIn = MySQLRequest
    typealias OutboundOut = ByteBuffer

    private var state: MySQLConnectionStateMachine
    private var queue = CircularBuffer<MySQLRequest>()
    private var current: MySQLRequest?
    private var timeoutTask: Scheduled<Void>?
    private let connectPromise: EventLoopPromise<MySQLConnectionInfo>
    private let connectTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private let logger: Logger

    init(
        authentication: MySQLAuthenticationStateMachine, connectTimeout: TimeAmount,
        connectPromise: EventLoopPromise<MySQLConnectionInfo>, logger: Logger
    ) {
        self.state = MySQLConnectionStateMachine(authentication: authentication)
        self.connectTimeout = connectTimeout
        self.connectPromise = connectPromise
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.timeoutTask = context.eventLoop.scheduleTask(in: self.connectTimeout) {
            loopBound.value.run(loopBound.value.state.timedOut())
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.run(self.state.connectionClosed())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = Self.unwrapInboundIn(data)
        self.run(self.state.packetReceived(packet))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.run(self.state.connectionClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let mysqlError = error as? MySQLError, mysqlError.code == .protocolError {
            self.logger.debug("MySQL protocol error", metadata: ["error": "\(mysqlError)"])
        }
        self.run(self.state.connectionClosed(error: error))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        promise?.succeed()
        if self.state.isClosed {
            request.promise.fail(MySQLError(code: .connectionClosed, message: "the connection is closed"))
            return
        }
        self.queue.append(request)
        self.startNextIfReady()
    }

    /// Closes politely with `COM_QUIT` when the connection is idle.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, self.state.isReady, self.current == nil, self.queue.isEmpty {
            self.run(self.state.startCommand(.quit), closePromise: promise)
            return
        }
        context.close(mode: mode, promise: promise)
    }

    private func startNextIfReady() {
        guard self.current == nil, self.state.isReady, let next = self.queue.popFirst() else { return }
        self.current = next
        if let timeout = next.timeout, let context = self.context {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            self.timeoutTask = context.eventLoop.scheduleTask(in: timeout) {
                loopBound.value.run(loopBound.value.state.timedOut())
            }
        }
        self.run(self.state.startCommand(next.command))
    }

    private func run(_ actions: [MySQLConnectionStateMachine.Action], closePromise: EventLoopPromise<Void>? = nil) {
        for action in actions {
            switch action {
            case .send(let payload, let sequenceID):
                guard let context = self.context else { continue }
                var out = context.channel.allocator.buffer(capacity: payload.readableBytes + 8)
                MySQLPacketEncoder.encode(payload: payload, sequenceID: sequenceID, into: &out)
                context.writeAndFlush(Self.wrapOutboundOut(out), promise: nil)
            case .connected(let connectionID, let serverVersion):
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                self.connectPromise.succeed(MySQLConnectionInfo(connectionID: connectionID, serverVersion: serverVersion))
                self.startNextIfReady()
            case .failConnect(let error):
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                self.connectPromise.fail(error)
            case .succeedCommand(let result):
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                let request = self.current
                self.current = nil
                request?.promise.succeed(result)
                self.startNextIfReady()
            case .failCommand(let error):
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                let request = self.current
                self.current = nil
                request?.promise.fail(error)
                self.startNextIfReady()
            case .failAll(let error):
                let current = self.current
                self.current = nil
                current?.promise.fail(error)
                while let request = self.queue.popFirst() { request.promise.fail(error) }
            case .close:
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                // Anything queued after the close can no longer run.
                let error = MySQLError(code: .connectionClosed, message: "the connection is closed")
                while let request = self.queue.popFirst() { request.promise.fail(error) }
                self.context?.close(mode: .all, promise: closePromise)
            }
        }
        if actions.isEmpty, let closePromise { closePromise.succeed() }
    }
}
