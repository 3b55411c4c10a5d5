import Hummingbird
import Metrics

/// Records `http_requests_total{method,path,status}` and `http_request_duration_seconds{method,path}`
/// (the names the original README promised). `path` is the matched route template, e.g. `/orders/{id}`,
/// so ids do not explode the number of series.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let metrics: ServiceMetrics

    /// Creates the middleware recording into `metrics`.
    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // The error middleware sits outside this one; count what it will answer.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            self.record(request: request, context: context, status: status, start: start)
            throw error
        }
        self.record(request: request, context: context, status: response.status.code, start: start)
        return response
    }

    private func record(request: Request, context: Context, status: Int, start: ContinuousClock.Instant) {
        let path = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        Counter(
            label: "http_requests_total",
            dimensions: [("method", method), ("path", path), ("status", String(status))],
            factory: self.metrics.factory
        ).increment()
        Timer(
            label: "http_request_duration_seconds",
            dimensions: [("method", method), ("path", path)],
            factory: self.metrics.factory
        ).recordInterval(since: start)
    }
}

extension Timer {
    /// Records the time since `start`.
    public func recordInterval(since start: ContinuousClock.Instant) {
        self.recordNanoseconds((ContinuousClock.now - start).totalNanoseconds)
    }
}
