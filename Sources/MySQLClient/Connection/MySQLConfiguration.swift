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

    /// Creates a configuration; timeouts default to 10 s (connect) and 30 s (query).
    public init(
        host: String, port: Int = 3306, username: String, password: String, database: String? = nil,
        connectTimeout: Duration = .seconds(10), queryTimeout: Duration? = .seconds(30),
        preparedStatementCacheSize: Int = 128, connectionInitialization: [String] = [], pool: Pool = Pool()
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
                "queryTimeout": self.queryTimeout as Any,
            ])
    }
}
