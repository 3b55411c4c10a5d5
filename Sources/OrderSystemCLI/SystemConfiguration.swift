import AnalyticsService
import ArgumentParser
import Logging
import NotificationWorker
import OrderMessaging
import OrderService
import SQLiteStorage
import ServiceRuntime

/// A MySQL connection's settings. The password never appears in a description.
public struct DatabaseSettings: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var name: String
    /// TLS and the RSA key policy.
    public var tls = DatabaseTLSSettings()

    /// Creates settings.
    public init(host: String, port: Int, user: String, password: String, name: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.name = name
    }

    public var description: String { "\(self.user)@\(self.host):\(self.port)/\(self.name)" }

    /// The original's defaults of each service.
    public enum Service: Sendable {
        case order, analytics

        var prefix: String { self == .order ? "ORDER" : "ANALYTICS" }
        var defaultUser: String { self == .order ? "orderuser" : "analyticsuser" }
        var defaultPassword: String { self == .order ? "orderpass" : "analyticspass" }
        var defaultName: String { self == .order ? "order_db" : "analytics_db" }
    }

    /// A single-service command: the original's plain `DB_*` variables.
    static func plain(_ service: Service, options: DatabaseOptions, resolver: SettingResolver) throws -> DatabaseSettings {
        let password = try resolver.secret(env: ["DB_PASSWORD"])?.value
        var settings = DatabaseSettings(
            host: resolver.string(options.dbHost, env: ["DB_HOST"], default: "localhost"),
            port: try resolver.port(options.dbPort, option: "db-port", env: ["DB_PORT"], default: 3306),
            user: resolver.string(options.dbUser, env: ["DB_USER"], default: service.defaultUser),
            password: password ?? service.defaultPassword,
            name: resolver.string(options.dbName, env: ["DB_NAME"], default: service.defaultName)
        )
        settings.tls = try DatabaseTLSSettings.resolve(
            .init(
                mode: options.dbTlsMode, caFile: options.dbTlsCa, certificateFile: options.dbTlsCert,
                keyFile: options.dbTlsKey, serverPublicKeyFile: options.dbServerPublicKey,
                allowPublicKeyRetrieval: options.dbAllowPublicKeyRetrieval),
            prefixes: ["DB_"], resolver: resolver)
        return settings
    }

    /// `all` and `migrate all`: the prefixed variables, then the shared host and port, then the defaults.
    static func prefixed(
        _ service: Service,
        host: String?,
        port: Int?,
        user: String?,
        name: String?,
        tls: DatabaseTLSSettings.Flags,
        resolver: SettingResolver
    ) throws -> DatabaseSettings {
        let prefix = service.prefix
        let password = try resolver.secret(env: ["\(prefix)_DB_PASSWORD"])?.value
        var settings = DatabaseSettings(
            host: resolver.string(host, env: ["\(prefix)_DB_HOST", "DB_HOST"], default: "localhost"),
            port: try resolver.port(port, option: "\(prefix.lowercased())-db-port", env: ["\(prefix)_DB_PORT", "DB_PORT"], default: 3306),
            user: resolver.string(user, env: ["\(prefix)_DB_USER"], default: service.defaultUser),
            password: password ?? service.defaultPassword,
            name: resolver.string(name, env: ["\(prefix)_DB_NAME"], default: service.defaultName)
        )
        // As host and port: each database's own variables first, then the shared ones (one server, usually).
        settings.tls = try DatabaseTLSSettings.resolve(tls, prefixes: ["\(prefix)_DB_", "DB_"], resolver: resolver)
        return settings
    }

    static func system(_ service: Service, options: SystemDatabaseOptions, resolver: SettingResolver) throws -> DatabaseSettings {
        switch service {
        case .order:
            return try .prefixed(
                .order, host: options.orderDbHost, port: options.orderDbPort, user: options.orderDbUser,
                name: options.orderDbName,
                tls: .init(
                    mode: options.orderDbTlsMode, caFile: options.orderDbTlsCa, certificateFile: options.orderDbTlsCert,
                    keyFile: options.orderDbTlsKey, serverPublicKeyFile: options.orderDbServerPublicKey,
                    allowPublicKeyRetrieval: options.orderDbAllowPublicKeyRetrieval),
                resolver: resolver
            )
        case .analytics:
            return try .prefixed(
                .analytics, host: options.analyticsDbHost, port: options.analyticsDbPort,
                user: options.analyticsDbUser, name: options.analyticsDbName,
                tls: .init(
                    mode: options.analyticsDbTlsMode, caFile: options.analyticsDbTlsCa,
                    certificateFile: options.analyticsDbTlsCert, keyFile: options.analyticsDbTlsKey,
                    serverPublicKeyFile: options.analyticsDbServerPublicKey,
                    allowPublicKeyRetrieval: options.analyticsDbAllowPublicKeyRetrieval),
                resolver: resolver
            )
        }
    }
}

/// Backend choices and their connection settings.
public struct BackendSettings: Sendable {
    public var store: StoreKind
    public var cache: CacheKind
    public var broker: BrokerKind
    public var dataDirectory: String
    public var durability: SQLiteFileDatabase.Durability
    public var cacheCapacity: Int
    public var redisHost: String
    public var redisPort: Int
    public var redisPassword: String?
    /// The Redis ACL user sent with the password; nil: the password alone.
    public var redisUsername: String?
    /// TLS to Redis; nil: plain (the default, as the original).
    public var redisTLS: ServerTLSSettings?
    public var rabbitmqURL: String
    /// Files for `amqps://` URLs (TLS itself comes from the scheme).
    public var rabbitmqTLS = ServerTLSSettings()
    /// Where the URL came from (`--rabbitmq-url`, `RABBITMQ_URL`, `RABBITMQ_URL_FILE` or the default), for the
    /// warnings about passwords on the command line and default credentials.
    public var rabbitmqURLSource = "default"
    public var brokerConnectTimeout: Duration
    /// The largest message body a consumer takes (`AMQP_MAX_BODY`); a larger delivery is dead-lettered unread.
    public var amqpMaxBody = BackendSettings.defaultAMQPMaxBody
    /// How long a publish waits for RabbitMQ's confirm (`PUBLISH_CONFIRM_TIMEOUT`).
    public var publishConfirmTimeout: Duration = .seconds(10)
    public var cacheTimeout: Duration
    public var databasePoolSize: Int
    public var databaseQueryTimeout: Duration
    /// Longest a request waits for a MySQL connection (pool busy, or the database unreachable) before it fails.
    public var databaseLeaseTimeout: Duration
    /// How long start-up waits for MySQL to answer before giving up.
    public var databaseConnectTimeout: Duration

    /// The defaults a command starts from.
    public struct Defaults: Sendable {
        var store: StoreKind
        var cache: CacheKind
        var broker: BrokerKind

        /// `all` and `migrate`: nothing to install.
        public static let embedded = Defaults(store: .sqlite, cache: .memory, broker: .embedded)
        /// A single service, as the original: the real servers.
        public static let servers = Defaults(store: .mysql, cache: .redis, broker: .rabbitmq)
    }

    static func resolve(_ options: CommonOptions, defaults: Defaults, resolver: SettingResolver) throws -> BackendSettings {
        let urlSecret = try resolver.secret(env: ["RABBITMQ_URL"])
        var settings = BackendSettings(
            store: try resolver.choice(options.store, option: "store", env: ["STORE"], default: defaults.store),
            cache: try resolver.choice(options.cache, option: "cache", env: ["CACHE"], default: defaults.cache),
            broker: try resolver.choice(options.broker, option: "broker", env: ["BROKER"], default: defaults.broker),
            dataDirectory: resolver.string(options.dataDir, env: ["DATA_DIR"], default: "./data"),
            durability: try resolver.choice(
                options.sqliteSynchronous, option: "sqlite-synchronous", env: ["SQLITE_SYNCHRONOUS"], default: .normal
            ),
            cacheCapacity: try resolver.int(
                options.cacheCapacity, option: "cache-capacity", env: ["CACHE_CAPACITY"], default: 10_000,
                range: 1...10_000_000
            ),
            redisHost: resolver.string(options.redisHost, env: ["REDIS_HOST"], default: "localhost"),
            redisPort: try resolver.port(options.redisPort, option: "redis-port", env: ["REDIS_PORT"], default: 6379),
            redisPassword: try resolver.secret(env: ["REDIS_PASSWORD"])?.value,
            rabbitmqURL: options.rabbitmqURL ?? urlSecret?.value ?? "amqp://guest:guest@localhost:5672/",
            brokerConnectTimeout: try resolver.duration(
                options.brokerConnectTimeout, option: "broker-connect-timeout", env: ["BROKER_CONNECT_TIMEOUT"],
                default: .seconds(30)
            ),
            cacheTimeout: try resolver.duration(
                options.cacheTimeout, option: "cache-timeout", env: ["CACHE_TIMEOUT"], default: .milliseconds(100)
            ),
            databasePoolSize: try resolver.int(
                options.dbPoolSize, option: "db-pool-size", env: ["DB_POOL_SIZE"], default: 10, range: 1...1000
            ),
            databaseQueryTimeout: try resolver.duration(
                options.dbQueryTimeout, option: "db-query-timeout", env: ["DB_QUERY_TIMEOUT"], default: .seconds(10)
            ),
            databaseLeaseTimeout: try resolver.duration(
                options.dbLeaseTimeout, option: "db-lease-timeout", env: ["DB_LEASE_TIMEOUT"], default: .seconds(2)
            ),
            databaseConnectTimeout: try resolver.duration(
                options.dbConnectTimeout, option: "db-connect-timeout", env: ["DB_CONNECT_TIMEOUT"], default: .seconds(30)
            )
        )
        settings.rabbitmqURLSource = options.rabbitmqURL != nil ? "--rabbitmq-url" : urlSecret?.source ?? "default"
        settings.redisUsername = resolver.optionalString(options.redisUsername, env: ["REDIS_USERNAME"])
        let redisFiles = try ServerTLSSettings.resolve(
            ca: options.redisTlsCa, certificate: options.redisTlsCert, key: options.redisTlsKey, prefix: "REDIS",
            resolver: resolver)
        if try resolver.bool(options.redisTls, option: "redis-tls", env: ["REDIS_TLS"], default: false) {
            settings.redisTLS = redisFiles
        } else if !redisFiles.isEmpty {
            throw ValidationError("REDIS_TLS_CA, REDIS_TLS_CERT or REDIS_TLS_KEY is set but REDIS_TLS is not true")
        }
        settings.rabbitmqTLS = try ServerTLSSettings.resolve(
            ca: options.rabbitmqTlsCa, certificate: options.rabbitmqTlsCert, key: options.rabbitmqTlsKey,
            prefix: "RABBITMQ", resolver: resolver)
        settings.publishConfirmTimeout = try resolver.positiveDuration(
            options.publishConfirmTimeout, option: "publish-confirm-timeout", env: ["PUBLISH_CONFIRM_TIMEOUT"],
            default: .seconds(10)
        )
        settings.amqpMaxBody = try resolver.int(
            options.amqpMaxBody, option: "amqp-max-body", env: ["AMQP_MAX_BODY"], default: Self.defaultAMQPMaxBody,
            range: Self.amqpMaxBodyRange
        )
        return settings
    }

    /// `AMQP_MAX_BODY`'s default, 1 MiB: an order event is about 400 bytes, so a body this large is not ours; the
    /// prefetch times this bounds what a consumer can be made to hold.
    public static let defaultAMQPMaxBody = 1 << 20
    /// From one frame's worth (4 KiB, AMQP's smallest `frame_max`) to 128 MiB (RabbitMQ's `max_message_size`
    /// default before 4.0).
    public static let amqpMaxBodyRange = 4096...(128 << 20)
}

/// Everything a command resolved, before anything is opened.
public struct SystemConfiguration: Sendable {
    public var logLevel: Logger.Level
    public var backends: BackendSettings
    public var order = OrderServiceConfiguration()
    public var analytics = AnalyticsServiceConfiguration()
    public var notification = NotificationWorkerConfiguration()
    public var orderDatabase: DatabaseSettings
    public var analyticsDatabase: DatabaseSettings
    public var notificationLatency: Duration = .zero
    public var notificationFailureRate: Double = 0
    /// `SHUTDOWN_TIMEOUT`: the process exits within this once told to stop.
    public var shutdownTimeout: Duration = .seconds(25)

    /// Resolves the options shared by every command, with the given backend defaults.
    static func resolve(
        common: CommonOptions,
        orderTuning: OrderTuningOptions? = nil,
        analyticsTuning: AnalyticsTuningOptions? = nil,
        notificationTuning: NotificationTuningOptions? = nil,
        http: ProcessOptions? = nil,
        orderDatabase: DatabaseSettings,
        analyticsDatabase: DatabaseSettings,
        defaults: BackendSettings.Defaults,
        resolver: SettingResolver
    ) throws -> SystemConfiguration {
        // A command without a group's options resolves that group from the environment and defaults alone.
        // (Option groups must come from `parse`: their property wrappers hold no value otherwise.)
        let orderTuning = try orderTuning ?? OrderTuningOptions.parse([])
        let analyticsTuning = try analyticsTuning ?? AnalyticsTuningOptions.parse([])
        let notificationTuning = try notificationTuning ?? NotificationTuningOptions.parse([])
        let http = try http ?? ProcessOptions.parse([])
        var configuration = SystemConfiguration(
            logLevel: try resolver.logLevel(common.logLevel),
            backends: try BackendSettings.resolve(common, defaults: defaults, resolver: resolver),
            orderDatabase: orderDatabase,
            analyticsDatabase: analyticsDatabase
        )
        let hostname = resolver.string(common.hostname, env: ["SERVICE_HOST"], default: "0.0.0.0")
        let retryDelays = try resolver.durations(
            common.retryDelays, option: "retry-delays", env: ["RETRY_DELAYS"], default: OrderTopology.defaultRetryDelays
        )
        configuration.order.hostname = hostname
        configuration.analytics.hostname = hostname
        configuration.notification.hostname = hostname
        configuration.order.retryDelays = retryDelays
        configuration.shutdownTimeout = try resolver.positiveDuration(
            http.shutdownTimeout, option: "shutdown-timeout", env: ["SHUTDOWN_TIMEOUT"], default: .seconds(25)
        )
        // The relay's flush is the longest step of a stop; it gets a quarter of the budget.
        configuration.order.relay.flushTimeout = configuration.shutdownTimeout / 4
        let httpSettings = try Self.resolveHTTP(http, resolver: resolver)
        configuration.order.http = httpSettings
        configuration.analytics.http = httpSettings
        configuration.notification.http = httpSettings
        configuration.analytics.retryDelays = retryDelays
        configuration.notification.retryDelays = retryDelays

        configuration.order.maxBodySize = try resolver.int(
            orderTuning.maxBodySize, option: "max-body-size", env: ["MAX_BODY_SIZE"], default: 64 * 1024,
            range: 256...(64 << 20)
        )
        configuration.order.relay.batchSize = try resolver.int(
            orderTuning.outboxBatchSize, option: "outbox-batch-size", env: ["OUTBOX_BATCH_SIZE"], default: 256,
            range: 1...10_000
        )
        configuration.order.relay.pollInterval = try resolver.duration(
            orderTuning.outboxPollInterval, option: "outbox-poll-interval", env: ["OUTBOX_POLL_INTERVAL"],
            default: .seconds(1)
        )
        configuration.order.relay.retention = try resolver.duration(
            orderTuning.outboxRetention, option: "outbox-retention", env: ["OUTBOX_RETENTION"], default: .seconds(24 * 3600)
        )
        configuration.order.relay.maxAttempts = try resolver.int(
            orderTuning.outboxMaxAttempts, option: "outbox-max-attempts", env: ["OUTBOX_MAX_ATTEMPTS"], default: 10,
            range: 1...1_000
        )
        configuration.order.orderQueueLimit = try resolver.int(
            orderTuning.orderQueueLimit, option: "order-queue-limit", env: ["ORDER_QUEUE_LIMIT"],
            default: OrderGroupCommit.defaultMaximumQueued, range: 1...1_000_000
        )
        configuration.order.nearCacheCapacity = try resolver.int(
            orderTuning.nearCacheCapacity, option: "near-cache-capacity", env: ["NEAR_CACHE_CAPACITY"], default: 10_000,
            range: 0...10_000_000
        )
        configuration.order.idempotencyKeyTTL = try resolver.duration(
            orderTuning.idempotencyKeyTtl, option: "idempotency-key-ttl", env: ["IDEMPOTENCY_KEY_TTL"],
            default: .seconds(24 * 3600)
        )
        configuration.analytics.prefetch = try resolver.int(
            analyticsTuning.analyticsPrefetch, option: "analytics-prefetch", env: ["ANALYTICS_PREFETCH"], default: 512,
            range: 1...65_535
        )
        configuration.notification.prefetch = try resolver.int(
            notificationTuning.notificationPrefetch, option: "notification-prefetch", env: ["NOTIFICATION_PREFETCH"],
            default: 32, range: 1...65_535
        )
        configuration.notification.maxAttempts = try resolver.int(
            notificationTuning.notificationMaxAttempts, option: "notification-max-attempts",
            env: ["NOTIFICATION_MAX_ATTEMPTS"], default: 5, range: 1...100
        )
        configuration.notificationLatency = try resolver.duration(
            notificationTuning.notificationLatency, option: "notification-latency", env: ["NOTIFICATION_LATENCY"],
            default: .zero
        )
        configuration.notificationFailureRate = try resolver.fraction(
            notificationTuning.notificationFailureRate, option: "notification-failure-rate",
            env: ["NOTIFICATION_FAILURE_RATE"], default: 0
        )
        return configuration
    }

    /// The HTTP bounds shared by every listener; the ops ports are each command's own.
    static func resolveHTTP(_ options: ProcessOptions, resolver: SettingResolver) throws -> HTTPServerSettings {
        var settings = HTTPServerSettings()
        settings.idleTimeout = try resolver.positiveDuration(
            options.httpIdleTimeout, option: "http-idle-timeout", env: ["HTTP_IDLE_TIMEOUT"], default: settings.idleTimeout
        )
        settings.headerTimeout = try resolver.positiveDuration(
            options.httpHeaderTimeout, option: "http-header-timeout", env: ["HTTP_HEADER_TIMEOUT"],
            default: settings.headerTimeout
        )
        settings.maxConnections = try resolver.int(
            options.httpMaxConnections, option: "http-max-connections", env: ["HTTP_MAX_CONNECTIONS"],
            default: HTTPServerSettings.defaultMaxConnections, range: HTTPServerSettings.maxConnectionsRange
        )
        return settings
    }
}
