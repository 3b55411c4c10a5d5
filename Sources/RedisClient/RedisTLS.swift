import NIOCore
import NIOSSL
import NIOTLS

/// What a connection needs to start TLS, built once per client from ``RedisConfiguration/TLS``: the NIOSSL context
/// (whose files are read here, so a missing CA file fails every connect with the same clear error instead of somewhere
/// inside a handshake), the name to send and verify, and how to explain a failure.
///
/// Thread safety: an immutable value; `Sendable` (NIOSSL's context is thread-safe).
struct RedisTLSSetup: Sendable {
    let context: NIOSSLContext
    /// Sent as SNI and verified; `nil` when connecting to an IP address without ``RedisConfiguration/TLS/serverName``:
    /// NIOSSL then verifies the IP address connected to.
    let serverHostname: String?
    /// `host:port`, for messages.
    let peer: String
    /// The name the certificate must hold (the server name, else the host), for messages.
    let expectedName: String
    /// Where trusted authorities come from, for messages.
    let trustDescription: String
    /// How long the TLS handshake may take once TCP is connected (the connect timeout).
    let handshakeTimeout: Duration

    /// Reads the TLS files and builds the context; the chain and the name are always verified.
    ///
    /// - Throws: a ``RedisError/Code/tls`` error naming the file or setting that is wrong.
    init(configuration: RedisConfiguration, tls: RedisConfiguration.TLS) throws(RedisError) {
        self.peer = "\(configuration.host):\(configuration.port)"
        self.handshakeTimeout = configuration.connectTimeout
        if let serverName = tls.serverName {
            // SNI cannot carry an IP address, and NIOSSL verifies the address connected to when no name is given.
            guard !Self.isIPAddress(serverName) else {
                throw RedisError(
                    code: .tls,
                    message: "the TLS server name \(serverName) is an IP address; it must be a DNS name (connect to "
                        + "the address itself to verify it)")
            }
            self.serverHostname = serverName
        } else {
            self.serverHostname = Self.isIPAddress(configuration.host) ? nil : configuration.host
        }
        self.expectedName = tls.serverName ?? configuration.host
        self.trustDescription =
            tls.caFile.map { "the CA file \($0) (REDIS_TLS_CA)" } ?? "the system's trust roots (no REDIS_TLS_CA set)"
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.minimumTLSVersion = .tlsv12
        tlsConfiguration.certificateVerification = .fullVerification
        if let caFile = tls.caFile {
            tlsConfiguration.trustRoots = .certificates(
                try Self.certificates(caFile, what: "CA file", variable: "REDIS_TLS_CA"))
        }
        switch (tls.certificateFile, tls.keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            let chain = try Self.certificates(certificateFile, what: "client certificate", variable: "REDIS_TLS_CERT")
            tlsConfiguration.certificateChain = chain.map { .certificate($0) }
            do {
                tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw RedisError(
                    code: .tls, message: "could not read the client key \(keyFile) (REDIS_TLS_KEY) as PEM: \(error)")
            }
        default:
            throw RedisError(
                code: .tls,
                message: "a client certificate needs its key: set both or neither of REDIS_TLS_CERT, REDIS_TLS_KEY")
        }
        do {
            self.context = try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw RedisError(code: .tls, message: "could not set up TLS: \(error)")
        }
    }

    /// A new TLS handler for one connection.
    func makeHandler() throws(RedisError) -> NIOSSLClientHandler {
        do {
            return try NIOSSLClientHandler(context: self.context, serverHostname: self.serverHostname)
        } catch {
            throw RedisError(code: .tls, message: "could not start TLS to \(self.peer): \(error)")
        }
    }

    /// A failure during the TLS handshake as a ``RedisError/Code/tls`` error that says which check failed and what to
    /// set.
    func explain(_ error: any Error) -> RedisError {
        if let error = error as? RedisError { return error }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return RedisError(
                code: .tls,
                message: "the TLS certificate of \(self.peer) is not valid for the name \(self.expectedName) (its "
                    + "chain verified, the name did not): connect to a name the certificate lists, or set the TLS "
                    + "server name to one",
                underlying: error)
        }
        if case NIOSSLError.handshakeFailed(let failure) = error {
            let reasons = Self.reasons(failure)
            if reasons.contains("CERTIFICATE_VERIFY_FAILED") {
                return RedisError(
                    code: .tls,
                    message: "the TLS certificate of \(self.peer) did not verify against \(self.trustDescription): "
                        + "it is signed by another authority, expired or otherwise invalid. Set REDIS_TLS_CA to the "
                        + "authority that signed the server's certificate",
                    underlying: error)
            }
            if case .sslError(let stack) = failure, stack.contains(.eofDuringHandshake) {
                return self.closedDuringHandshake(error)
            }
            let detail = reasons.isEmpty ? "\(failure)" : reasons.joined(separator: ", ")
            return RedisError(
                code: .tls,
                message: "the TLS handshake with \(self.peer) failed (\(detail)): the server may not speak TLS on "
                    + "this port (REDIS_TLS=true against a plain port?)",
                underlying: error)
        }
        if case NIOSSLError.uncleanShutdown = error { return self.closedDuringHandshake(error) }
        if error is IOError { return self.closedDuringHandshake(error) }
        return RedisError(
            code: .tls, message: "the TLS handshake with \(self.peer) failed: \(error)", underlying: error)
    }

    /// The handshake did not finish within ``handshakeTimeout``.
    var handshakeTimedOut: RedisError {
        RedisError(
            code: .tls,
            message: "the TLS handshake with \(self.peer) did not finish within \(self.handshakeTimeout): "
                + "the server may not speak TLS on this port (REDIS_TLS=true against a plain port?)")
    }

    private func closedDuringHandshake(_ error: any Error) -> RedisError {
        RedisError(
            code: .tls,
            message: "the server \(self.peer) closed the connection during the TLS handshake: it may not speak TLS "
                + "on this port (REDIS_TLS=true against a plain port?), or it refused this client's certificate",
            underlying: error)
    }

    /// BoringSSL's reason names (e.g. `CERTIFICATE_VERIFY_FAILED`) from its error stack, whose descriptions read
    /// `Error: <code> error:<hex>:<library>:<function>:<REASON> at <file>:<line>`.
    private static func reasons(_ failure: BoringSSLError) -> [String] {
        let stack: NIOBoringSSLErrorStack
        switch failure {
        case .sslError(let errors), .unknownError(let errors): stack = errors
        default: return []
        }
        return stack.compactMap { error in
            let text = error.description
            let beforeFile = text.firstRange(of: " at ").map { text[..<$0.lowerBound] } ?? text[...]
            guard beforeFile.contains("error:") else { return nil }
            return beforeFile.split(separator: ":").last.map(String.init)
        }
    }

    private static func certificates(_ path: String, what: String, variable: String) throws(RedisError)
        -> [NIOSSLCertificate]
    {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw RedisError(code: .tls, message: "could not read the \(what) \(path) (\(variable)) as PEM: \(error)")
        }
        guard !certificates.isEmpty else {
            throw RedisError(code: .tls, message: "the \(what) \(path) (\(variable)) holds no PEM certificate")
        }
        return certificates
    }

    /// Whether `leaf` names ``serverHostname``, when a name is expected.
    ///
    /// NIOSSL's own check accepts a certificate that names either the expected name or the IP address connected to,
    /// so connecting to 127.0.0.1 with a server name of `wrong.example` would pass with a certificate for
    /// `IP:127.0.0.1`. A name that is asked for must be the one verified: this checks the DNS names alone (RFC 6125;
    /// a certificate without alternative names had its common name checked against the name by NIOSSL already).
    func certificateNamesTheServer(_ leaf: NIOSSLCertificate) -> Bool {
        guard let expected = self.serverHostname else { return true }
        var wanted = expected.lowercased()
        if wanted.hasSuffix(".") { wanted.removeLast() }
        var hasAlternativeNames = false
        for name in leaf._subjectAlternativeNames() {
            hasAlternativeNames = true
            guard name.nameType == .dnsName else { continue }
            let pattern = String(decoding: name.contents, as: UTF8.self).lowercased()
            if pattern == wanted { return true }
            // A wildcard stands for exactly one left-most label.
            if pattern.hasPrefix("*."), let dot = wanted.firstIndex(of: "."), wanted[dot...] == pattern.dropFirst() {
                return true
            }
        }
        return !hasAlternativeNames
    }

    /// Whether `text` is an IPv4 or IPv6 address (never sent as SNI).
    static func isIPAddress(_ text: String) -> Bool {
        (try? SocketAddress(ipAddress: text, port: 0)) != nil
    }
}

/// Sits right behind `NIOSSLClientHandler` until the TLS handshake is over: completes `promise` when it succeeds, and
/// turns a failure (or a handshake that does not finish in time) into one ``RedisError/Code/tls`` error that says
/// which check failed. Connecting waits for the promise, so a certificate problem fails the connect, not a later
/// command. It removes itself after the handshake: no cost per command.
final class RedisTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let setup: RedisTLSSetup
    private let promise: EventLoopPromise<Void>
    private var timer: Scheduled<Void>?
    private var finished = false

    init(setup: RedisTLSSetup, promise: EventLoopPromise<Void>) {
        self.setup = setup
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        // From TCP connected on: connecting itself has its own timeout.
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.setup.handshakeTimeout.timeAmount) {
            self.fail(self.setup.handshakeTimedOut, context: context)
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !self.finished, let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            if let leaf = tls?.peerCertificate, !self.setup.certificateNamesTheServer(leaf) {
                self.fail(self.setup.explain(NIOSSLExtraError.failedToValidateHostname), context: context)
                context.close(promise: nil)
                return
            }
            self.finished = true
            self.timer?.cancel()
            self.promise.succeed()
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.finished else { return context.fireErrorCaught(error) }
        self.fail(self.setup.explain(error), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.finished { self.fail(self.setup.explain(NIOSSLError.uncleanShutdown), context: context) }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        if !self.finished {
            self.finished = true
            self.promise.fail(RedisError.connectionClosed)
        }
    }

    private func fail(_ error: RedisError, context: ChannelHandlerContext) {
        guard !self.finished else { return }
        self.finished = true
        self.timer?.cancel()
        self.promise.fail(error)
        context.fireErrorCaught(error)
    }
}

/// Sits in front of ``RedisChannelHandler`` on a plain connection until the server's first bytes: a server that
/// closes (or resets) the connection before answering anything, as a TLS-only port does with plain text, fails the
/// waiting commands with an error that says it may require TLS, and a server that answers with a TLS record fails
/// them with a ``RedisError/Code/tls`` error, instead of a bare "connection closed" or a RESP protocol error. It
/// removes itself at the first reply: no cost per command.
final class RedisPlainConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// `host:port`, for messages.
    private let peer: String
    private var reported = false

    init(peer: String) {
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        // A TLS record starts with its content type: 0x15 (alert) or 0x16 (handshake). No RESP reply starts so.
        if let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self), first == 0x15 || first == 0x16 {
            self.report(
                RedisError(
                    code: .tls,
                    message: "the server \(self.peer) answered with TLS and closed the connection before the "
                        + "handshake finished: it requires TLS on this port (set REDIS_TLS=true)"),
                context: context)
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is IOError {
            self.report(self.closedBeforeAnswering(underlying: error), context: context)
        } else {
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.report(self.closedBeforeAnswering(underlying: nil), context: context)
        context.fireChannelInactive()
    }

    private func closedBeforeAnswering(underlying: (any Error)?) -> RedisError {
        RedisError(
            code: .connectionClosed,
            message: "the server \(self.peer) closed the connection before the handshake finished (before its first "
                + "reply): it may require TLS (set REDIS_TLS=true)",
            underlying: underlying)
    }

    private func report(_ error: RedisError, context: ChannelHandlerContext) {
        guard !self.reported else { return }
        self.reported = true
        context.fireErrorCaught(error)
    }
}
