import ClientTLS
import NIOCore
import NIOSSL

/// What a connection needs to start TLS, built once per client from ``MySQLConfiguration/TLS``: ClientTLS's setup
/// (context, names, explanations in MySQL's words) for the mode. ``MySQLChannelHandler`` starts TLS after the
/// `SSLRequest` and watches the handshake itself, within its connect timeout, so it uses the setup but not ClientTLS's
/// handshake handler.
///
/// Thread-safety: an immutable value; `Sendable`.
struct MySQLTLSSetup: Sendable {
    let mode: MySQLConfiguration.TLS.Mode
    /// `nil` when the mode is ``MySQLConfiguration/TLS/Mode/disabled``.
    let shared: ClientTLSSetup?

    /// The names MySQL's messages give its settings; the server offered TLS before the `SSLRequest`, so a failed
    /// handshake is never explained as a plain port.
    private static let wording = ClientTLSWording(
        peerNoun: "server", caVariable: "DB_TLS_CA", certificateVariable: "DB_TLS_CERT", keyVariable: "DB_TLS_KEY",
        plainPortHint: nil,
        verificationSetting: .init(
            name: "DB_TLS_MODE", none: MySQLConfiguration.TLS.Mode.required.description,
            chain: MySQLConfiguration.TLS.Mode.verifyCA.description,
            chainAndName: MySQLConfiguration.TLS.Mode.verifyIdentity.description))

    /// Reads the configuration's TLS files and builds the context.
    ///
    /// - Throws: a ``MySQLError/Code/tls`` error naming the file or setting that is wrong.
    init(configuration: MySQLConfiguration) throws(MySQLError) {
        let tls = configuration.tls
        self.mode = tls.mode
        let verification: ClientTLSSettings.Verification
        switch tls.mode {
        case .disabled, .preferred, .required: verification = .none
        case .verifyCA: verification = .chain
        case .verifyIdentity: verification = .chainAndName
        }
        let settings = ClientTLSSettings(
            caFile: tls.caFile, certificateFile: tls.certificateFile, keyFile: tls.keyFile, serverName: tls.serverName,
            verification: verification)
        guard tls.mode != .disabled else {
            // No TLS, but a server name that is an IP address is wrong in any mode: said before a mode uses it.
            do throws(ClientTLSError) {
                _ = try ClientTLSSetup.serverHostname(host: configuration.host, serverName: tls.serverName)
            } catch {
                throw MySQLError(error)
            }
            self.shared = nil
            return
        }
        self.shared = try ClientTLSSetup(
            settings: settings, host: configuration.host, port: configuration.port, wording: Self.wording,
            mapError: { MySQLError($0) })
    }

    /// The context; `nil` when the mode is ``MySQLConfiguration/TLS/Mode/disabled``.
    var context: NIOSSLContext? { self.shared?.context }

    /// The name sent as SNI and verified in `verify-identity`; `nil` for an IP address (NIOSSL verifies it).
    var serverHostname: String? { self.shared?.serverHostname }

    /// A new TLS handler for one connection.
    func makeHandler() throws(MySQLError) -> NIOSSLClientHandler {
        guard let shared = self.shared else {
            throw MySQLError(code: .tls, message: "TLS was requested with DB_TLS_MODE=disabled")
        }
        return try shared.makeHandler(mapError: { MySQLError($0) })
    }

    /// A TLS failure as a ``MySQLError/Code/tls`` error that says which check failed and what to set.
    func explain(_ error: any Error) -> MySQLError {
        if let error = error as? MySQLError { return error }
        guard let shared = self.shared else { return MySQLError(code: .tls, message: "TLS failed: \(error)") }
        return MySQLError(shared.explain(error))
    }

    /// `verify-identity` against a DNS name, after NIOSSL's checks passed (``ClientTLSSetup/checkName(of:)``): `nil`
    /// when the certificate lists the name or nothing is to check; otherwise the refusal.
    func checkName(of certificate: NIOSSLCertificate?) -> MySQLError? {
        self.shared?.checkName(of: certificate).map(MySQLError.init)
    }

    /// Whether `pattern`, a certificate's DNS name, names `name` (``ClientTLSSetup/name(_:matches:)``).
    static func name(_ name: String, matches pattern: String) -> Bool {
        ClientTLSSetup.name(name, matches: pattern)
    }
}

extension MySQLError {
    /// ClientTLS's error as this client's: its `tls` code, or `connectionClosed`.
    init(_ error: ClientTLSError) {
        self.init(code: error.kind == .connectionClosed ? .connectionClosed : .tls, message: error.message)
    }
}
