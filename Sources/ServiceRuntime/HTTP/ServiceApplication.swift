import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceCore
import ServiceLifecycle

/// The parts every service's HTTP side shares, so each build function only adds its own routes.
public enum ServiceApplication {
    /// A router with the error shape and HTTP metrics in place, and `/health`, `/health/live`, `/metrics` unless
    /// `http` moves them to an ops port.
    public static func router(
        metrics: ServiceMetrics,
        health: HealthMonitor,
        http: HTTPServerSettings = HTTPServerSettings()
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
        if http.opsPort == nil {
            router.addOperationalRoutes(health: health, metrics: metrics)
        }
        return router
    }

    /// The application serving `router` on `hostname:port`, with the bounds of `http`, running `services` beside
    /// the server. On graceful shutdown the server stops first, then `services` in reverse order, then the ops
    /// listener when there is one, so health answers until the end.
    public static func make(
        router: Router<BasicRequestContext>,
        hostname: String,
        port: Int,
        http: HTTPServerSettings = HTTPServerSettings(),
        metrics: ServiceMetrics,
        health: HealthMonitor,
        services: [any Service],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void,
        onOpsServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        logger: Logger
    ) -> some ApplicationProtocol {
        var services = services
        if let opsPort = http.opsPort {
            let opsRouter = Router()
            opsRouter.add(middleware: APIErrorMiddleware())
            opsRouter.addOperationalRoutes(health: health, metrics: metrics)
            var opsSettings = http
            opsSettings.maxConnections = HTTPServerSettings.opsMaxConnections
            let ops = Application(
                router: opsRouter,
                server: Self.server(opsSettings, listener: "ops", metrics: metrics),
                configuration: .init(address: .hostname(hostname, port: opsPort), serverName: nil),
                onServerRunning: onOpsServerRunning,
                logger: logger
            )
            services.insert(ops, at: 0)
        }
        return Application(
            router: router,
            server: Self.server(http, listener: "service", metrics: metrics),
            configuration: .init(address: .hostname(hostname, port: port), serverName: nil),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// HTTP/1.1 with the idle and header-read timeouts, behind the connection cap.
    static func server(_ settings: HTTPServerSettings, listener: String, metrics: ServiceMetrics) -> HTTPServerBuilder {
        let gate = ConnectionGate(limit: settings.maxConnections, listener: listener, metrics: metrics)
        let headerTimeouts = metrics.counter("http_header_timeouts_total", [("listener", listener)])
        let headerTimeout = settings.headerTimeout
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestHeadWatcher(timeout: headerTimeout, timeouts: headerTimeouts)],
            idleTimeout: TimeAmount(settings.idleTimeout)
        )
        return HTTPServerBuilder { responder in
            BoundedHTTP1Channel(http: HTTP1Channel(responder: responder, configuration: configuration), gate: gate)
        }
    }
}
