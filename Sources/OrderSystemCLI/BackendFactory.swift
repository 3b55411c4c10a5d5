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
import Darwin
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

    /// The broker: the embedded one (persisted in `broker.sqlite`, closed through `opened`), or RabbitMQ on the
    /// running `clients.rabbitMQ`, waited for up to `BROKER_CONNECT_TIMEOUT` since the topology is declared at start.
    static func openBroker(
        _ settings: BackendSettings,
        clients: BackendClients,
        opened: OpenedResources,
        logger: Logger
    ) async throws -> any MessageBroker {
        switch settings.broker {
        case .embedded:
            let (broker, database) = try await Self.openEmbeddedBroker(settings, logger: logger)
            // Its run() brings retried messages back to their queues: a service beside the ones that use it.
            opened.runBeside(broker)
            opened.add {
                await broker.shutdown()
                await database.close()
            }
            return broker
        case .rabbitmq:
            guard let client = clients.rabbitMQ else { preconditionFailure("--broker rabbitmq without its client") }
            try await RabbitMQConnector.waitUntilConnected(client, settings)
            return RabbitMQBroker(
                client: client, maximumBodySize: settings.amqpMaxBody, confirmTimeout: settings.publishConfirmTimeout,
                logger: logger)
        }
    }

    /// The embedded broker and the database it persists its queues in; close with `broker.shutdown()`, then
    /// `database.close()`.
    static func openEmbeddedBroker(
        _ settings: BackendSettings,
        logger: Logger
    ) async throws -> (broker: EmbeddedBroker, database: SQLiteFileDatabase) {
        let database = try await SQLiteFileDatabase.open(
            path: Self.path(settings, "broker.sqlite"), durability: settings.durability, logger: logger
        )
        do {
            return (
                try await EmbeddedBroker.open(
                    database: database, maximumBodySize: settings.amqpMaxBody, logger: logger),
                database
            )
        } catch {
            await database.close()
            throw error
        }
    }

    /// Opens and migrates the order store: a SQLite file (closed through `opened`) or MySQL on `client`.
    static func openOrderStore(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        client: MySQLClient?,
        opened: OpenedResources,
        logger: Logger
    ) async throws -> any OrderStore {
        try await Self.openStore(
            settings, database: database, client: client, logger: logger,
            sqlite: {
                let store = try await SQLiteOrderStore.open(
                    path: Self.path(settings, "orders.sqlite"), durability: settings.durability, logger: logger
                )
                opened.add { await store.close() }
                return store
            },
            mysql: { client in
                let store = MySQLOrderStore(client: client)
                try await store.migrate(logger: logger)
                return store
            }
        )
    }

    /// Opens and migrates the analytics store: a SQLite file (closed through `opened`) or MySQL on `client`.
    static func openAnalyticsStore(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        client: MySQLClient?,
        opened: OpenedResources,
        logger: Logger
    ) async throws -> any AnalyticsStore {
        try await Self.openStore(
            settings, database: database, client: client, logger: logger,
            sqlite: {
                let store = try await SQLiteAnalyticsStore.open(
                    path: Self.path(settings, "analytics.sqlite"), durability: settings.durability, logger: logger
                )
                opened.add { await store.close() }
                return store
            },
            mysql: { client in
                let store = MySQLAnalyticsStore(client: client)
                try await store.migrate(logger: logger)
                return store
            }
        )
    }

    /// The SQLite store, or the MySQL one on the running `client`.
    private static func openStore<Store: Sendable>(
        _ settings: BackendSettings,
        database: DatabaseSettings,
        client: MySQLClient?,
        logger: Logger,
        sqlite: () async throws -> Store,
        mysql: (MySQLClient) async throws -> Store
    ) async throws -> Store {
        switch settings.store {
        case .sqlite:
            return try await sqlite()
        case .mysql:
            guard let client else { preconditionFailure("--store mysql without its client") }
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

    /// The worker's dedupe record: Redis with `--cache redis` (docs/CONTRACTS.md, "Notifications"), else a SQLite
    /// file (closed through `opened`).
    static func openNotificationRecord(
        _ settings: BackendSettings,
        redis: RedisClient?,
        opened: OpenedResources,
        logger: Logger
    ) async throws -> any NotificationRecord {
        if let redis {
            return RedisNotificationRecord(client: redis)
        }
        let record = try await SQLiteNotificationRecord.open(
            path: Self.path(settings, "notifications.sqlite"), durability: settings.durability, logger: logger
        )
        opened.add { await record.close() }
        return record
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
