import Hummingbird
import Logging
import NIOCore
import ServiceCore
import ServiceLifecycle

/// The parts every service's HTTP side shares, so each build function only adds its own routes.
public enum ServiceApplication {
    /// A router with the error shape, HTTP metrics, and `/health`, `/health/live`, `/metrics` already in place.
    public static func router(metrics: ServiceMetrics, health: HealthMonitor) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
        router.addOperationalRoutes(health: health, metrics: metrics)
        return router
    }

    /// The application serving `router` on `hostname:port`, running `services` beside the server. On graceful
    /// shutdown the server stops first, then `services` in reverse order.
    public static func make(
        router: Router<BasicRequestContext>,
        hostname: String,
        port: Int,
        services: [any Service],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void,
        logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: router,
            configuration: .init(address: .hostname(hostname, port: port), serverName: nil),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger
        )
    }
}
