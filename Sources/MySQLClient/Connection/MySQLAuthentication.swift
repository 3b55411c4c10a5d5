import NIOCore

/// The scrambles of the built-in authentication plugins. Pure functions.
enum MySQLAuthentication {
    /// `mysql_native_password`: `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`; empty for an empty
    /// password.
    static func nativePasswordScramble(password: String, nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let stage1 = SHA1.hash(Array(password.utf8))
        let stage2 = SHA1.hash(stage1)
        let mix = SHA1.hash(Array(nonce.prefix(20)) + stage2)
        return zip(stage1, mix).map { $0 ^ $1 }
    }

    /// `caching_sha2_password` fast path:
    /// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`; empty for an empty password.
    static func cachingSHA2Scramble(password: String, nonce: [UInt8]) -> [UInt8] {
        guard !password.isEmpty else { return [] }
        let stage1 = SHA256.hash(Array(password.utf8))
        let stage2 = SHA256.hash(stage1)
        let mix = SHA256.hash(stage2 + Array(nonce.prefix(20)))
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

/// Encrypts with an RSA public key (PEM) using OAEP with SHA-1, as `caching_sha2_password` and `sha256_password`
/// expect. Injected so the state machine stays pure.
typealias MySQLRSAEncryptor = @Sendable (_ plaintext: [UInt8], _ publicKeyPEM: String) throws -> [UInt8]

/// The authentication exchange after the server's handshake: plugin choice, auth switch, `caching_sha2_password`
/// fast and full paths. A pure state machine: packets in, packets (or a result) out.
struct MySQLAuthenticationStateMachine {
    enum Action: Equatable {
        /// Send this payload with this sequence id.
        case send(ByteBuffer, sequenceID: UInt8)
        /// Authentication succeeded.
        case authenticated(MySQLOKPacket)
        /// Authentication failed.
        case fail(MySQLError)
        /// Nothing to do; wait for the next packet.
        case wait
    }

    private enum State {
        case initial
        case waitingForResult(plugin: String, nonce: [UInt8])
        case waitingForPublicKey(nonce: [UInt8])
        case done
    }

    private var state: State = .initial
    let username: String
    let password: String
    let database: String?
    let isTLS: Bool
    let encryptor: MySQLRSAEncryptor?
    private(set) var capabilities: MySQLCapabilities = []

    init(username: String, password: String, database: String?, isTLS: Bool = false, encryptor: MySQLRSAEncryptor?) {
        self.username = username
        self.password = password
        self.database = database
        self.isTLS = isTLS
        self.encryptor = encryptor
    }

    static let supportedPlugins: Set<String> = ["mysql_native_password", "caching_sha2_password"]

    /// Answers the server's handshake with a `HandshakeResponse41`.
    mutating func handshakeReceived(_ handshake: MySQLHandshakeV10, sequenceID: UInt8) -> Action {
        guard handshake.capabilities.isSuperset(of: .required) else {
            self.state = .done
            return .fail(
                MySQLError(code: .unsupported, message: "server \(handshake.serverVersion) lacks protocol 4.1 auth"))
        }
        var capabilities = MySQLCapabilities.client.intersection(handshake.capabilities)
        capabilities.insert(.longPassword)
        if self.database != nil { capabilities.insert(.connectWithDB) }
        self.capabilities = capabilities
        var plugin = handshake.authPluginName ?? "mysql_native_password"
        if !Self.supportedPlugins.contains(plugin) { plugin = "mysql_native_password" }
        let nonce = handshake.authPluginData
        let response = MySQLHandshakeResponse41(
            capabilities: capabilities, username: self.username,
            authResponse: Self.scramble(plugin: plugin, password: self.password, nonce: nonce),
            database: self.database, authPluginName: plugin)
        self.state = .waitingForResult(plugin: plugin, nonce: nonce)
        return .send(response.encode(), sequenceID: sequenceID &+ 1)
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
                var error = try parseErrorPacket(payload)
                // The credentials were fine when only the default database is the problem.
                if !error.isUnknownDatabase && error.serverErrorNumber != 1044 { error.code = .authenticationFailed }
                return self.fail(error)
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
            case 0x04:  // perform_full_authentication
                if self.isTLS {
                    return .send(ByteBuffer(bytes: Array(self.password.utf8) + [0]), sequenceID: next)
                }
                guard self.encryptor != nil else {
                    return self.fail(
                        MySQLError(
                            code: .unsupported,
                            message: "caching_sha2_password full authentication needs TLS or RSA support"))
                }
                self.state = .waitingForPublicKey(nonce: nonce)
                return .send(ByteBuffer(bytes: [0x02]), sequenceID: next)  // request_public_key
            default:
                return self.fail(MySQLError(code: .protocolError, message: "unexpected caching_sha2_password state"))
            }
        case (.waitingForPublicKey(let nonce), 0x01):
            payload.moveReaderIndex(forwardBy: 1)
            guard let pem = payload.readString(length: payload.readableBytes), let encryptor = self.encryptor else {
                return self.fail(MySQLError(code: .protocolError, message: "malformed public key"))
            }
            do {
                let plain = MySQLAuthentication.xorPasswordWithNonce(password: self.password, nonce: nonce)
                let encrypted = try encryptor(plain, pem)
                self.state = .waitingForResult(plugin: "caching_sha2_password", nonce: nonce)
                return .send(ByteBuffer(bytes: encrypted), sequenceID: next)
            } catch {
                return self.fail(
                    MySQLError(
                        code: .authenticationFailed, message: "could not encrypt with the server's RSA key: \(error)"))
            }
        default:
            return self.fail(
                MySQLError(code: .protocolError, message: "unexpected packet 0x\(String(header, radix: 16)) in auth"))
        }
    }

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
