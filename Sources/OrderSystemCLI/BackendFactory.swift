import AMQPClient
import AnalyticsService
import AnalyticsStorage
import ArgumentParser
import Caching
import EmbeddedMessaging
import Logging
import Messaging
import MySQLClient
import MySQLStorage
import NotificationStorage
import NotificationWorker
import OrderService
import OrderStorage
import RabbitMQMessaging
import RedisCaching
import RedisClient
import SQLiteStorage
import ServiceCore
import ServiceRuntime
import Timing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import AnalyticsStorage
import Darwin
import MySQLStorage
import NotificationStorage
import OrderStorage
import RedisCaching
import SQLiteStorage
#endif

/// A backend that was chosen but cannot be used: said clearly at start, before anything is opened.
public struct UnsupportedBackendError: Error, CustomStringConvertible {
    public var description: String
}

/// Opens the backends a configuration names.
enum BackendFactory {
    /// Rejects choices this build cannot run, with what to do instead.
    static func validate(_ settings: BackendSettings, singleService: Bool) throws {
        if singleService && settings.broker == .embedded {
            throw UnsupportedBackendError(
                description: "--broker embedded only connects services inside one process; "
                    + "run `ordersystem all` for the embedded system, or use --broker rabbitmq (BROKER=rabbitmq)"
            )
        }
    }

    /// Creates the data directory (and parents) if missing.
    static func prepareDataDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw UnsupportedBackendError(description: "cannot create data directory \(path): errno \(errno)")
            }
        }
    }

    static func path(_ settings: BackendSettings, _ file: String) -> String {
        settings.dataDirectory.hasSuffix("/") ? settings.dataDirectory + file : settings.dataDirectory + "/" + file
    }

    /// The embedded broker and the database it persists its queues in; close with `broker.shutdown()`, then
    /// `database.close()`.
    /// The broker: the embedded one (persisted in `broker.sqlite`), or RabbitMQ through a recovering `AMQPClient`
    /// started here (it connects in the background and reconnects by itself) and stopped last.
    static func openBroker(
        _ settings: BackendSettings,
        closers: inout [@Sendable () async -> Void],
        logger: Logger
    ) async throws -> any MessageBroker {
        switch settings.broker {
        case .embedded:
            let (broker, database) = try await Self.openEmbeddedBroker(settings, logger: logger)
            closers.append {
                await broker.shutdown()
                await database.close()
            }
            return broker
        case .rabbitmq:
            // The topology is declared at start, so wait for the first connection.
            let (client, running) = try await RabbitMQConnector.connect(settings, logger: logger)
            closers.append { await running.stop() }
            return RabbitMQBroker(client: client, logger: logger)
        }
    }

    static func openEmbeddedBroker(
        _ settings: BackendSettings,
        logger: Logger
    ) async throws -> (broker: EmbeddedBroker, database: SQLiteFileDatabase) {
        let database = try await SQLiteFileDatabase.open(
            path: Self.path(settings, "broker.sqlite"), durability: settings.durability, logger: logger
        )
        do {
            return (try await EmbeddedBroker.open(database: database, logger: logger), database)
        } catch {
            await database.close()
            throw error
        }
    }

    /// Opens and migrates the order store; `closers` gets what must run after every service has stopped.
    static func openOrderStore(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        closers: inout [@Sendable () async -> Void],
        logger: Logger
    ) async throws -> any OrderStore {
        try await Self.openStore(
            settings, database: database, closers: &closers, logger: logger,
            sqlite: {
                let store = try await SQLiteOrderStore.open(
                    path: Self.path(settings, "orders.sqlite"), durability: settings.durability, logger: logger
                )
                return (store, { await store.close() })
            },
            mysql: { client in
                let store = MySQLOrderStore(client: client)
                try await store.migrate(logger: logger)
                return store
            }
        )
    }

    /// Opens and migrates the analytics store; `closers` gets what must run after every service has stopped.
    static func openAnalyticsStore(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        closers: inout [@Sendable () async -> Void],
        logger: Logger
    ) async throws -> any AnalyticsStore {
        try await Self.openStore(
            settings, database: database, closers: &closers, logger: logger,
            sqlite: {
                let store = try await SQLiteAnalyticsStore.open(
                    path: Self.path(settings, "analytics.sqlite"), durability: settings.durability, logger: logger
                )
                return (store, { await store.close() })
            },
            mysql: { client in
                let store = MySQLAnalyticsStore(client: client)
                try await store.migrate(logger: logger)
                return store
            }
        )
    }

    /// The SQLite store (closed at the end), or the MySQL one on a client started for it (stopped at the end).
    private static func openStore<Store: Sendable>(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        closers: inout [@Sendable () async -> Void],
        logger: Logger,
        sqlite: () async throws -> (store: Store, close: @Sendable () async -> Void),
        mysql: (MySQLClient) async throws -> Store
    ) async throws -> Store {
        switch settings.store {
        case .sqlite:
            let (store, close) = try await sqlite()
            closers.append(close)
            return store
        case .mysql:
            let client = Self.startMySQLClient(settings, database: database, closers: &closers, logger: logger)
            // Start-up (migrations) waits for MySQL, as for RabbitMQ: a database that starts after the service
            // (Docker Compose, a reboot) is not a failure. A wrong password or database fails at once.
            let deadline = ContinuousClock.now + settings.databaseConnectTimeout
            var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(2))
            var logged = false
            while true {
                do {
                    return try await mysql(client)
                } catch let error as MySQLError where error.isRetryableAtStart && ContinuousClock.now < deadline {
                    if !logged {
                        logger.warning(
                            "waiting for MySQL",
                            metadata: ["database": "\(database)", "error": "\(error)",
                                       "timeout": "\(DurationParser.format(settings.databaseConnectTimeout))"]
                        )
                        logged = true
                    }
                    try await Task.sleep(for: backoff.nextDelay())
                } catch let error as MySQLError where error.isRetryableAtStart {
                    throw UnsupportedBackendError(
                        description: "MySQL at \(database.host):\(database.port) did not answer within "
                            + "\(DurationParser.format(settings.databaseConnectTimeout)) (DB_HOST, DB_PORT; DB_CONNECT_TIMEOUT): \(error)"
                    )
                }
            }
        }
    }

    /// A running MySQL client (its pool serves queries from now on) for `database`.
    static func startMySQLClient(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        closers: inout [@Sendable () async -> Void],
        logger: Logger
    ) -> MySQLClient {
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
        let client = MySQLClient(configuration: configuration, logger: logger)
        let running = BackgroundService(client)
        closers.append { await running.stop() }
        logger.info("connecting to MySQL", metadata: ["database": "\(database)"])
        return client
    }

    /// The worker's dedupe record: Redis with `--cache redis` (docs/CONTRACTS.md, "Notifications"), else a SQLite file.
    static func openNotificationRecord(
        _ settings: BackendSettings,
        redis: RedisClient?,
        closers: inout [@Sendable () async -> Void],
        logger: Logger
    ) async throws -> any NotificationRecord {
        if let redis {
            return RedisNotificationRecord(client: redis)
        }
        let record = try await SQLiteNotificationRecord.open(
            path: Self.path(settings, "notifications.sqlite"), durability: settings.durability, logger: logger
        )
        closers.append { await record.close() }
        return record
    }

    /// A running Redis client when `--cache redis`, else nil.
    static func startRedisClient(
        _ settings: BackendSettings,
        closers: inout [@Sendable () async -> Void],
        logger: Logger
    ) -> RedisClient? {
        guard settings.cache == .redis else { return nil }
        let client = RedisClient(
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
        let running = BackgroundService(client)
        closers.append { await running.stop() }
        logger.info(
            "connecting to Redis",
            metadata: ["address": "\(settings.redisHost):\(settings.redisPort)", "tls": "\(settings.redisTLS != nil)"])
        return client
    }

    /// A service's cache: the in-process LRU, or Redis behind a timeout and a circuit breaker so that a slow or
    /// absent Redis only degrades the service.
    static func makeCache(_ settings: BackendSettings, redis: RedisClient?, logger: Logger) -> any KeyValueCache {
        guard let redis else { return MemoryCache(capacity: settings.cacheCapacity) }
        var configuration = CircuitBreakingCache.Configuration()
        configuration.timeout = settings.cacheTimeout
        return CircuitBreakingCache(wrapping: RedisKeyValueCache(client: redis), configuration: configuration, logger: logger)
    }
}

extension MySQLError {
    /// A failure to reach the server (not a refusal such as a wrong password or an unknown database), worth waiting
    /// out at start-up.
    var isRetryableAtStart: Bool {
        self.serverErrorNumber == nil
            && (self.code == .connectionClosed || self.code == .timeout || self.code == .poolUnavailable)
    }
}
