import Crypto
import NIOCore

/// The scrambles of the built-in authentication plugins. Pure functions; the hashes are swift-crypto's.
enum MySQLAuthentication {
    /// `mysql_native_password`: `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`; empty for an empty
    /// password.
    static func nativePasswordScramble(password: String, nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        // SHA-1 is what the plugin is defined with; the scramble does not rely on its collision resistance.
        let stage1 = Array(Insecure.SHA1.hash(data: Array(password.utf8)))
        let stage2 = Array(Insecure.SHA1.hash(data: stage1))
        let mix = Insecure.SHA1.hash(data: Array(nonce.prefix(20)) + stage2)
        return zip(stage1, mix).map { $0 ^ $1 }
    }

    /// `caching_sha2_password` fast path:
    /// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`; empty for an empty password.
    static func cachingSHA2Scramble(password: String, nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let stage1 = Array(SHA256.hash(data: Array(password.utf8)))
        let stage2 = Array(SHA256.hash(data: stage1))
        let mix = SHA256.hash(data: stage2 + Array(nonce.prefix(20)))
        return zip(stage1, mix).map { $0 ^ $1 }
    }

    /// The bytes `caching_sha2_password`'s full path encrypts with the server's RSA key:
    /// `(password + NUL) XOR nonce` (the nonce repeated).
    static func xorPasswordWithNonce(password: String, nonce: [UInt8]) -> [UInt8] {
        let plain = Array(password.utf8) + [0]
        let nonce = Array(nonce.prefix(20))
        guard !nonce.isEmpty else { return plain }
        return plain.enumerated().map { $0.element ^ nonce[$0.offset % nonce.count] }
    }
}


/// The authentication exchange after the server's handshake: TLS negotiation, plugin choice, auth switch,
/// `caching_sha2_password` fast and full paths. A pure state machine: packets in, packets (or a result) out; the
/// channel handler starts TLS when told to.
///
/// The password leaves in clear only inside TLS, and is encrypted only to a key that was pinned
/// (``MySQLConfiguration/serverPublicKeyPEM``) or whose retrieval was explicitly allowed
/// (``MySQLConfiguration/allowPublicKeyRetrieval``).
struct MySQLAuthenticationStateMachine {
    /// The part of `ssl-mode` the protocol sees; verifying the certificate is the TLS layer's business.
    enum TLSPolicy: Equatable, Sendable {
        /// Never ask for TLS.
        case disabled
        /// Ask when the server offers it; go on in plain text otherwise.
        case preferred
        /// Ask, and fail when the server does not offer it.
        case required

        init(_ mode: MySQLConfiguration.TLS.Mode) {
            switch mode {
            case .disabled: self = .disabled
            case .preferred: self = .preferred
            case .required, .verifyCA, .verifyIdentity: self = .required
            }
        }
    }

    enum Action: Equatable {
        /// Send this payload with this sequence id.
        case send(ByteBuffer, sequenceID: UInt8)
        /// Send this `SSLRequest` with this sequence id, then start TLS and call ``tlsEstablished()`` once its
        /// handshake completed.
        case requestTLS(ByteBuffer, sequenceID: UInt8)
        /// The server does not offer TLS and the policy is ``TLSPolicy/preferred``: send this handshake response
        /// in plain text.
        case sendWithoutTLS(ByteBuffer, sequenceID: UInt8)
        /// Authentication succeeded.
        case authenticated(MySQLOKPacket)
        /// Authentication failed.
        case fail(MySQLError)
        /// Nothing to do; wait for the next packet.
        case wait
    }

    private enum State {
        case initial
        /// The `SSLRequest` went out; the handshake response waits for the tunnel.
        case waitingForTLS(MySQLHandshakeResponse41, nonce: [UInt8], sequenceID: UInt8)
        case waitingForResult(plugin: String, nonce: [UInt8])
        case waitingForPublicKey(nonce: [UInt8])
        case done
    }

    private var state: State = .initial
    let username: String
    let password: String
    let database: String?
    let tlsPolicy: TLSPolicy
    /// The pinned server RSA key (PEM), if any.
    let serverPublicKeyPEM: String?
    let allowPublicKeyRetrieval: Bool
    /// Announced in the handshake response: the largest packet this client takes.
    let maxPacketSize: UInt32
    /// Whether the exchange runs inside TLS (from ``tlsEstablished()`` on).
    private(set) var isTLS = false
    /// Whether the server's handshake offered TLS (`CLIENT_SSL`).
    private var serverOffersTLS = false
    private(set) var capabilities: MySQLCapabilities = []

    init(
        username: String, password: String, database: String?, tlsPolicy: TLSPolicy = .disabled,
        serverPublicKeyPEM: String? = nil, allowPublicKeyRetrieval: Bool = false, maxPacketSize: UInt32 = 1 << 30
    ) {
        self.maxPacketSize = maxPacketSize
        self.username = username
        self.password = password
        self.database = database
        self.tlsPolicy = tlsPolicy
        self.serverPublicKeyPEM = serverPublicKeyPEM
        self.allowPublicKeyRetrieval = allowPublicKeyRetrieval
    }

    /// The machine for `configuration`'s credentials, TLS mode and RSA key policy.
    init(configuration: MySQLConfiguration) {
        self.init(
            username: configuration.username, password: configuration.password, database: configuration.database,
            tlsPolicy: TLSPolicy(configuration.tls.mode), serverPublicKeyPEM: configuration.serverPublicKeyPEM,
            allowPublicKeyRetrieval: configuration.allowPublicKeyRetrieval,
            maxPacketSize: UInt32(clamping: max(configuration.maximumPacketSize, 0)))
    }

    static let supportedPlugins: Set<String> = ["mysql_native_password", "caching_sha2_password"]

    /// Answers the server's handshake: with an `SSLRequest` when TLS is wanted and offered, otherwise with the
    /// `HandshakeResponse41`.
    mutating func handshakeReceived(_ handshake: MySQLHandshakeV10, sequenceID: UInt8) -> Action {
        guard handshake.capabilities.isSuperset(of: .required) else {
            return self.fail(
                MySQLError(code: .unsupported, message: "server \(handshake.serverVersion) lacks protocol 4.1 auth"))
        }
        let offersTLS = handshake.capabilities.contains(.ssl)
        self.serverOffersTLS = offersTLS
        var capabilities = MySQLCapabilities.client.intersection(handshake.capabilities)
        capabilities.insert(.longPassword)
        if self.database != nil { capabilities.insert(.connectWithDB) }
        if self.tlsPolicy != .disabled && offersTLS { capabilities.insert(.ssl) }
        self.capabilities = capabilities
        var plugin = handshake.authPluginName ?? "mysql_native_password"
        if !Self.supportedPlugins.contains(plugin) { plugin = "mysql_native_password" }
        let nonce = handshake.authPluginData
        let response = MySQLHandshakeResponse41(
            capabilities: capabilities, maxPacketSize: self.maxPacketSize, username: self.username,
            authResponse: Self.scramble(plugin: plugin, password: self.password, nonce: nonce),
            database: self.database, authPluginName: plugin)
        switch (self.tlsPolicy, offersTLS) {
        case (.disabled, _):
            self.state = .waitingForResult(plugin: plugin, nonce: nonce)
            return .send(response.encode(), sequenceID: sequenceID &+ 1)
        case (.preferred, true), (.required, true):
            self.state = .waitingForTLS(response, nonce: nonce, sequenceID: sequenceID &+ 2)
            return .requestTLS(response.encodeSSLRequest(), sequenceID: sequenceID &+ 1)
        case (.preferred, false):
            self.state = .waitingForResult(plugin: plugin, nonce: nonce)
            return .sendWithoutTLS(response.encode(), sequenceID: sequenceID &+ 1)
        case (.required, false):
            return self.fail(
                MySQLError(
                    code: .tls,
                    message: "the server (\(handshake.serverVersion)) does not offer TLS (no CLIENT_SSL in its "
                        + "handshake), and this connection requires TLS: enable TLS on the server (ssl_cert, "
                        + "ssl_key), or set DB_TLS_MODE=preferred or disabled to allow plain text"))
        }
    }

    /// The TLS handshake completed: sends the `HandshakeResponse41` inside the tunnel.
    mutating func tlsEstablished() -> Action {
        guard case .waitingForTLS(let response, let nonce, let sequenceID) = self.state else {
            return self.fail(MySQLError(code: .protocolError, message: "TLS was established but not requested"))
        }
        self.isTLS = true
        self.state = .waitingForResult(plugin: response.authPluginName, nonce: nonce)
        return .send(response.encode(), sequenceID: sequenceID)
    }

    static func scramble(plugin: String, password: String, nonce: [UInt8]) -> [UInt8] {
        plugin == "caching_sha2_password"
            ? MySQLAuthentication.cachingSHA2Scramble(password: password, nonce: nonce)
            : MySQLAuthentication.nativePasswordScramble(password: password, nonce: nonce)
    }

    /// Handles a packet after the handshake response.
    mutating func packetReceived(_ packet: MySQLPacket) -> Action {
        var payload = packet.payload
        let next = packet.sequenceID &+ 1
        guard let header = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else {
            return self.fail(MySQLError(code: .protocolError, message: "empty packet during authentication"))
        }
        switch (self.state, header) {
        case (.done, _), (.initial, _):
            return self.fail(MySQLError(code: .protocolError, message: "unexpected packet during authentication"))
        case (.waitingForTLS, _):
            return self.fail(
                MySQLError(code: .protocolError, message: "the server sent a packet instead of starting TLS"))
        case (_, 0x00):
            do {
                let ok = try MySQLOKPacket(payload: payload)
                self.state = .done
                return .authenticated(ok)
            } catch {
                return self.fail(error as? MySQLError ?? MySQLError(code: .protocolError, message: "bad OK"))
            }
        case (_, 0xFF):
            do {
                return self.fail(self.explainRefusal(try parseErrorPacket(payload)))
            } catch {
                return self.fail(error as? MySQLError ?? MySQLError(code: .protocolError, message: "bad ERR"))
            }
        case (.waitingForResult, 0xFE):
            // AuthSwitchRequest: plugin name, then the new nonce (with a trailing NUL for the built-in plugins).
            payload.moveReaderIndex(forwardBy: 1)
            guard let plugin = payload.readMySQLCString() else {
                return self.fail(MySQLError(code: .protocolError, message: "malformed auth switch request"))
            }
            var nonce = Array(payload.readableBytesView)
            if nonce.last == 0 { nonce.removeLast() }
            guard Self.supportedPlugins.contains(plugin) else {
                return self.fail(
                    MySQLError(code: .unsupported, message: "the server asks for unsupported auth plugin \(plugin)"))
            }
            self.state = .waitingForResult(plugin: plugin, nonce: nonce)
            let scramble = Self.scramble(plugin: plugin, password: self.password, nonce: nonce)
            return .send(ByteBuffer(bytes: scramble), sequenceID: next)
        case (.waitingForResult(let plugin, let nonce), 0x01) where plugin == "caching_sha2_password":
            payload.moveReaderIndex(forwardBy: 1)
            switch payload.readInteger(as: UInt8.self) {
            case 0x03:  // fast_auth_success: an OK packet follows
                return .wait
            case 0x04:  // perform_full_authentication: the server needs the password itself
                return self.fullAuthentication(nonce: nonce, sequenceID: next)
            default:
                return self.fail(MySQLError(code: .protocolError, message: "unexpected caching_sha2_password state"))
            }
        case (.waitingForPublicKey(let nonce), 0x01):
            payload.moveReaderIndex(forwardBy: 1)
            guard let pem = payload.readString(length: payload.readableBytes) else {
                return self.fail(MySQLError(code: .protocolError, message: "malformed public key"))
            }
            return self.sendEncrypted(
                nonce: nonce, publicKeyPEM: pem, keyOrigin: "the RSA key the server sent", sequenceID: next)
        default:
            return self.fail(
                MySQLError(code: .protocolError, message: "unexpected packet 0x\(String(header, radix: 16)) in auth"))
        }
    }

    /// `caching_sha2_password`'s full authentication: the password in clear inside TLS; without TLS, encrypted to
    /// the pinned key, or to the server's key when asking for it is allowed; otherwise not sent at all, since a key
    /// that arrives over plain text may be anyone's.
    private mutating func fullAuthentication(nonce: [UInt8], sequenceID: UInt8) -> Action {
        if self.isTLS {
            return .send(ByteBuffer(bytes: Array(self.password.utf8) + [0]), sequenceID: sequenceID)
        }
        if let pinned = self.serverPublicKeyPEM {
            return self.sendEncrypted(
                nonce: nonce, publicKeyPEM: pinned, keyOrigin: "the pinned server key (DB_SERVER_PUBLIC_KEY)",
                sequenceID: sequenceID)
        }
        if self.allowPublicKeyRetrieval {
            self.state = .waitingForPublicKey(nonce: nonce)
            return .send(ByteBuffer(bytes: [0x02]), sequenceID: sequenceID)  // request_public_key
        }
        return self.fail(
            MySQLError(
                code: .authenticationFailed,
                message: "caching_sha2_password full authentication needs the password itself (the server has not "
                    + "cached it), and without TLS it could only be encrypted to an RSA key nobody verified, so it "
                    + "was not sent. Use TLS (DB_TLS_MODE=preferred, required, verify-ca or verify-identity, with a "
                    + "server that offers TLS), pin the server's key (DB_SERVER_PUBLIC_KEY, a PEM file of its "
                    + "caching_sha2_password public key), or allow asking the server for it "
                    + "(DB_ALLOW_PUBLIC_KEY_RETRIEVAL=true; a server in the middle could answer)"))
    }

    private mutating func sendEncrypted(nonce: [UInt8], publicKeyPEM: String, keyOrigin: String, sequenceID: UInt8)
        -> Action
    {
        do {
            let plain = MySQLAuthentication.xorPasswordWithNonce(password: self.password, nonce: nonce)
            let encrypted = try MySQLRSA.encrypt(plain, publicKeyPEM: publicKeyPEM, keyOrigin: keyOrigin)
            self.state = .waitingForResult(plugin: "caching_sha2_password", nonce: nonce)
            return .send(ByteBuffer(bytes: encrypted), sequenceID: sequenceID)
        } catch {
            return self.fail(error)
        }
    }

    /// The server's `ERR` during authentication as the caller should see it.
    ///
    /// A server with `require_secure_transport=ON` refuses a plain-text client: MySQL with its own error
    /// (``secureTransportRequiredErrorNumber``), which becomes a ``MySQLError/Code/tls`` error; MariaDB (checked
    /// against 10.11) with the very `ERR` a wrong password gets, 1045 "Access denied ... (using password: YES)".
    /// That one stays an ``MySQLError/Code/authenticationFailed`` error, and when this connection chose plain text
    /// although the server offered TLS, its message says that the server requires TLS if the credentials are right.
    private func explainRefusal(_ serverError: MySQLError) -> MySQLError {
        var error = serverError
        if !self.isTLS && serverError.serverErrorNumber == Self.secureTransportRequiredErrorNumber {
            error.code = .tls
            error.message = "the server requires TLS (require_secure_transport=ON) and refused this plain-text "
                + "connection: set DB_TLS_MODE to preferred, required, verify-ca or verify-identity (the server "
                + "said: \(serverError.message))"
            return error
        }
        // The credentials were fine when only the default database is the problem.
        if !error.isUnknownDatabase && error.serverErrorNumber != 1044 { error.code = .authenticationFailed }
        if !self.isTLS && self.serverOffersTLS && error.serverErrorNumber == Self.accessDeniedErrorNumber {
            error.message += ". This connection is plain text (DB_TLS_MODE=disabled) although the server offers "
                + "TLS; MariaDB refuses plain-text clients with this same error when it requires secure transport "
                + "(require_secure_transport=ON), so if the credentials are right, the server requires TLS: set "
                + "DB_TLS_MODE to preferred, required, verify-ca or verify-identity"
        }
        return error
    }

    /// MySQL's `ER_SECURE_TRANSPORT_REQUIRED`: a plain-text client refused under `require_secure_transport=ON`.
    static let secureTransportRequiredErrorNumber: UInt16 = 3159
    /// `ER_ACCESS_DENIED_ERROR`, also MariaDB's answer to a plain-text client under `require_secure_transport=ON`.
    static let accessDeniedErrorNumber: UInt16 = 1045

    private mutating func fail(_ error: MySQLError) -> Action {
        self.state = .done
        return .fail(error)
    }
}

extension MySQLAuthenticationStateMachine: CustomStringConvertible, CustomReflectable {
    /// Never shows the password.
    var description: String { "MySQLAuthenticationStateMachine(user: \(self.username))" }
    /// Never shows the password.
    var customMirror: Mirror { Mirror(self, children: ["username": self.username, "password": "***"]) }
}
