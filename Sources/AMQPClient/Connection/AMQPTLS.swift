import NIOCore
import NIOSSL
import NIOTLS

/// What a connection needs to start TLS, built from ``AMQPConnectionConfiguration/TLS`` at each connect (so renewed
/// certificate files are picked up on reconnection): the NIOSSL context, the name to send and verify, and how to
/// explain a failure.
///
/// Thread-safety: an immutable value; `Sendable` (NIOSSL's context is thread-safe).
struct AMQPTLSSetup: Sendable {
    let context: NIOSSLContext
    /// Sent as SNI and verified; `nil` when connecting to an IP address without
    /// ``AMQPConnectionConfiguration/TLS/serverName``: NIOSSL then verifies the IP address connected to.
    let serverHostname: String?
    /// `host:port`, for messages.
    let peer: String
    /// The name the certificate must hold (the server name, else the host), for messages.
    let expectedName: String
    /// Where trusted authorities come from, for messages.
    let trustDescription: String
    /// How long connecting may take (the TLS handshake included), for messages.
    let connectTimeout: TimeAmount

    /// Reads the TLS files and builds the context; the chain and the name are always verified.
    ///
    /// - Throws: a ``AMQPError/Code/tls`` error naming the file or setting that is wrong.
    init(configuration: AMQPConnectionConfiguration, tls: AMQPConnectionConfiguration.TLS) throws(AMQPError) {
        self.peer = "\(configuration.host):\(configuration.port)"
        self.connectTimeout = configuration.connectTimeout
        if let serverName = tls.serverName {
            // SNI cannot carry an IP address, and NIOSSL verifies the address connected to when no name is given.
            guard !Self.isIPAddress(serverName) else {
                throw AMQPError(
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
            tls.caFile.map { "the CA file \($0) (RABBITMQ_TLS_CA)" }
            ?? "the system's trust roots (no RABBITMQ_TLS_CA set)"
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.minimumTLSVersion = .tlsv12
        tlsConfiguration.certificateVerification = .fullVerification
        if let caFile = tls.caFile {
            tlsConfiguration.trustRoots = .certificates(
                try Self.certificates(caFile, what: "CA file", variable: "RABBITMQ_TLS_CA"))
        }
        switch (tls.certificateFile, tls.keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            let chain = try Self.certificates(
                certificateFile, what: "client certificate", variable: "RABBITMQ_TLS_CERT")
            tlsConfiguration.certificateChain = chain.map { .certificate($0) }
            do {
                tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw AMQPError(
                    code: .tls,
                    message: "could not read the client key \(keyFile) (RABBITMQ_TLS_KEY) as PEM: \(error)")
            }
        default:
            throw AMQPError(
                code: .tls,
                message: "a client certificate needs its key: set both or neither of RABBITMQ_TLS_CERT, "
                    + "RABBITMQ_TLS_KEY")
        }
        do {
            self.context = try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw AMQPError(code: .tls, message: "could not set up TLS: \(error)")
        }
    }

    /// A new TLS handler for one connection.
    func makeHandler() throws(AMQPError) -> NIOSSLClientHandler {
        do {
            return try NIOSSLClientHandler(context: self.context, serverHostname: self.serverHostname)
        } catch {
            throw AMQPError(code: .tls, message: "could not start TLS to \(self.peer): \(error)")
        }
    }

    /// A failure during the TLS handshake as a ``AMQPError/Code/tls`` error that says which check failed and what to
    /// set.
    func explain(_ error: any Error) -> AMQPError {
        if let error = error as? AMQPError { return error }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return AMQPError(
                code: .tls,
                message: "the TLS certificate of \(self.peer) is not valid for the name \(self.expectedName) (its "
                    + "chain verified, the name did not): connect to a name the certificate lists, or set the TLS "
                    + "server name to one")
        }
        if case NIOSSLError.handshakeFailed(let failure) = error {
            let reasons = Self.reasons(failure)
            if reasons.contains("CERTIFICATE_VERIFY_FAILED") {
                return AMQPError(
                    code: .tls,
                    message: "the TLS certificate of \(self.peer) did not verify against \(self.trustDescription): "
                        + "it is signed by another authority, expired or otherwise invalid. Set RABBITMQ_TLS_CA to "
                        + "the authority that signed the broker's certificate")
            }
            if case .sslError(let stack) = failure, stack.contains(.eofDuringHandshake) {
                return self.closedDuringHandshake
            }
            let detail = reasons.isEmpty ? "\(failure)" : reasons.joined(separator: ", ")
            return AMQPError(
                code: .tls,
                message: "the TLS handshake with \(self.peer) failed (\(detail)): the broker may not speak TLS on "
                    + "this port (amqps:// against a plain AMQP port?)")
        }
        if case NIOSSLError.uncleanShutdown = error { return self.closedDuringHandshake }
        if error is IOError { return self.closedDuringHandshake }
        return AMQPError(code: .tls, message: "the TLS handshake with \(self.peer) failed: \(error)")
    }

    /// The connect timeout passed with the TLS handshake unfinished.
    var handshakeTimedOut: AMQPError {
        AMQPError(
            code: .tls,
            message: "the TLS handshake with \(self.peer) did not finish within \(self.connectTimeout): the broker "
                + "may not speak TLS on this port (amqps:// against a plain AMQP port?)")
    }

    private var closedDuringHandshake: AMQPError {
        AMQPError(
            code: .tls,
            message: "the broker \(self.peer) closed the connection during the TLS handshake: it may not speak TLS "
                + "on this port (amqps:// against a plain AMQP port?), or it refused this client's certificate")
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

    private static func certificates(_ path: String, what: String, variable: String) throws(AMQPError)
        -> [NIOSSLCertificate]
    {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw AMQPError(code: .tls, message: "could not read the \(what) \(path) (\(variable)) as PEM: \(error)")
        }
        guard !certificates.isEmpty else {
            throw AMQPError(code: .tls, message: "the \(what) \(path) (\(variable)) holds no PEM certificate")
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

/// Sits right behind `NIOSSLClientHandler` until the TLS handshake is over and turns a failure into one
/// ``AMQPError/Code/tls`` error that says which check failed, which the connection handler then fails the connect
/// with. It removes itself after the handshake: no cost per frame. While it is in the pipeline the TLS handshake has
/// not finished, which is how the connect timeout tells a TLS handshake that hangs from a slow AMQP one.
final class AMQPTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let setup: AMQPTLSSetup
    private var connected = false
    private var finished = false

    init(setup: AMQPTLSSetup) {
        self.setup = setup
    }

    /// The error for a connect timeout: a TLS one when TCP connected but the TLS handshake did not finish; `nil`
    /// otherwise.
    var timeoutError: AMQPError? {
        self.connected && !self.finished ? self.setup.handshakeTimedOut : nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.connected = true
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !self.finished, let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            self.finished = true
            let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            if let leaf = tls?.peerCertificate, !self.setup.certificateNamesTheServer(leaf) {
                context.fireErrorCaught(self.setup.explain(NIOSSLExtraError.failedToValidateHostname))
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.finished else { return context.fireErrorCaught(error) }
        self.finished = true
        context.fireErrorCaught(self.setup.explain(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.finished {
            self.finished = true
            context.fireErrorCaught(self.setup.explain(NIOSSLError.uncleanShutdown))
        }
        context.fireChannelInactive()
    }
}

/// Sits in front of the frame decoder on a plain connection until the broker's first bytes: a broker that closes (or
/// resets) the connection before sending anything, as a TLS-only listener does with the AMQP header, fails the
/// connect with an error that says it may require TLS, and one that answers with a TLS record fails it with a
/// ``AMQPError/Code/tls`` error, instead of a bare "connection lost" or a frame error. It removes itself at the first
/// bytes: no cost per frame.
final class AMQPPlainConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
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
        // A TLS record starts with its content type: 0x15 (alert) or 0x16 (handshake). No AMQP frame or protocol
        // header does.
        if let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self), first == 0x15 || first == 0x16 {
            self.report(
                AMQPError(
                    code: .tls,
                    message: "the broker \(self.peer) answered with TLS and closed the connection before the AMQP "
                        + "handshake finished: it requires TLS on this port (use an amqps:// URL)"),
                context: context)
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is IOError {
            self.report(self.closedBeforeHandshake, context: context)
        } else {
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.report(self.closedBeforeHandshake, context: context)
        context.fireChannelInactive()
    }

    private var closedBeforeHandshake: AMQPError {
        AMQPError.connectionClosed(
            "the broker \(self.peer) closed the connection before the AMQP handshake finished (before sending "
                + "anything): it may require TLS on this port (use an amqps:// URL)")
    }

    private func report(_ error: AMQPError, context: ChannelHandlerContext) {
        guard !self.reported else { return }
        self.reported = true
        context.fireErrorCaught(error)
    }
}
