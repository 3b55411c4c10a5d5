/// Where and how to connect: address, credentials, TLS, database, pool size, timeouts and protocol limits.
///
/// Its `description` never shows the password. Thread safety: a value type, `Sendable`.
public struct RedisConfiguration: Sendable, CustomStringConvertible {
    /// The server's host name or IP address.
    public var host: String
    /// The server's TCP port (default 6379).
    public var port: Int
    /// The password for `AUTH`, or `nil` for none.
    public var password: String?
    /// The ACL user name for `AUTH username password` (Redis 6+); `nil` sends `AUTH password`, which authenticates
    /// as the `default` user. Only used with a ``password``.
    public var username: String?
    /// TLS to the server (its certificate chain and name always verified); `nil`, the default, connects in plain
    /// text. Every connection of the pool, shared or leased, uses it.
    public var tls: TLS?
    /// The database index chosen with `SELECT` on each new connection; `nil` keeps the server's default (0).
    public var database: Int?
    /// Connections the pool keeps open even when idle (default 1).
    public var minimumConnections: Int
    /// The most connections the pool opens (default 16).
    public var maximumConnections: Int
    /// How many of the pool's connections are shared by all concurrent plain commands and pipelines (default 2).
    ///
    /// Commands from many tasks are multiplexed over these connections: whatever is submitted while a connection's
    /// event loop is busy goes out in one write, and replies are matched in order (automatic pipelining). That is
    /// much cheaper than a connection per command. Blocking and connection-state commands (`BLPOP`, `SELECT`,
    /// `MULTI`, ...) and ``RedisClient/withConnection(_:)`` still get a connection of their own. At most
    /// `maximumConnections - 1` are shared, so one is always left for those; 0 gives every command its own leased
    /// connection. Since replies on a connection come in order, a slow command (a huge value, a long script) delays
    /// the replies of the others sharing its connection, and a timeout fails them all.
    public var sharedConnections: Int
    /// How long opening a connection (TCP, `AUTH`, `SELECT`) may take (default 5 s).
    public var connectTimeout: Duration
    /// How long a command may wait, for a pooled connection and for its reply (default 10 s). A reply that does not
    /// come in time closes its connection, since later replies could no longer be matched.
    public var commandTimeout: Duration
    /// How long an idle connection above ``minimumConnections`` stays open (default 60 s).
    public var idleTimeout: Duration
    /// How long connecting may fail before waiting commands fail fast instead of waiting (default 5 s). The pool
    /// keeps reconnecting with exponential backoff (100 ms × 1.25ⁿ, capped at 60 s) meanwhile.
    public var circuitBreakerTripAfter: Duration
    /// Limits on replies (bulk size, nesting depth).
    public var limits: RESPLimits

    /// Creates a configuration; only the address is required.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        password: String? = nil,
        username: String? = nil,
        tls: TLS? = nil,
        database: Int? = nil,
        minimumConnections: Int = 1,
        maximumConnections: Int = 16,
        sharedConnections: Int = 2,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60),
        circuitBreakerTripAfter: Duration = .seconds(5),
        limits: RESPLimits = .init()
    ) {
        self.host = host
        self.port = port
        self.password = password
        self.username = username
        self.tls = tls
        self.database = database
        self.minimumConnections = minimumConnections
        self.maximumConnections = maximumConnections
        self.sharedConnections = sharedConnections
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.idleTimeout = idleTimeout
        self.circuitBreakerTripAfter = circuitBreakerTripAfter
        self.limits = limits
    }

    /// The settings, with the password shown only as `<set>` or `<none>`.
    public var description: String {
        "RedisConfiguration(host: \(self.host), port: \(self.port), username: \(self.username ?? "<default>"), "
            + "password: \(self.password == nil ? "<none>" : "<set>"), tls: \(self.tls.map { "\($0)" } ?? "off"), "
            + "database: \(self.database.map(String.init) ?? "<default>"), "
            + "connections: \(self.minimumConnections)...\(self.maximumConnections))"
    }

    /// TLS settings. The server's certificate chain is verified against ``caFile`` (or the system's trust roots) and
    /// must name the host connected to (or ``serverName``); there is no way to turn either check off.
    ///
    /// Thread safety: a value type, `Sendable`.
    public struct TLS: Sendable, Equatable, CustomStringConvertible {
        /// PEM file of the authorities that may sign the server's certificate; `nil`: the system's trust roots.
        public var caFile: String?
        /// PEM file of a client certificate (with its chain), sent when the server asks for one (mutual TLS). Needs
        /// ``keyFile``.
        public var certificateFile: String?
        /// PEM file of the private key of ``certificateFile``.
        public var keyFile: String?
        /// The DNS name to verify in the server's certificate and to send as SNI instead of the host, e.g. when
        /// connecting to an IP address whose certificate names the server; `nil`: the host.
        public var serverName: String?

        /// Creates TLS settings; without arguments: the system's trust roots, no client certificate, the host's name.
        public init(
            caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil
        ) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }

        /// The files and name, e.g. `on (CA file ca.pem, client certificate cert.pem, server name localhost)`.
        public var description: String {
            var parts = [self.caFile.map { "CA file \($0)" } ?? "system trust roots"]
            if let certificateFile { parts.append("client certificate \(certificateFile)") }
            if let serverName { parts.append("server name \(serverName)") }
            return "on (\(parts.joined(separator: ", ")))"
        }
    }
}
