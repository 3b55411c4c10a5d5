import NIOCore
import NIOSSL
import NIOTLS

/// Sits right behind `NIOSSLClientHandler` until the TLS handshake is over: completes `promise` (if any) when it
/// succeeds and the certificate names the expected name (``ClientTLSSetup/checkName(of:)``), and turns a failure, or
/// a handshake that does not finish in time, into one error that says which check failed. That error, in the client's
/// type, goes down the pipeline and fails the promise, so a certificate problem fails the connect, not a later
/// request. It removes itself after the handshake: no cost per request.
///
/// Thread-safety: used on its channel's event loop only.
public final class ClientTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// Bytes, passed on untouched.
    public typealias InboundIn = ByteBuffer
    /// Bytes, passed on untouched.
    public typealias InboundOut = ByteBuffer

    /// How long the handshake may take, and who enforces it.
    public struct Timeout: Sendable {
        /// When the handler fails the handshake itself; `nil` when the caller's timer does.
        let amount: TimeAmount?
        /// The limit as the client's configuration prints it, for the message.
        let description: String

        /// The handler fails the handshake when it has not finished `duration` after TCP connected (connecting
        /// itself has its own timeout).
        public static func after(_ duration: Duration) -> Timeout {
            Timeout(amount: TimeAmount(duration), description: "\(duration)")
        }

        /// The caller's connect timeout, `amount`, covers the handshake: when it fires, the caller asks
        /// ``ClientTLSHandshakeHandler/timeoutError`` whether it was the TLS handshake that had not finished.
        public static func connectTimeout(_ amount: TimeAmount) -> Timeout {
            Timeout(amount: nil, description: "\(amount)")
        }
    }

    private let setup: ClientTLSSetup
    private let timeout: Timeout
    private let promise: EventLoopPromise<Void>?
    private let mapError: @Sendable (ClientTLSError) -> any Error
    private var timer: Scheduled<Void>?
    private var connected = false
    private var finished = false

    /// Creates the handler for one connection.
    ///
    /// - Parameters:
    ///   - promise: completed when the handshake succeeds, failed with the mapped error when it does not.
    ///   - mapError: the client's error for a ``ClientTLSError``; what goes down the pipeline and fails `promise`.
    public init(
        setup: ClientTLSSetup, timeout: Timeout, promise: EventLoopPromise<Void>? = nil,
        mapError: @escaping @Sendable (ClientTLSError) -> any Error
    ) {
        self.setup = setup
        self.timeout = timeout
        self.promise = promise
        self.mapError = mapError
    }

    /// For a ``Timeout/connectTimeout(_:)`` that fired: a TLS error when TCP connected but the TLS handshake did not
    /// finish; `nil` otherwise (TCP did not connect, or the handshake is over and the protocol's own is slow).
    public var timeoutError: ClientTLSError? {
        self.connected && !self.finished ? self.setup.handshakeTimedOut(within: self.timeout.description) : nil
    }

    /// Starts the handshake's own timer, if it has one.
    public func channelActive(context: ChannelHandlerContext) {
        self.connected = true
        if let amount = self.timeout.amount {
            self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: amount) {
                self.fail(self.setup.handshakeTimedOut(within: self.timeout.description), context: context)
                context.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    /// Checks the name on a completed handshake, then completes the promise and removes itself.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !self.finished, let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            if let refusal = self.setup.checkName(of: tls?.peerCertificate) {
                self.fail(refusal, context: context)
                context.close(promise: nil)
                return
            }
            self.finished = true
            self.timer?.cancel()
            self.promise?.succeed()
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Explains an error of the handshake; passes on any other.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.finished else { return context.fireErrorCaught(error) }
        self.fail(self.setup.explain(error), context: context)
    }

    /// A connection that closes during the handshake fails it.
    public func channelInactive(context: ChannelHandlerContext) {
        if !self.finished { self.fail(self.setup.explain(NIOSSLError.uncleanShutdown), context: context) }
        context.fireChannelInactive()
    }

    /// Never leaves the promise waiting.
    public func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        if !self.finished {
            self.finished = true
            self.promise?.fail(self.mapError(ClientTLSError(.connectionClosed, message: "the connection is closed")))
        }
    }

    private func fail(_ error: ClientTLSError, context: ChannelHandlerContext) {
        guard !self.finished else { return }
        self.finished = true
        self.timer?.cancel()
        let mapped = self.mapError(error)
        self.promise?.fail(mapped)
        context.fireErrorCaught(mapped)
    }
}

/// Sits in front of the protocol's handler on a plain connection until the peer's first bytes: a peer that closes
/// (or resets) the connection before sending anything, as a TLS-only port does with plain text, fails what waits with
/// an error that says it may require TLS (``ClientTLSError/Kind/connectionClosed``), and one that answers with a TLS
/// record fails it with a ``ClientTLSError/Kind/tls`` error, instead of a bare "connection closed" or a protocol
/// error. It removes itself at the first bytes: no cost per request.
///
/// A TLS record starts with its content type, 0x15 (alert) or 0x16 (handshake), which no reply of RESP or AMQP
/// starts with; a protocol whose replies can would need its own test here.
///
/// Thread-safety: used on its channel's event loop only.
public final class ClientTLSPlainConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    /// Bytes, passed on untouched.
    public typealias InboundIn = ByteBuffer
    /// Bytes, passed on untouched.
    public typealias InboundOut = ByteBuffer

    /// The words of the guard's messages, which read "the {peerNoun} host:port closed the connection before the
    /// {handshake} finished (before {firstReply}): it may require TLS ({hint})" and "the {peerNoun} host:port answered
    /// with TLS and closed the connection before the {handshake} finished: it requires TLS on this port ({hint})".
    public struct Wording: Sendable {
        /// What the peer is called, e.g. `server` or `broker`.
        public var peerNoun: String
        /// The protocol's handshake, e.g. `handshake` or `AMQP handshake`.
        public var handshake: String
        /// What the peer had not sent yet, e.g. `its first reply` or `sending anything`.
        public var firstReply: String
        /// How to ask for TLS, e.g. `set REDIS_TLS=true` or `use an amqps:// URL`.
        public var hint: String
        /// Whether the closed message reads "it may require TLS on this port" (AMQP's) rather than "it may require
        /// TLS" (Redis's): each client's message stays as its users and tests know it.
        public var closedMessageNamesThePort: Bool

        /// Creates the words.
        public init(
            peerNoun: String, handshake: String, firstReply: String, hint: String, closedMessageNamesThePort: Bool
        ) {
            self.peerNoun = peerNoun
            self.handshake = handshake
            self.firstReply = firstReply
            self.hint = hint
            self.closedMessageNamesThePort = closedMessageNamesThePort
        }
    }

    /// `host:port`, for messages.
    private let peer: String
    private let wording: Wording
    private let mapError: @Sendable (ClientTLSError) -> any Error
    private var reported = false

    /// Creates the guard for one connection to `peer` (`host:port`); `mapError` gives the client's error for a
    /// ``ClientTLSError``, which goes down the pipeline.
    public init(peer: String, wording: Wording, mapError: @escaping @Sendable (ClientTLSError) -> any Error) {
        self.peer = peer
        self.wording = wording
        self.mapError = mapError
    }

    /// Refuses a TLS record; passes on anything else and removes itself.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        if let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self), first == 0x15 || first == 0x16 {
            self.report(
                ClientTLSError(
                    message: "the \(self.wording.peerNoun) \(self.peer) answered with TLS and closed the connection "
                        + "before the \(self.wording.handshake) finished: it requires TLS on this port "
                        + "(\(self.wording.hint))"),
                context: context)
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// A reset before the first reply is explained; any other error passes on.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is IOError {
            self.report(self.closedBeforeReplying(underlying: error), context: context)
        } else {
            context.fireErrorCaught(error)
        }
    }

    /// A close before the first reply is explained.
    public func channelInactive(context: ChannelHandlerContext) {
        self.report(self.closedBeforeReplying(underlying: nil), context: context)
        context.fireChannelInactive()
    }

    private func closedBeforeReplying(underlying: (any Error)?) -> ClientTLSError {
        let port = self.wording.closedMessageNamesThePort ? " on this port" : ""
        return ClientTLSError(
            .connectionClosed,
            message: "the \(self.wording.peerNoun) \(self.peer) closed the connection before the "
                + "\(self.wording.handshake) finished (before \(self.wording.firstReply)): it may require TLS\(port) "
                + "(\(self.wording.hint))",
            underlying: underlying)
    }

    private func report(_ error: ClientTLSError, context: ChannelHandlerContext) {
        guard !self.reported else { return }
        self.reported = true
        context.fireErrorCaught(self.mapError(error))
    }
}
