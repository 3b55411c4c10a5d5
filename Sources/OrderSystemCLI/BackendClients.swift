import AMQPClient
import Logging
import MySQLClient
import MySQLStorage
import RedisClient
import ServiceLifecycle

/// The protocol clients a process needs, created from its settings but not yet running. Each is a `Service`: a
/// process puts them in its service group before the services that use them, so they start first and stop last;
/// a one-shot command runs them with `withRunning` around its work.
struct BackendClients: Sendable {
    /// The order store's MySQL (`--store mysql` for a process that opens the order store).
    var orderDatabase: MySQLClient?
    /// The analytics store's MySQL.
    var analyticsDatabase: MySQLClient?
    /// Redis (`--cache redis`): the caches and the worker's record.
    var redis: RedisClient?
    /// RabbitMQ (`--broker rabbitmq`).
    var rabbitMQ: AMQPClient?

    /// The clients `settings` needs; `orderDatabase`/`analyticsDatabase` name the stores this process opens.
    /// Throws for settings no client can use (a malformed `RABBITMQ_URL`), before anything runs.
    static func make(
        _ settings: BackendSettings,
        orderDatabase: DatabaseSettings?,
        analyticsDatabase: DatabaseSettings?,
        logger: Logger
    ) throws -> BackendClients {
        var clients = BackendClients()
        if settings.store == .mysql {
            clients.orderDatabase = orderDatabase.map { Self.mysql(settings, database: $0, logger: logger) }
            clients.analyticsDatabase = analyticsDatabase.map { Self.mysql(settings, database: $0, logger: logger) }
        }
        if settings.cache == .redis {
            clients.redis = Self.redis(settings, logger: logger)
        }
        if settings.broker == .rabbitmq {
            clients.rabbitMQ = try RabbitMQConnector.makeClient(settings, logger: logger)
        }
        return clients
    }

    /// The largest packet MySQL may send us: 1 MiB. Our widest row is an outbox event (about 400 bytes of JSON)
    /// and our longest statement a group-commit insert of 64 orders (tens of kB), so nothing of ours comes near it;
    /// it bounds what a broken or hostile server makes each pooled connection buffer, and is what the handshake
    /// announces. A larger packet fails its statement with `packetTooLarge` and the pool replaces the connection.
    static let mySQLMaximumPacketSize = 1 << 20

    /// What a Redis reply may hold. Cached orders and summaries are a few hundred bytes and the worker's records a
    /// few bytes, so a value over 1 MiB is not ours; no command of ours gets an array of more than a few elements
    /// or nested more than once. A reply over these fails with a protocol error, and its connection is closed and
    /// replaced (docs/OPERATIONS.md, "Message and reply sizes").
    static let redisLimits = RESPLimits(
        maximumBulkLength: 1 << 20, maximumDepth: 4, maximumLineLength: 64 * 1024, maximumArrayCount: 1024,
        maximumReplyLength: 2 << 20)

    /// The clients as services, in start order.
    var services: [any Service] {
        let all: [(any Service)?] = [self.orderDatabase, self.analyticsDatabase, self.redis, self.rabbitMQ]
        return all.compactMap { $0 }
    }

    private static func mysql(_ settings: BackendSettings, database: DatabaseSettings, logger: Logger) -> MySQLClient {
        var configuration = MySQLConfiguration(
            host: database.host, port: database.port, username: database.user, password: database.password,
            database: database.name
        )
        configuration.connectionInitialization = MySQLSession.initialization
        configuration.tls = MySQLConfiguration.TLS(
            mode: database.tls.mode, caFile: database.tls.caFile, certificateFile: database.tls.certificateFile,
            keyFile: database.tls.keyFile)
        configuration.serverPublicKeyPEM = database.tls.serverPublicKeyPEM
        configuration.allowPublicKeyRetrieval = database.tls.allowPublicKeyRetrieval
        configuration.pool.maximumConnections = settings.databasePoolSize
        configuration.queryTimeout = settings.databaseQueryTimeout
        // A request fails fast (a 503) when MySQL is unreachable or the pool stays busy, rather than hanging.
        configuration.pool.leaseTimeout = settings.databaseLeaseTimeout
        configuration.pool.circuitBreakerTripAfter = settings.databaseLeaseTimeout
        configuration.maximumPacketSize = Self.mySQLMaximumPacketSize
        logger.info("connecting to MySQL", metadata: ["database": "\(database)"])
        return MySQLClient(configuration: configuration, logger: logger)
    }

    private static func redis(_ settings: BackendSettings, logger: Logger) -> RedisClient {
        logger.info(
            "connecting to Redis",
            metadata: ["address": "\(settings.redisHost):\(settings.redisPort)", "tls": "\(settings.redisTLS != nil)"])
        return RedisClient(
            configuration: RedisConfiguration(
                host: settings.redisHost, port: settings.redisPort, password: settings.redisPassword,
                username: settings.redisUsername,
                tls: settings.redisTLS.map {
                    RedisConfiguration.TLS(caFile: $0.caFile, certificateFile: $0.certificateFile, keyFile: $0.keyFile)
                },
                commandTimeout: settings.cacheTimeout * 10,
                limits: Self.redisLimits
            ),
            logger: logger
        )
    }
}
