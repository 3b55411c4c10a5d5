import NIOCore
import NIOSSL

/// What a connection needs to start TLS: the NIOSSL context (whose files are read here, so a missing CA file fails
/// every connect with the same clear error instead of somewhere inside a handshake), the name to send and verify, and
/// how to explain a failure in the client's words.
///
/// Thread-safety: an immutable value; `Sendable` (NIOSSL's context is thread-safe).
public struct ClientTLSSetup: Sendable {
    /// The context every connection's TLS handler is made from.
    public let context: NIOSSLContext
    /// Sent as SNI and verified; `nil` when connecting to an IP address without a server name: NIOSSL then verifies
    /// the IP address connected to.
    public let serverHostname: String?
    /// `host:port`, for messages.
    public let peer: String
    /// The name the certificate must hold (the server name, else the host), for messages.
    let expectedName: String
    /// Where trusted authorities come from, for messages.
    let trustDescription: String
    /// How much of the peer's certificate is verified.
    let verification: ClientTLSSettings.Verification
    /// The client's words in messages.
    let wording: ClientTLSWording

    /// Chooses the name, reads the TLS files and builds the context.
    ///
    /// - Parameter mapError: the client's error for a ``ClientTLSError``.
    /// - Throws: `mapError`'s error for a ``ClientTLSError`` naming the file or setting that is wrong.
    public init<Failure: Error>(
        settings: ClientTLSSettings, host: String, port: Int, wording: ClientTLSWording,
        mapError: (ClientTLSError) -> Failure
    ) throws(Failure) {
        do throws(ClientTLSError) {
            self = try ClientTLSSetup(checking: settings, host: host, port: port, wording: wording)
        } catch {
            throw mapError(error)
        }
    }

    private init(
        checking settings: ClientTLSSettings, host: String, port: Int, wording: ClientTLSWording
    ) throws(ClientTLSError) {
        self.peer = "\(host):\(port)"
        self.serverHostname = try Self.serverHostname(host: host, serverName: settings.serverName)
        self.expectedName = settings.serverName ?? host
        self.trustDescription =
            settings.caFile.map { "the CA file \($0) (\(wording.caVariable))" }
            ?? "the system's trust roots (no \(wording.caVariable) set)"
        self.verification = settings.verification
        self.wording = wording
        self.context = try Self.makeContext(settings, wording: wording)
    }

    /// The name to send as SNI and verify: `serverName`, else `host` unless it is an IP address (`nil`: NIOSSL then
    /// verifies the address connected to).
    ///
    /// - Throws: a ``ClientTLSError`` when `serverName` is an IP address: SNI cannot carry one, and NIOSSL verifies
    ///   the address connected to when no name is given.
    public static func serverHostname(host: String, serverName: String?) throws(ClientTLSError) -> String? {
        guard let serverName else { return Self.isIPAddress(host) ? nil : host }
        guard !Self.isIPAddress(serverName) else {
            throw ClientTLSError(
                message: "the TLS server name \(serverName) is an IP address; it must be a DNS name (connect to the "
                    + "address itself to verify it)")
        }
        return serverName
    }

    private static func makeContext(
        _ settings: ClientTLSSettings, wording: ClientTLSWording
    ) throws(ClientTLSError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch settings.verification {
        case .none: configuration.certificateVerification = .none
        case .chain: configuration.certificateVerification = .noHostnameVerification
        case .chainAndName: configuration.certificateVerification = .fullVerification
        }
        // Without verification no authority is consulted, so a CA file left in the settings is not even read.
        if settings.verification != .none, let caFile = settings.caFile {
            configuration.trustRoots = .certificates(
                try Self.certificates(caFile, what: "CA file", variable: wording.caVariable))
        }
        switch (settings.certificateFile, settings.keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            let chain = try Self.certificates(
                certificateFile, what: "client certificate", variable: wording.certificateVariable)
            configuration.certificateChain = chain.map { .certificate($0) }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw ClientTLSError(
                    message: "could not read the client key \(keyFile) (\(wording.keyVariable)) as PEM: \(error)")
            }
        default:
            throw ClientTLSError(
                message: "a client certificate needs its key: set both or neither of \(wording.certificateVariable), "
                    + "\(wording.keyVariable)")
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ClientTLSError(message: "could not set up TLS: \(error)")
        }
    }

    private static func certificates(
        _ path: String, what: String, variable: String
    ) throws(ClientTLSError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw ClientTLSError(message: "could not read the \(what) \(path) (\(variable)) as PEM: \(error)")
        }
        guard !certificates.isEmpty else {
            throw ClientTLSError(message: "the \(what) \(path) (\(variable)) holds no PEM certificate")
        }
        return certificates
    }

    /// A new TLS handler for one connection.
    ///
    /// - Parameter mapError: the client's error for a ``ClientTLSError``.
    public func makeHandler<Failure: Error>(
        mapError: (ClientTLSError) -> Failure
    ) throws(Failure) -> NIOSSLClientHandler {
        do {
            return try NIOSSLClientHandler(context: self.context, serverHostname: self.serverHostname)
        } catch {
            throw mapError(ClientTLSError(message: "could not start TLS to \(self.peer): \(error)"))
        }
    }

    // MARK: - The name

    /// The name check after NIOSSL's checks passed, when the name is verified: NIOSSL accepts a certificate that
    /// names either the expected name or the IP address connected to, so connecting to 127.0.0.1 with a server name
    /// of `wrong.example` would pass with a certificate for `IP:127.0.0.1`. A name that is asked for must be the one
    /// verified, so the certificate's DNS names must list it.
    ///
    /// - Returns: `nil` when they do, or nothing is to check (the name is not verified, or no name is expected and
    ///   NIOSSL checked the address); otherwise the refusal. A missing certificate is refused.
    public func checkName(of certificate: NIOSSLCertificate?) -> ClientTLSError? {
        guard self.verification == .chainAndName, let expected = self.serverHostname else { return nil }
        guard let certificate else { return self.nameRefusal(underlying: NIOSSLExtraError.failedToValidateHostname) }
        var hasAlternativeNames = false
        var dnsNames: [String] = []
        for name in certificate._subjectAlternativeNames() {
            hasAlternativeNames = true
            if name.nameType == .dnsName { dnsNames.append(String(decoding: name.contents, as: UTF8.self)) }
        }
        // Without alternative names NIOSSL matched the common name, which can only be a host name, against it.
        guard hasAlternativeNames else { return nil }
        if dnsNames.contains(where: { Self.name(expected, matches: $0) }) { return nil }
        return self.nameRefusal(underlying: NIOSSLExtraError.failedToValidateHostname)
    }

    /// Whether `pattern`, a certificate's DNS name, names `name` (RFC 6125 §6.4): equal ignoring case and a final
    /// dot, or `*.rest` where `*` stands for exactly the first label of `name` and `rest` has at least two labels.
    public static func name(_ name: String, matches pattern: String) -> Bool {
        func normalized(_ text: String) -> Substring {
            let lower = text.lowercased()
            return lower.hasSuffix(".") ? lower.dropLast() : lower[...]
        }
        let name = normalized(name)
        let pattern = normalized(pattern)
        if name == pattern { return true }
        guard pattern.hasPrefix("*."), let dot = name.firstIndex(of: "."), dot != name.startIndex else { return false }
        let rest = pattern.dropFirst()  // ".example.com"
        return name[dot...] == rest && rest.dropFirst().contains(".")
    }

    /// Whether `text` is an IPv4 or IPv6 address (never sent as SNI).
    static func isIPAddress(_ text: String) -> Bool {
        (try? SocketAddress(ipAddress: text, port: 0)) != nil
    }

    // MARK: - Explaining failures

    /// A failure during the TLS handshake as an error that says which check failed and what to set. A
    /// ``ClientTLSError`` passes through unchanged.
    public func explain(_ error: any Error) -> ClientTLSError {
        if let error = error as? ClientTLSError { return error }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return self.nameRefusal(underlying: error)
        }
        let hint = self.wording.plainPortHint
        if case NIOSSLError.handshakeFailed(let failure) = error {
            let reasons = Self.reasons(failure)
            if reasons.contains("CERTIFICATE_VERIFY_FAILED") { return self.chainRefusal(underlying: error) }
            let detail = reasons.isEmpty ? "\(failure)" : reasons.joined(separator: ", ")
            guard let hint else {
                return ClientTLSError(
                    message: "the TLS handshake with \(self.peer) failed: \(detail)", underlying: error)
            }
            if case .sslError(let stack) = failure, stack.contains(.eofDuringHandshake) {
                return self.closedDuringHandshake(underlying: error)
            }
            return ClientTLSError(
                message: "the TLS handshake with \(self.peer) failed (\(detail)): the \(self.wording.peerNoun) may not "
                    + "speak TLS on this port (\(hint))",
                underlying: error)
        }
        if case NIOSSLError.uncleanShutdown = error { return self.closedDuringHandshake(underlying: error) }
        if hint != nil, error is IOError { return self.closedDuringHandshake(underlying: error) }
        return ClientTLSError(message: "the TLS handshake with \(self.peer) failed: \(error)", underlying: error)
    }

    /// The handshake did not finish within `timeout` (as the client's configuration prints it).
    public func handshakeTimedOut(within timeout: String) -> ClientTLSError {
        var message = "the TLS handshake with \(self.peer) did not finish within \(timeout)"
        if let hint = self.wording.plainPortHint {
            message += ": the \(self.wording.peerNoun) may not speak TLS on this port (\(hint))"
        }
        return ClientTLSError(message: message)
    }

    private func nameRefusal(underlying: any Error) -> ClientTLSError {
        let start = "the TLS certificate of \(self.peer) is not valid for the name \(self.expectedName)"
        guard let setting = self.wording.verificationSetting else {
            return ClientTLSError(
                message: start + " (its chain verified, the name did not): connect to a name the certificate lists, "
                    + "or set the TLS server name to one",
                underlying: underlying)
        }
        return ClientTLSError(
            message: start + " (\(setting.assignment(.chainAndName)) checks the chain and the name): connect to a "
                + "name the certificate lists, set the TLS server name to one, or set \(setting.assignment(.chain)) "
                + "to check the chain only",
            underlying: underlying)
    }

    private func chainRefusal(underlying: any Error) -> ClientTLSError {
        let setting = self.wording.verificationSetting
        let requiredBy = setting.map { ", as \($0.assignment(self.verification)) requires" } ?? ""
        let orUnverified = setting.map { ", or \($0.assignment(.none)) to encrypt without verifying" } ?? ""
        return ClientTLSError(
            message: "the TLS certificate of \(self.peer) did not verify against \(self.trustDescription)"
                + "\(requiredBy): it is signed by another authority, expired or otherwise invalid. Set "
                + "\(self.wording.caVariable) to the authority that signed the \(self.wording.peerNoun)'s "
                + "certificate\(orUnverified)",
            underlying: underlying)
    }

    private func closedDuringHandshake(underlying: any Error) -> ClientTLSError {
        let start = "the \(self.wording.peerNoun) \(self.peer) closed the connection during the TLS handshake"
        guard let hint = self.wording.plainPortHint else {
            return ClientTLSError(
                message: start + " (does it accept this client's certificate and TLS 1.2 or later?)",
                underlying: underlying)
        }
        return ClientTLSError(
            message: start + ": it may not speak TLS on this port (\(hint)), or it refused this client's certificate",
            underlying: underlying)
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
}
