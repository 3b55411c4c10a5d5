import NIOCore
import NIOSSL

/// What a connection needs to start TLS, built once per client from ``MySQLConfiguration/TLS``: the NIOSSL context
/// (whose files are read here, so a missing CA file fails every connect with the same clear error instead of
/// somewhere inside a handshake), the name to send and verify, and how to explain a failure.
///
/// Thread-safety: an immutable value; `Sendable` (NIOSSL's context is thread-safe).
struct MySQLTLSSetup: Sendable {
    let mode: MySQLConfiguration.TLS.Mode
    /// `nil` when the mode is ``MySQLConfiguration/TLS/Mode/disabled``.
    let context: NIOSSLContext?
    /// Sent as SNI and, in `verify-identity`, verified; `nil` when connecting to an IP address without
    /// ``MySQLConfiguration/TLS/serverName``: NIOSSL then verifies the IP address connected to.
    let serverHostname: String?
    /// `host:port`, for messages.
    let peer: String
    /// The name `verify-identity` checks (the server name, else the host), for messages.
    let expectedName: String
    /// Where trusted authorities come from, for messages.
    let trustDescription: String

    /// Reads the configuration's TLS files and builds the context.
    ///
    /// - Throws: a ``MySQLError/Code/tls`` error naming the file that could not be read.
    init(configuration: MySQLConfiguration) throws(MySQLError) {
        let tls = configuration.tls
        self.mode = tls.mode
        self.peer = "\(configuration.host):\(configuration.port)"
        if let serverName = tls.serverName {
            guard !Self.isIPAddress(serverName) else {
                throw MySQLError(
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
            tls.caFile.map { "the CA file \($0) (DB_TLS_CA)" } ?? "the system's trust roots (no DB_TLS_CA set)"
        guard tls.mode != .disabled else {
            self.context = nil
            return
        }
        var settings = TLSConfiguration.makeClientConfiguration()
        settings.minimumTLSVersion = .tlsv12
        switch tls.mode {
        case .disabled, .preferred, .required:
            settings.certificateVerification = .none
        case .verifyCA:
            settings.certificateVerification = .noHostnameVerification
        case .verifyIdentity:
            settings.certificateVerification = .fullVerification
        }
        if tls.mode.verifiesCertificate, let caFile = tls.caFile {
            let authorities = try Self.certificates(caFile, what: "CA file", variable: "DB_TLS_CA")
            settings.trustRoots = .certificates(authorities)
        }
        switch (tls.certificateFile, tls.keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            let chain = try Self.certificates(certificateFile, what: "client certificate", variable: "DB_TLS_CERT")
            settings.certificateChain = chain.map { .certificate($0) }
            do {
                settings.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw MySQLError(
                    code: .tls, message: "could not read the client key \(keyFile) (DB_TLS_KEY) as PEM: \(error)")
            }
        default:
            throw MySQLError(
                code: .tls,
                message: "a client certificate needs its key: set both or neither of DB_TLS_CERT, DB_TLS_KEY")
        }
        do {
            self.context = try NIOSSLContext(configuration: settings)
        } catch {
            throw MySQLError(code: .tls, message: "could not set up TLS: \(error)")
        }
    }

    /// A new TLS handler for one connection.
    func makeHandler() throws(MySQLError) -> NIOSSLClientHandler {
        guard let context = self.context else {
            throw MySQLError(code: .tls, message: "TLS was requested with DB_TLS_MODE=disabled")
        }
        do {
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverHostname)
        } catch {
            throw MySQLError(code: .tls, message: "could not start TLS to \(self.peer): \(error)")
        }
    }

    /// A TLS failure as a ``MySQLError/Code/tls`` error that says which check failed and what to set.
    func explain(_ error: any Error) -> MySQLError {
        if let error = error as? MySQLError { return error }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return self.nameRefusal
        }
        if case NIOSSLError.handshakeFailed(let failure) = error {
            let reasons = Self.reasons(failure)
            if reasons.contains("CERTIFICATE_VERIFY_FAILED") {
                return MySQLError(
                    code: .tls,
                    message: "the TLS certificate of \(self.peer) did not verify against \(self.trustDescription), "
                        + "as DB_TLS_MODE=\(self.mode) requires: it is signed by another authority, expired or "
                        + "otherwise invalid. Set DB_TLS_CA to the authority that signed the server's certificate, or "
                        + "DB_TLS_MODE=required to encrypt without verifying")
            }
            let detail = reasons.isEmpty ? "\(failure)" : reasons.joined(separator: ", ")
            return MySQLError(code: .tls, message: "the TLS handshake with \(self.peer) failed: \(detail)")
        }
        if case NIOSSLError.uncleanShutdown = error {
            return MySQLError(
                code: .tls,
                message: "the server \(self.peer) closed the connection during the TLS handshake (does it accept "
                    + "this client's certificate and TLS 1.2 or later?)")
        }
        return MySQLError(code: .tls, message: "the TLS handshake with \(self.peer) failed: \(error)")
    }

    /// The refusal of a certificate that does not name ``expectedName``.
    private var nameRefusal: MySQLError {
        MySQLError(
            code: .tls,
            message: "the TLS certificate of \(self.peer) is not valid for the name \(self.expectedName) "
                + "(DB_TLS_MODE=verify-identity checks the chain and the name): connect to a name the certificate "
                + "lists, set the TLS server name to one, or set DB_TLS_MODE=verify-ca to check the chain only")
    }

    /// `verify-identity` against a DNS name, after NIOSSL's checks passed: NIOSSL accepts a certificate that names
    /// either that name or the IP address connected to, so a certificate for `IP:127.0.0.1` passed for any name
    /// when connecting to 127.0.0.1. As MySQL's client does, the name itself must be listed. `nil` when it is (or
    /// nothing is to check: other modes, or an IP address, which NIOSSL checked); otherwise the refusal.
    func checkName(of certificate: NIOSSLCertificate?) -> MySQLError? {
        guard self.mode == .verifyIdentity, let expected = self.serverHostname else { return nil }
        guard let certificate else { return self.nameRefusal }
        var hasAlternativeNames = false
        var dnsNames: [String] = []
        for name in certificate._subjectAlternativeNames() {
            hasAlternativeNames = true
            if name.nameType == .dnsName { dnsNames.append(String(decoding: name.contents, as: UTF8.self)) }
        }
        // Without alternative names NIOSSL matched the common name, which can only be a host name, against it.
        guard hasAlternativeNames else { return nil }
        return dnsNames.contains { Self.name(expected, matches: $0) } ? nil : self.nameRefusal
    }

    /// Whether `pattern`, a certificate's DNS name, names `name` (RFC 6125 §6.4): equal ignoring case and a final
    /// dot, or `*.rest` where `*` stands for exactly the first label of `name` and `rest` has at least two labels.
    static func name(_ name: String, matches pattern: String) -> Bool {
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
            return beforeFile.split(separator: ":").last.map(String.init)
        }
    }

    private static func certificates(_ path: String, what: String, variable: String) throws(MySQLError)
        -> [NIOSSLCertificate]
    {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw MySQLError(code: .tls, message: "could not read the \(what) \(path) (\(variable)) as PEM: \(error)")
        }
        guard !certificates.isEmpty else {
            throw MySQLError(code: .tls, message: "the \(what) \(path) (\(variable)) holds no PEM certificate")
        }
        return certificates
    }

    /// Whether `text` is an IPv4 or IPv6 address (never sent as SNI).
    static func isIPAddress(_ text: String) -> Bool {
        (try? SocketAddress(ipAddress: text, port: 0)) != nil
    }
}
