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
                commandTimeout: settings.cacheTimeout * 10
            ),
            logger: logger
        )
    }
}
