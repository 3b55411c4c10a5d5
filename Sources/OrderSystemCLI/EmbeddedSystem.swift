import AnalyticsService
import Hummingbird
import Logging
import Messaging
import NIOCore
import NotificationWorker
import OrderService
import RedisClient
import ServiceLifecycle
import ServiceRuntime
import UnixSignals

/// The names of the three services, as `/health` and the logs say them.
public enum ServiceName: String, Sendable, CaseIterable {
    case order = "order-service"
    case analytics = "analytics-service"
    case notification = "notification-worker"
}

/// `ordersystem all`: the three services in one process on the embedded broker, wired exactly as the
/// single-service commands wire them, through the same build functions.
public enum EmbeddedSystem {
    /// Opens the backends and builds the services, in the order a service group must run them: the backends'
    /// closer first (so it runs last), then the order service (its relay flushes after its HTTP server stops),
    /// then the consumers.
    /// - Parameters:
    ///   - onServerRunning: called with each service's bound port (useful with port 0).
    ///   - onBrokerOpened: called with the broker once it is open, before any service declares its topology (tests
    ///     publish into the embedded broker through it, as another producer would).
    public static func makeServices(
        configuration: SystemConfiguration,
        onServerRunning: @escaping @Sendable (ServiceName, Int) async -> Void = { _, _ in },
        onBrokerOpened: @Sendable (any MessageBroker) -> Void = { _ in }
    ) async throws -> [any Service] {
        try BackendFactory.validate(configuration.backends, singleService: false)
        try BackendFactory.prepareDataDirectory(configuration.backends.dataDirectory)
        let level = configuration.logLevel
        let systemLogger = ServiceLogging.logger(service: "ordersystem", level: level)
        let orderLogger = ServiceLogging.logger(service: ServiceName.order.rawValue, level: level)
        let analyticsLogger = ServiceLogging.logger(service: ServiceName.analytics.rawValue, level: level)
        let notificationLogger = ServiceLogging.logger(service: ServiceName.notification.rawValue, level: level)

        // Closed in reverse order of opening, after every service has stopped.
        var closers: [@Sendable () async -> Void] = []
        let broker = try await BackendFactory.openBroker(configuration.backends, closers: &closers, logger: systemLogger)
        onBrokerOpened(broker)
        let redis = BackendFactory.startRedisClient(configuration.backends, closers: &closers, logger: systemLogger)
        do {
            return try await Self.makeServices(
                configuration: configuration, broker: broker, redis: redis, closers: &closers,
                loggers: (systemLogger, orderLogger, analyticsLogger, notificationLogger),
                onServerRunning: onServerRunning
            )
        } catch {
            // Nothing runs yet: release what was opened.
            for close in closers.reversed() { await close() }
            throw error
        }
    }

    /// Opens the stores and builds the three services on the already-open broker and cache client.
    private static func makeServices(
        configuration: SystemConfiguration,
        broker: any MessageBroker,
        redis: RedisClient?,
        closers: inout [@Sendable () async -> Void],
        loggers: (system: Logger, order: Logger, analytics: Logger, notification: Logger),
        onServerRunning: @escaping @Sendable (ServiceName, Int) async -> Void
    ) async throws -> [any Service] {
        let (systemLogger, orderLogger, analyticsLogger, notificationLogger) = loggers
        let orderStore = try await BackendFactory.openOrderStore(
            configuration.backends, database: configuration.orderDatabase, closers: &closers, logger: orderLogger
        )
        let analyticsStore = try await BackendFactory.openAnalyticsStore(
            configuration.backends, database: configuration.analyticsDatabase, closers: &closers, logger: analyticsLogger
        )
        let record = try await BackendFactory.openNotificationRecord(
            configuration.backends, redis: redis, closers: &closers, logger: notificationLogger
        )
        let closeAll = closers

        func report(_ name: ServiceName) -> @Sendable (any Channel) async -> Void {
            { channel in
                let port = channel.localAddress?.port ?? 0
                systemLogger.info("listening", metadata: ["service": "\(name.rawValue)", "port": "\(port)"])
                await onServerRunning(name, port)
            }
        }
        let order = try await buildOrderService(
            configuration: configuration.order,
            backends: OrderServiceBackends(store: orderStore, cache: BackendFactory.makeCache(configuration.backends, redis: redis, logger: orderLogger), broker: broker),
            logger: orderLogger,
            onServerRunning: report(.order)
        )
        let analytics = try await buildAnalyticsService(
            configuration: configuration.analytics,
            backends: AnalyticsServiceBackends(
                store: analyticsStore, cache: BackendFactory.makeCache(configuration.backends, redis: redis, logger: analyticsLogger), broker: broker
            ),
            logger: analyticsLogger,
            onServerRunning: report(.analytics)
        )
        let notification = try await buildNotificationWorker(
            configuration: configuration.notification,
            backends: NotificationWorkerBackends(
                record: record,
                sender: SimulatedNotificationSender(
                    latency: configuration.notificationLatency,
                    failureRate: configuration.notificationFailureRate,
                    logger: notificationLogger
                ),
                broker: broker
            ),
            logger: notificationLogger,
            onServerRunning: report(.notification)
        )
        return [
            // First in the group, so it runs last: every service has stopped before its backends close.
            ShutdownAction {
                for close in closeAll.reversed() { await close() }
            },
            order, analytics, notification,
        ]
    }

    /// Runs the services until SIGTERM or SIGINT, then shuts them down gracefully in reverse order.
    public static func run(configuration: SystemConfiguration) async throws {
        let logger = ServiceLogging.logger(service: "ordersystem", level: configuration.logLevel)
        let services = try await Self.makeServices(configuration: configuration)
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        logger.info(
            "order system running",
            metadata: [
                "data_dir": "\(configuration.backends.dataDirectory)", "store": "\(configuration.backends.store.rawValue)",
                "cache": "\(configuration.backends.cache.rawValue)", "broker": "\(configuration.backends.broker.rawValue)",
            ]
        )
        try await group.run()
        logger.info("order system stopped")
    }
}
