/// The bounds every service's HTTP listener applies (docs/OPERATIONS.md, "HTTP connections").
public struct HTTPServerSettings: Sendable, Equatable {
    /// `HTTP_IDLE_TIMEOUT`: a connection with no request in progress for this long is closed.
    public var idleTimeout: Duration
    /// `HTTP_HEADER_TIMEOUT`: once a request's first byte has arrived, its whole head (request line and headers)
    /// must arrive within this, else the connection is closed. A client dripping headers holds a connection no
    /// longer than this, however often it sends a byte.
    public var headerTimeout: Duration
    /// `HTTP_MAX_CONNECTIONS`: connections open at once on the service port; the next one is answered with a
    /// 503 and closed.
    public var maxConnections: Int
    /// `OPS_PORT`: when set, `/health`, `/health/live` and `/metrics` are served on this port instead of the
    /// service port, with their own connection cap (``opsMaxConnections``), so a full service port never hides
    /// the process's health.
    public var opsPort: Int?

    /// The ops port's own cap: probes and scrapes need a few connections, and a flood of it must not take
    /// the process's file descriptors.
    public static let opsMaxConnections = 64
    /// The default of `HTTP_MAX_CONNECTIONS`.
    public static let defaultMaxConnections = 256
    /// The accepted range of `HTTP_MAX_CONNECTIONS`.
    public static let maxConnectionsRange = 1...1_000_000

    /// Creates the settings; the defaults are the documented ones.
    public init(
        idleTimeout: Duration = .seconds(60),
        headerTimeout: Duration = .seconds(10),
        maxConnections: Int = HTTPServerSettings.defaultMaxConnections,
        opsPort: Int? = nil
    ) {
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.maxConnections = maxConnections
        self.opsPort = opsPort
    }
}
