/// Where and how to connect, and how the client's pool behaves.
///
/// Its `description` never shows the password. Thread-safety: a value; `Sendable`.
public struct MySQLConfiguration: Sendable, CustomStringConvertible, CustomReflectable {
    /// The server's host name or IP address.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The user name.
    public var username: String
    /// The password (never logged).
    public var password: String
    /// The default database, or `nil` for none.
    public var database: String?
    /// How long connecting (TCP plus handshake and authentication) may take.
    public var connectTimeout: Duration
    /// How long one statement may take by default; `nil` for no limit. A statement that takes longer fails with a
    /// ``MySQLError/Code/timeout`` error and its connection is closed (the server aborts the statement when it sees
    /// the connection gone).
    public var queryTimeout: Duration?
    /// How many prepared statements each connection keeps (least recently prepared closed first).
    public var preparedStatementCacheSize: Int
    /// SQL run on every new connection before it is used, e.g. `SET time_zone = '+00:00'`.
    public var connectionInitialization: [String]
    /// The pool's settings (used by ``MySQLClient``).
    public var pool: Pool
    /// How the connection is protected by TLS; by default TLS is used when the server offers it, unverified, as
    /// MySQL's own client does (``TLS/Mode/preferred``).
    public var tls: TLS
    /// The server's RSA public key (PEM, `-----BEGIN PUBLIC KEY-----`), pinned: without TLS, a
    /// `caching_sha2_password` account whose password the server has not cached is authenticated by encrypting the
    /// password to this key, and to no other. `nil`: see ``allowPublicKeyRetrieval``. A key under 2048 bits is
    /// refused.
    public var serverPublicKeyPEM: String?
    /// Whether, without TLS and without ``serverPublicKeyPEM``, the server may be asked for its RSA key so that
    /// `caching_sha2_password` full authentication can encrypt the password to it. Off by default: whoever sits
    /// between client and server could answer with their own key and decrypt the password. When off, such an
    /// authentication fails with a ``MySQLError/Code/authenticationFailed`` error naming the ways out.
    public var allowPublicKeyRetrieval: Bool
    /// The largest packet the server may send, in bytes, after joining its 16 MB parts: one row, one column
    /// definition, one OK or error (default 64 MiB). A larger one fails the running command with a
    /// ``MySQLError/Code/packetTooLarge`` error as soon as its header arrives, and closes the connection (the rest of
    /// the reply cannot be skipped safely; the pool opens another), so a broken or hostile server cannot make the
    /// client buffer without end. It is also the maximum packet size the client announces in its handshake.
    public var maximumPacketSize: Int

    /// TLS settings, named after MySQL's `--ssl-mode`, `--ssl-ca`, `--ssl-cert` and `--ssl-key`.
    ///
    /// TLS is negotiated inside the MySQL protocol: after the server's handshake the client sends an `SSLRequest`,
    /// then the TLS handshake runs on the same TCP connection, and authentication happens inside the tunnel.
    public struct TLS: Sendable, Equatable {
        /// MySQL's `ssl-mode` values.
        public enum Mode: String, Sendable, CaseIterable, CustomStringConvertible {
            /// Plain text, even when the server offers TLS.
            case disabled
            /// TLS when the server offers it, plain text (logged at debug level) when it does not; the server's
            /// certificate is not verified. MySQL's own client's default.
            case preferred
            /// TLS or no connection; the server's certificate is not verified (it protects against eavesdropping,
            /// not against a server in the middle).
            case required
            /// TLS, and the server's certificate chain verified against ``TLS/caFile`` (or the system's trust roots
            /// when it is `nil`); the host name is not checked.
            case verifyCA = "verify-ca"
            /// As ``verifyCA``, and the certificate must name the host connected to (or ``TLS/serverName``).
            case verifyIdentity = "verify-identity"

            /// Parses a mode as MySQL spells it, in any case and with `-` or `_` (`VERIFY_CA`, `verify-ca`);
            /// `nil` for anything else.
            public init?(parsing text: String) {
                self.init(rawValue: text.lowercased().replacingUnderscores())
            }

            /// The MySQL name, e.g. `verify-ca`.
            public var description: String { self.rawValue }

            /// Whether the server's certificate chain is verified.
            public var verifiesCertificate: Bool { self == .verifyCA || self == .verifyIdentity }
        }

        /// The mode.
        public var mode: Mode
        /// PEM file of the authorities that may sign the server's certificate, for ``Mode/verifyCA`` and
        /// ``Mode/verifyIdentity``; `nil`: the system's trust roots. Not used by the modes that do not verify.
        public var caFile: String?
        /// PEM file of a client certificate (with its chain), sent when the server asks for one (mutual TLS).
        public var certificateFile: String?
        /// PEM file of the private key of ``certificateFile``.
        public var keyFile: String?
        /// The name to verify in ``Mode/verifyIdentity`` instead of the host connected to, and to send as SNI; a DNS
        /// name, e.g. when connecting to an IP address whose certificate names the server by name.
        public var serverName: String?

        /// Creates TLS settings; by default ``Mode/preferred`` without files.
        public init(
            mode: Mode = .preferred, caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
            serverName: String? = nil
        ) {
            self.mode = mode
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }

        /// Plain text only.
        public static let disabled = TLS(mode: .disabled)
    }

    /// The pool's settings.
    public struct Pool: Sendable {
        /// Connections kept open even when idle.
        public var minimumConnections: Int
        /// The most connections open at once.
        public var maximumConnections: Int
        /// How long a connection above the minimum may stay idle before it is closed.
        public var idleTimeout: Duration
        /// How often an idle connection is pinged (`COM_PING`); `nil` for never.
        public var keepAliveFrequency: Duration?
        /// After connection attempts have failed for this long, waiting requests fail instead of waiting on.
        public var circuitBreakerTripAfter: Duration
        /// How long a request may wait for a connection (all busy, or none could be opened yet) before it fails
        /// with a ``MySQLError/Code/timeout`` error; `nil` to wait until one is free or the circuit breaker trips.
        public var leaseTimeout: Duration?

        /// Defaults: 0 to 16 connections, 60 s idle timeout, a ping every 30 s, requests fail after 15 s of failed
        /// connection attempts or after waiting 30 s for a connection.
        public init(
            minimumConnections: Int = 0, maximumConnections: Int = 16, idleTimeout: Duration = .seconds(60),
            keepAliveFrequency: Duration? = .seconds(30), circuitBreakerTripAfter: Duration = .seconds(15),
            leaseTimeout: Duration? = .seconds(30)
        ) {
            self.minimumConnections = minimumConnections
            self.maximumConnections = maximumConnections
            self.idleTimeout = idleTimeout
            self.keepAliveFrequency = keepAliveFrequency
            self.circuitBreakerTripAfter = circuitBreakerTripAfter
            self.leaseTimeout = leaseTimeout
        }
    }

    /// Creates a configuration; timeouts default to 10 s (connect) and 30 s (query), TLS to ``TLS/Mode/preferred``,
    /// and the server's RSA key is neither pinned nor retrieved.
    public init(
        host: String, port: Int = 3306, username: String, password: String, database: String? = nil,
        connectTimeout: Duration = .seconds(10), queryTimeout: Duration? = .seconds(30),
        preparedStatementCacheSize: Int = 128, connectionInitialization: [String] = [], pool: Pool = Pool(),
        tls: TLS = TLS(), serverPublicKeyPEM: String? = nil, allowPublicKeyRetrieval: Bool = false,
        maximumPacketSize: Int = 64 << 20
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.queryTimeout = queryTimeout
        self.preparedStatementCacheSize = preparedStatementCacheSize
        self.connectionInitialization = connectionInitialization
        self.pool = pool
        self.tls = tls
        self.serverPublicKeyPEM = serverPublicKeyPEM
        self.allowPublicKeyRetrieval = allowPublicKeyRetrieval
        self.maximumPacketSize = maximumPacketSize
    }

    /// `mysql://user:***@host:port/database`: the password is always masked.
    public var description: String {
        "mysql://\(self.username):***@\(self.host):\(self.port)/\(self.database ?? "")"
    }

    /// A mirror without the password, so `dump` and debuggers never show it.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": self.host, "port": self.port, "username": self.username, "password": "***",
                "database": self.database as Any, "connectTimeout": self.connectTimeout,
                "queryTimeout": self.queryTimeout as Any, "tls": self.tls,
                "serverPublicKeyPEM": self.serverPublicKeyPEM as Any,
                "allowPublicKeyRetrieval": self.allowPublicKeyRetrieval,
                "maximumPacketSize": self.maximumPacketSize,
            ])
    }
}

extension String {
    /// `verify_ca` as `verify-ca`.
    fileprivate func replacingUnderscores() -> String {
        String(self.map { $0 == "_" ? "-" : $0 })
    }
}
