import Hummingbird
import NIOCore
import ServiceCore

extension Router {
    /// Adds `/health`, `/health/live` and `/metrics`.
    public func addOperationalRoutes(health: HealthMonitor, metrics: ServiceMetrics) {
        self.get("/health") { _, _ -> Response in
            let report = await health.report()
            return .json(report.jsonBody, status: report.status == .unhealthy ? .serviceUnavailable : .ok)
        }
        self.get("/health/live") { _, _ -> Response in
            .json(Array(#"{"status":"alive"}"#.utf8))
        }
        self.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render()))
            )
        }
    }
}
