import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// A command handed to the channel, with what its result completes.
struct MySQLRequest: Sendable {
    /// Who waits for the result.
    enum Completion: Sendable {
        /// A NIO promise (tests, and callers on the event loop).
        case promise(EventLoopPromise<MySQLCommandResult>)
        /// An `async` caller: resuming it directly saves the future's callback registration, which from outside
        /// the event loop is one more hop onto it per statement.
        case continuation(UnsafeContinuation<MySQLCommandResult, any Error>)
    }

    var command: MySQLCommand
    var completion: Completion
    var timeout: TimeAmount?

    init(command: MySQLCommand, promise: EventLoopPromise<MySQLCommandResult>, timeout: TimeAmount?) {
        self.command = command
        self.completion = .promise(promise)
        self.timeout = timeout
    }

    init(
        command: MySQLCommand, continuation: UnsafeContinuation<MySQLCommandResult, any Error>, timeout: TimeAmount?
    ) {
        self.command = command
        self.completion = .continuation(continuation)
        self.timeout = timeout
    }

    func succeed(_ result: MySQLCommandResult) {
        switch self.completion {
        case .promise(let promise): promise.succeed(result)
        case .continuation(let continuation): continuation.resume(returning: result)
        }
    }

    func fail(_ error: any Error) {
        switch self.completion {
        case .promise(let promise): promise.fail(error)
        case .continuation(let continuation): continuation.resume(throwing: error)
        }
    }
}

/// What the handshake told us.
struct MySQLConnectionInfo: Sendable {
    var connectionID: UInt32
    var serverVersion: String
    /// Whether the connection runs inside TLS.
    var isTLS = false
}

/// The thin I/O layer: feeds packets to ``MySQLConnectionStateMachine`` and performs its actions. Commands run one
/// at a time, in the order they were written.
///
/// Thread-safety: used on its channel's event loop only.
final class MySQLChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = MySQLRequest
    typealias OutboundOut = ByteBuffer

    private var state: MySQLConnectionStateMachine
    /// Packets are split off the bytes read here rather than in a `ByteToMessageHandler` in front: its generic
    /// decode loop and the `NIOAny` boxing of every packet cost several per cent of the client's CPU (perf).
    private var decoder: MySQLPacketDecoder
    /// The start of a packet whose rest has not arrived yet.
    private var partial: ByteBuffer?
    private var queue = CircularBuffer<MySQLRequest>()
    private var current: MySQLRequest?
    /// The connect timeout.
    private var timeoutTask: Scheduled<Void>?
    /// When the running command times out, if it has a timeout.
    private var commandDeadline: NIODeadline?
    /// One timer for all commands, not one per command: it fires at the deadline of the command that was running
    /// when it was set and, if a later command runs by then, is set again for that one's deadline. Scheduling and
    /// cancelling a NIO timer per statement cost measurable time at tens of thousands of statements a second.
    private var commandTimer: Scheduled<Void>?
    private var commandTimerDeadline: NIODeadline?
    private let connectPromise: EventLoopPromise<MySQLConnectionInfo>
    private let connectTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private let logger: Logger
    /// How to start TLS when the state machine asks for it; `nil` only where TLS is never requested (tests).
    private let tls: MySQLTLSSetup?
    /// The TLS handler in front of this one, once TLS started.
    private var tlsHandler: NIOSSLClientHandler?

    init(
        authentication: MySQLAuthenticationStateMachine, tls: MySQLTLSSetup? = nil, connectTimeout: TimeAmount,
        maximumPacketSize: Int = 1 << 30, connectPromise: EventLoopPromise<MySQLConnectionInfo>, logger: Logger
    ) {
        self.state = MySQLConnectionStateMachine(authentication: authentication)
        self.decoder = MySQLPacketDecoder(maximumPayloadLength: maximumPacketSize)
        self.tls = tls
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
        var buffer = Self.unwrapInboundIn(data)
        if var partial = self.partial {
            self.partial = nil
            partial.writeBuffer(&buffer)
            buffer = partial
        }
        do {
            while !self.state.isClosed, let packet = try self.decoder.next(from: &buffer) {
                self.run(self.state.packetReceived(packet))
            }
        } catch {
            self.errorCaught(context: context, error: error)
            return
        }
        if buffer.readableBytes > 0, !self.state.isClosed {
            // Copied, so the channel's receive buffer is not held (it is reused for the next read when unshared).
            var rest = context.channel.allocator.buffer(capacity: max(buffer.readableBytes, 1024))
            rest.writeBuffer(&buffer)
            self.partial = rest
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.run(self.state.connectionClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.state.isNegotiatingTLS {
            // The TLS handler in front failed the handshake or refused the certificate; it closes the channel.
            let tlsError = self.tls?.explain(error) ?? MySQLError(code: .tls, message: "TLS failed: \(error)")
            self.run(self.state.tlsFailed(tlsError))
            return
        }
        if let mysqlError = error as? MySQLError, mysqlError.code == .protocolError {
            self.logger.debug("MySQL protocol error", metadata: ["error": "\(mysqlError)"])
        }
        self.run(self.state.connectionClosed(error: error))
    }

    /// The TLS handler in front reports its completed handshake (certificate checks passed) as an event.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, self.state.isNegotiatingTLS {
            if let tls = self.tls, let refusal = tls.checkName(of: self.tlsHandler?.peerCertificate) {
                self.run(self.state.tlsFailed(refusal))
                return
            }
            self.logger.debug("MySQL connection uses TLS", metadata: ["mysql.tls_mode": "\(self.tls?.mode ?? .disabled)"])
            self.run(self.state.tlsEstablished())
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed()
        self.submit(Self.unwrapOutboundIn(data))
    }

    /// Queues `request`, or fails it when the connection is closed. ``MySQLConnection`` calls this directly on the
    /// event loop instead of writing through the pipeline: a closed pipeline would drop the request silently.
    func submit(_ request: MySQLRequest) {
        if self.state.isClosed || self.context == nil {
            request.fail(MySQLError(code: .connectionClosed, message: "the connection is closed"))
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
        if mode == .all {
            self.closeNow(context: context, promise: promise)
        } else {
            context.close(mode: mode, promise: promise)
        }
    }

    /// Closes the socket at once. With TLS the close skips the TLS handler's shutdown, whose close_notify exchange
    /// a server busy with a statement never answers: NIOSSL would keep the channel open for its shutdown timeout
    /// (5 s), delaying cancellations, and a timed-out connection would still read as open to the pool. The MySQL
    /// protocol ends itself (`COM_QUIT`), so close_notify's protection against truncation adds nothing here.
    private func closeNow(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if let tlsHandler = self.tlsHandler,
            let tlsContext = try? context.pipeline.syncOperations.context(handler: tlsHandler)
        {
            tlsContext.close(mode: .all, promise: promise)  // goes to the handlers in front of TLS: the socket
        } else {
            context.close(mode: .all, promise: promise)
        }
    }

    /// Puts a TLS handler in front of this one. The `SSLRequest` already went through the pipeline to the socket,
    /// so it leaves in plain text; the TLS handler sends its ClientHello as soon as it is added to the active
    /// channel, and reports the outcome as an event (``userInboundEventTriggered(context:event:)``) or an error.
    private func startTLS() {
        guard let context = self.context else { return }
        do {
            guard let tls = self.tls else {
                throw MySQLError(code: .tls, message: "TLS was requested but is not configured")
            }
            let handler = try tls.makeHandler()
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            self.tlsHandler = handler
        } catch {
            let tlsError = error as? MySQLError ?? MySQLError(code: .tls, message: "could not start TLS: \(error)")
            self.run(self.state.tlsFailed(tlsError))
        }
    }

    private func startNextIfReady() {
        guard self.current == nil, self.state.isReady, let next = self.queue.popFirst() else { return }
        self.current = next
        if let timeout = next.timeout {
            let deadline = (self.context?.eventLoop.now ?? .now()) + timeout
            self.commandDeadline = deadline
            if let timerDeadline = self.commandTimerDeadline, timerDeadline <= deadline {
                // The timer fires first and then moves on to this command's deadline.
            } else {
                self.scheduleCommandTimer(at: deadline)
            }
        }
        self.run(self.state.startCommand(next.command))
    }

    private func scheduleCommandTimer(at deadline: NIODeadline) {
        guard let context = self.context else { return }
        self.commandTimer?.cancel()
        self.commandTimerDeadline = deadline
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.commandTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            loopBound.value.commandTimerFired()
        }
    }

    private func commandTimerFired() {
        self.commandTimer = nil
        self.commandTimerDeadline = nil
        guard let deadline = self.commandDeadline else { return }
        if deadline <= (self.context?.eventLoop.now ?? .now()) {
            self.run(self.state.timedOut())
        } else {
            self.scheduleCommandTimer(at: deadline)
        }
    }

    private func commandEnded() {
        self.commandDeadline = nil
    }

    private func run(_ actions: [MySQLConnectionStateMachine.Action], closePromise: EventLoopPromise<Void>? = nil) {
        for action in actions {
            switch action {
            case .send(let payload, let sequenceID):
                guard let context = self.context else { continue }
                if let framed = MySQLPacketEncoder.framedInPlace(payload, sequenceID: sequenceID) {
                    context.writeAndFlush(Self.wrapOutboundOut(framed), promise: nil)
                    continue
                }
                var out = context.channel.allocator.buffer(capacity: payload.readableBytes + 8)
                MySQLPacketEncoder.encode(payload: payload, sequenceID: sequenceID, into: &out)
                context.writeAndFlush(Self.wrapOutboundOut(out), promise: nil)
            case .startTLS:
                self.startTLS()
            case .continuingWithoutTLS:
                self.logger.debug("MySQL server does not offer TLS; continuing in plain text (DB_TLS_MODE=preferred)")
            case .connected(let connectionID, let serverVersion):
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                self.connectPromise.succeed(
                    MySQLConnectionInfo(
                        connectionID: connectionID, serverVersion: serverVersion, isTLS: self.state.isTLS))
                self.startNextIfReady()
            case .failConnect(let error):
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                self.connectPromise.fail(error)
            case .succeedCommand(let result):
                self.commandEnded()
                let request = self.current
                self.current = nil
                request?.succeed(result)
                self.startNextIfReady()
            case .failCommand(let error):
                self.commandEnded()
                let request = self.current
                self.current = nil
                request?.fail(error)
                self.startNextIfReady()
            case .failAll(let error):
                self.commandEnded()
                let current = self.current
                self.current = nil
                current?.fail(error)
                while let request = self.queue.popFirst() { request.fail(error) }
            case .close:
                self.timeoutTask?.cancel()
                self.timeoutTask = nil
                self.commandTimer?.cancel()
                self.commandTimer = nil
                self.commandTimerDeadline = nil
                self.commandEnded()
                // Anything queued after the close can no longer run.
                let error = MySQLError(code: .connectionClosed, message: "the connection is closed")
                while let request = self.queue.popFirst() { request.fail(error) }
                if let context = self.context {
                    self.closeNow(context: context, promise: closePromise)
                } else {
                    closePromise?.fail(ChannelError.alreadyClosed)
                }
            }
        }
        if actions.isEmpty, let closePromise { closePromise.succeed() }
    }
}
