import ArgumentParser

/// Options every command shares: logging, listening address, backends and their servers.
public struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (env: LOG_LEVEL; default: info)")
    public var logLevel: String?

    @Option(help: "Address the HTTP servers listen on. (env: SERVICE_HOST; default: 0.0.0.0)")
    public var hostname: String?

    @Option(help: "Folder for SQLite files and the embedded broker's queues. (env: DATA_DIR; default: ./data)")
    public var dataDir: String?

    @Option(help: "Storage backend: sqlite or mysql. (env: STORE; default: sqlite for `all` and `migrate`, mysql for a single service)")
    public var store: String?

    @Option(help: "Cache backend: memory or redis. (env: CACHE; default: memory for `all`, redis for a single service)")
    public var cache: String?

    @Option(help: "Broker: embedded or rabbitmq. (env: BROKER; default: embedded for `all`, rabbitmq for a single service)")
    public var broker: String?

    @Option(help: "SQLite durability: normal (WAL, survives a process crash) or full (fsync per commit, survives power loss). (env: SQLITE_SYNCHRONOUS; default: normal)")
    public var sqliteSynchronous: String?

    @Option(help: "Entries kept by the in-process cache. (env: CACHE_CAPACITY; default: 10000)")
    public var cacheCapacity: Int?

    @Option(help: "MySQL connections per service, at most. (env: DB_POOL_SIZE; default: 10)")
    public var dbPoolSize: Int?

    @Option(help: "Longest a MySQL query may take. (env: DB_QUERY_TIMEOUT; default: 10s)")
    public var dbQueryTimeout: String?

    @Option(help: "Longest a request waits for a MySQL connection (pool busy, or MySQL unreachable) before it fails with a 503. (env: DB_LEASE_TIMEOUT; default: 2s)")
    public var dbLeaseTimeout: String?

    @Option(help: "How long start-up waits for MySQL to answer (migrations run first). (env: DB_CONNECT_TIMEOUT; default: 30s)")
    public var dbConnectTimeout: String?

    @Option(help: "Redis host. (env: REDIS_HOST; default: localhost; the password is read from REDIS_PASSWORD or REDIS_PASSWORD_FILE only)")
    public var redisHost: String?

    @Option(help: "Redis ACL user, sent with the password (AUTH user password). (env: REDIS_USERNAME; default: none)")
    public var redisUsername: String?

    @Option(help: "TLS to Redis, the server's certificate and name verified: true or false. (env: REDIS_TLS; default: false)")
    public var redisTls: Bool?

    @Option(help: "CA certificate (PEM file) that signed Redis's certificate; default: the system's trust roots. (env: REDIS_TLS_CA)")
    public var redisTlsCa: String?

    @Option(help: "Client certificate (PEM file) for Redis, when it checks clients. (env: REDIS_TLS_CERT)")
    public var redisTlsCert: String?

    @Option(help: "Private key (PEM file) of the Redis client certificate. (env: REDIS_TLS_KEY)")
    public var redisTlsKey: String?

    @Option(help: "Longest a Redis call may take before it counts as a miss; repeated failures open a circuit breaker. (env: CACHE_TIMEOUT; default: 100ms)")
    public var cacheTimeout: String?

    @Option(help: "Redis port. (env: REDIS_PORT; default: 6379)")
    public var redisPort: Int?

    @Option(help: "RabbitMQ URL, amqp:// or amqps:// (TLS, port 5671), user and password percent-encoded; a bare trailing slash means vhost '/'. Prefer the environment: an argument is visible to every user of the machine. (env: RABBITMQ_URL or RABBITMQ_URL_FILE; default: amqp://guest:guest@localhost:5672/)")
    public var rabbitmqURL: String?

    @Option(help: "CA certificate (PEM file) that signed RabbitMQ's certificate, for amqps://; default: the system's trust roots. (env: RABBITMQ_TLS_CA)")
    public var rabbitmqTlsCa: String?

    @Option(help: "Client certificate (PEM file) for RabbitMQ, when it checks clients. (env: RABBITMQ_TLS_CERT)")
    public var rabbitmqTlsCert: String?

    @Option(help: "Private key (PEM file) of the RabbitMQ client certificate. (env: RABBITMQ_TLS_KEY)")
    public var rabbitmqTlsKey: String?

    @Option(help: "How long start-up waits for RabbitMQ's first connection. (env: BROKER_CONNECT_TIMEOUT; default: 30s)")
    public var brokerConnectTimeout: String?

    @Option(help: "Largest message body a consumer takes, in bytes (4096 to 134217728); a larger delivery is dead-lettered without being read into memory. (env: AMQP_MAX_BODY; default: 1048576)")
    public var amqpMaxBody: Int?

    @Option(help: "How long a publish waits for RabbitMQ's confirm; then it fails and the outbox keeps the event for a retry. (env: PUBLISH_CONFIRM_TIMEOUT; default: 10s)")
    public var publishConfirmTimeout: String?

    @Option(help: "Delays of the three retry levels of the consumer queues. (env: RETRY_DELAYS; default: 1s,10s,60s)")
    public var retryDelays: String?

    public init() {}
}

/// Tunables of the order service.
public struct OrderTuningOptions: ParsableArguments {
    @Option(help: "Largest POST body in bytes; larger is a 413. (env: MAX_BODY_SIZE; default: 65536)")
    public var maxBodySize: Int?

    @Option(help: "Outbox events published per batch. (env: OUTBOX_BATCH_SIZE; default: 256)")
    public var outboxBatchSize: Int?

    @Option(help: "Safety-net poll of the outbox relay (new orders wake it at once). (env: OUTBOX_POLL_INTERVAL; default: 1s)")
    public var outboxPollInterval: String?

    @Option(help: "How long published outbox events are kept. (env: OUTBOX_RETENTION; default: 24h)")
    public var outboxRetention: String?

    @Option(help: "How long an Idempotency-Key of POST /orders answers with its order. (env: IDEMPOTENCY_KEY_TTL; default: 24h)")
    public var idempotencyKeyTtl: String?

    @Option(help: "Failed attempts of one outbox event, each while the broker confirmed others, before it is parked and /health says degraded. (env: OUTBOX_MAX_ATTEMPTS; default: 10)")
    public var outboxMaxAttempts: Int?

    @Option(help: "Orders waiting for the database at most; beyond it POST /orders answers 503 with Retry-After at once. (env: ORDER_QUEUE_LIMIT; default: 1024)")
    public var orderQueueLimit: Int?

    @Option(help: "Orders kept in the process in front of Redis (orders never change, so it needs no invalidation); 0 for none. (env: NEAR_CACHE_CAPACITY; default: 10000)")
    public var nearCacheCapacity: Int?

    public init() {}
}

/// Tunables of the analytics service.
public struct AnalyticsTuningOptions: ParsableArguments {
    @Option(help: "Unacknowledged deliveries in flight; batches of up to half of them are applied, one transaction each, while the rest arrive. (env: ANALYTICS_PREFETCH; default: 512)")
    public var analyticsPrefetch: Int?

    public init() {}
}

/// Tunables of the notification worker.
public struct NotificationTuningOptions: ParsableArguments {
    @Option(help: "Deliveries processed concurrently. (env: NOTIFICATION_PREFETCH; default: 32)")
    public var notificationPrefetch: Int?

    @Option(help: "Attempts before a failing notification is dead-lettered. (env: NOTIFICATION_MAX_ATTEMPTS; default: 5)")
    public var notificationMaxAttempts: Int?

    @Option(help: "Simulated provider latency per send. (env: NOTIFICATION_LATENCY; default: 0ms)")
    public var notificationLatency: String?

    @Option(help: "Fraction of simulated sends that fail transiently, 0 to 1. (env: NOTIFICATION_FAILURE_RATE; default: 0)")
    public var notificationFailureRate: Double?

    public init() {}
}

/// Database connection for a single-service command: the original's plain `DB_*` variables.
public struct DatabaseOptions: ParsableArguments {
    @Option(help: "MySQL host. (env: DB_HOST; default: localhost)")
    public var dbHost: String?

    @Option(help: "MySQL port. (env: DB_PORT; default: 3306)")
    public var dbPort: Int?

    @Option(help: "MySQL user. (env: DB_USER; default: the service's original user; the password is read from DB_PASSWORD or DB_PASSWORD_FILE only)")
    public var dbUser: String?

    @Option(help: "MySQL database. (env: DB_NAME; default: the service's original database)")
    public var dbName: String?

    @Option(help: "MySQL TLS: disabled, preferred (TLS when the server offers it, not verified), required (not verified), verify-ca, verify-identity. (env: DB_TLS_MODE; default: preferred)")
    public var dbTlsMode: String?

    @Option(help: "CA certificate (PEM file) that signed the MySQL server's certificate; default: the system's trust roots. (env: DB_TLS_CA)")
    public var dbTlsCa: String?

    @Option(help: "Client certificate (PEM file) for MySQL. (env: DB_TLS_CERT)")
    public var dbTlsCert: String?

    @Option(help: "Private key (PEM file) of the MySQL client certificate. (env: DB_TLS_KEY)")
    public var dbTlsKey: String?

    @Option(help: "The MySQL server's RSA public key (PEM file), pinned: without TLS, caching_sha2_password encrypts the password to this key only. (env: DB_SERVER_PUBLIC_KEY)")
    public var dbServerPublicKey: String?

    @Option(help: "Without TLS and without a pinned key, ask the MySQL server for its RSA key (a server in the middle could answer): true or false. (env: DB_ALLOW_PUBLIC_KEY_RETRIEVAL; default: false)")
    public var dbAllowPublicKeyRetrieval: Bool?

    public init() {}
}

/// Database connections for `all` and `migrate all`: per-service prefixed variables first, then the shared
/// `DB_HOST`/`DB_PORT`, then each service's original defaults.
public struct SystemDatabaseOptions: ParsableArguments {
    @Option(help: "Order database host. (env: ORDER_DB_HOST, then DB_HOST; default: localhost)")
    public var orderDbHost: String?

    @Option(help: "Order database port. (env: ORDER_DB_PORT, then DB_PORT; default: 3306)")
    public var orderDbPort: Int?

    @Option(help: "Order database user. (env: ORDER_DB_USER; default: orderuser; password from ORDER_DB_PASSWORD or ORDER_DB_PASSWORD_FILE, default orderpass)")
    public var orderDbUser: String?

    @Option(help: "Order database name. (env: ORDER_DB_NAME; default: order_db)")
    public var orderDbName: String?

    @Option(help: "Order database TLS mode, as --db-tls-mode. (env: ORDER_DB_TLS_MODE, then DB_TLS_MODE; default: preferred)")
    public var orderDbTlsMode: String?

    @Option(help: "Order database CA certificate (PEM file). (env: ORDER_DB_TLS_CA, then DB_TLS_CA)")
    public var orderDbTlsCa: String?

    @Option(help: "Order database client certificate (PEM file). (env: ORDER_DB_TLS_CERT, then DB_TLS_CERT)")
    public var orderDbTlsCert: String?

    @Option(help: "Order database client key (PEM file). (env: ORDER_DB_TLS_KEY, then DB_TLS_KEY)")
    public var orderDbTlsKey: String?

    @Option(help: "Order database server's RSA public key (PEM file), pinned. (env: ORDER_DB_SERVER_PUBLIC_KEY, then DB_SERVER_PUBLIC_KEY)")
    public var orderDbServerPublicKey: String?

    @Option(help: "Order database: ask the server for its RSA key without TLS. (env: ORDER_DB_ALLOW_PUBLIC_KEY_RETRIEVAL, then DB_ALLOW_PUBLIC_KEY_RETRIEVAL; default: false)")
    public var orderDbAllowPublicKeyRetrieval: Bool?

    @Option(help: "Analytics database host. (env: ANALYTICS_DB_HOST, then DB_HOST; default: localhost)")
    public var analyticsDbHost: String?

    @Option(help: "Analytics database port. (env: ANALYTICS_DB_PORT, then DB_PORT; default: 3306)")
    public var analyticsDbPort: Int?

    @Option(help: "Analytics database user. (env: ANALYTICS_DB_USER; default: analyticsuser; password from ANALYTICS_DB_PASSWORD or ANALYTICS_DB_PASSWORD_FILE, default analyticspass)")
    public var analyticsDbUser: String?

    @Option(help: "Analytics database name. (env: ANALYTICS_DB_NAME; default: analytics_db)")
    public var analyticsDbName: String?

    @Option(help: "Analytics database TLS mode, as --db-tls-mode. (env: ANALYTICS_DB_TLS_MODE, then DB_TLS_MODE; default: preferred)")
    public var analyticsDbTlsMode: String?

    @Option(help: "Analytics database CA certificate (PEM file). (env: ANALYTICS_DB_TLS_CA, then DB_TLS_CA)")
    public var analyticsDbTlsCa: String?

    @Option(help: "Analytics database client certificate (PEM file). (env: ANALYTICS_DB_TLS_CERT, then DB_TLS_CERT)")
    public var analyticsDbTlsCert: String?

    @Option(help: "Analytics database client key (PEM file). (env: ANALYTICS_DB_TLS_KEY, then DB_TLS_KEY)")
    public var analyticsDbTlsKey: String?

    @Option(help: "Analytics database server's RSA public key (PEM file), pinned. (env: ANALYTICS_DB_SERVER_PUBLIC_KEY, then DB_SERVER_PUBLIC_KEY)")
    public var analyticsDbServerPublicKey: String?

    @Option(help: "Analytics database: ask the server for its RSA key without TLS. (env: ANALYTICS_DB_ALLOW_PUBLIC_KEY_RETRIEVAL, then DB_ALLOW_PUBLIC_KEY_RETRIEVAL; default: false)")
    public var analyticsDbAllowPublicKeyRetrieval: Bool?

    public init() {}
}

/// What every service process shares beyond the backends: the bounds of its HTTP listeners (docs/OPERATIONS.md,
/// "HTTP connections") and its shutdown budget.
public struct ProcessOptions: ParsableArguments {
    @Option(help: "Once told to stop (SIGTERM, SIGINT), the process exits within this: requests in flight finish, the outbox flushes, then whatever is left is cut. (env: SHUTDOWN_TIMEOUT; default: 25s)")
    public var shutdownTimeout: String?

    @Option(help: "A connection with no request in progress for this long is closed. (env: HTTP_IDLE_TIMEOUT; default: 60s)")
    public var httpIdleTimeout: String?

    @Option(help: "Longest a request's head (request line and headers) may take to arrive, from its first byte; then the connection is closed. (env: HTTP_HEADER_TIMEOUT; default: 10s)")
    public var httpHeaderTimeout: String?

    @Option(help: "Connections open at once on a service port; the next one is answered 503 with Retry-After and closed. (env: HTTP_MAX_CONNECTIONS; default: 256)")
    public var httpMaxConnections: Int?

    public init() {}
}
