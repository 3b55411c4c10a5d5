import AnalyticsService
import Logging
import Messaging
import NIOCore
import NotificationWorker
import OrderService
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
    /// The services of `ordersystem all`, in the order a service group must run them: the protocol clients first
    /// (so they stop last), then the ``ServiceHost`` that opens the backends once the clients run and runs the three
    /// services (the order service first, so its relay flushes after the consumers stopped taking work).
    /// - Parameters:
    ///   - onServerRunning: called with each service's bound port (useful with port 0).
    ///   - onBrokerOpened: called with the broker once it is open, before any service declares its topology (tests
    ///     publish into the embedded broker through it, as another producer would).
    public static func makeServices(
        configuration: SystemConfiguration,
        onServerRunning: @escaping @Sendable (ServiceName, Int) async -> Void = { _, _ in },
        onBrokerOpened: @escaping @Sendable (any MessageBroker) -> Void = { _ in }
    ) async throws -> [any Service] {
        try BackendFactory.validate(configuration.backends, singleService: false)
        try BackendFactory.prepareDataDirectory(configuration.backends.dataDirectory)
        let level = configuration.logLevel
        let loggers = Loggers(
            system: ServiceLogging.logger(service: "ordersystem", level: level),
            order: ServiceLogging.logger(service: ServiceName.order.rawValue, level: level),
            analytics: ServiceLogging.logger(service: ServiceName.analytics.rawValue, level: level),
            notification: ServiceLogging.logger(service: ServiceName.notification.rawValue, level: level)
        )
        let clients = try BackendClients.make(
            configuration.backends, orderDatabase: configuration.orderDatabase,
            analyticsDatabase: configuration.analyticsDatabase, logger: loggers.system
        )
        let host = ServiceHost(logger: loggers.system) { opened in
            let broker = try await BackendFactory.openBroker(
                configuration.backends, clients: clients, opened: opened, logger: loggers.system)
            onBrokerOpened(broker)
            return try await Self.buildServices(
                configuration: configuration, broker: broker, clients: clients, opened: opened, loggers: loggers,
                onServerRunning: onServerRunning
            )
        }
        return clients.services + [host]
    }

    private struct Loggers: Sendable {
        var system: Logger
        var order: Logger
        var analytics: Logger
        var notification: Logger
    }

    /// Opens the stores and builds the three services on the open broker and the running clients.
    private static func buildServices(
        configuration: SystemConfiguration,
        broker: any MessageBroker,
        clients: BackendClients,
        opened: OpenedResources,
        loggers: Loggers,
        onServerRunning: @escaping @Sendable (ServiceName, Int) async -> Void
    ) async throws -> [any Service] {
        let backends = configuration.backends
        let orderStore = try await BackendFactory.openOrderStore(
            backends, database: configuration.orderDatabase, client: clients.orderDatabase, opened: opened,
            logger: loggers.order
        )
        let analyticsStore = try await BackendFactory.openAnalyticsStore(
            backends, database: configuration.analyticsDatabase, client: clients.analyticsDatabase, opened: opened,
            logger: loggers.analytics
        )
        let record = try await BackendFactory.openNotificationRecord(
            backends, redis: clients.redis, opened: opened, logger: loggers.notification
        )
        let systemLogger = loggers.system
        func report(_ name: ServiceName) -> @Sendable (any Channel) async -> Void {
            { channel in
                let port = channel.localAddress?.port ?? 0
                systemLogger.info("listening", metadata: ["service": "\(name.rawValue)", "port": "\(port)"])
                await onServerRunning(name, port)
            }
        }
        let order = try await buildOrderService(
            configuration: configuration.order,
            backends: OrderServiceBackends(
                store: orderStore,
                cache: BackendFactory.makeCache(backends, redis: clients.redis, logger: loggers.order),
                broker: broker
            ),
            logger: loggers.order,
            onServerRunning: report(.order)
        )
        let analytics = try await buildAnalyticsService(
            configuration: configuration.analytics,
            backends: AnalyticsServiceBackends(
                store: analyticsStore,
                cache: BackendFactory.makeCache(backends, redis: clients.redis, logger: loggers.analytics),
                broker: broker
            ),
            logger: loggers.analytics,
            onServerRunning: report(.analytics)
        )
        let notification = try await buildNotificationWorker(
            configuration: configuration.notification,
            backends: NotificationWorkerBackends(
                record: record,
                sender: SimulatedNotificationSender(
                    latency: configuration.notificationLatency,
                    failureRate: configuration.notificationFailureRate,
                    logger: loggers.notification
                ),
                broker: broker
            ),
            logger: loggers.notification,
            onServerRunning: report(.notification)
        )
        return [order, analytics, notification]
    }

    /// Runs the services until SIGTERM or SIGINT, then shuts them down gracefully in reverse order.
    public static func run(configuration: SystemConfiguration) async throws {
        let logger = ServiceLogging.logger(service: "ordersystem", level: configuration.logLevel)
        let services = try await Self.makeServices(configuration: configuration)
        let group = ServiceGroup(
            configuration: ShutdownDeadline.groupConfiguration(
                services: services, timeout: configuration.shutdownTimeout, logger: logger)
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
