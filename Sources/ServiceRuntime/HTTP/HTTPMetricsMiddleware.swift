import Hummingbird
import Metrics
import ServiceCore
import Synchronization
import Timing

/// Records `http_requests_total{method,path,status}` and `http_request_duration_seconds{method,path}`
/// (the names the original README promised). `path` is the matched route template, e.g. `/orders/{id}`,
/// so ids do not explode the number of series.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let handles: HTTPMetricHandles

    /// Creates the middleware recording into `metrics`.
    public init(metrics: ServiceMetrics) {
        self.handles = HTTPMetricHandles(metrics: metrics)
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
        let (requests, duration) = self.handles.handles(
            method: request.method.rawValue, path: context.endpointPath ?? "unmatched", status: status
        )
        requests.increment()
        duration.recordInterval(since: start)
    }
}

/// The counter and timer of each (method, route, status), created once: creating them through the factory on every
/// request (a registry lookup that builds and sorts the labels) cost more than recording.
final class HTTPMetricHandles: Sendable {
    private struct Key: Hashable {
        var method: String
        var path: String
        var status: Int
    }

    private let metrics: ServiceMetrics
    private let cache = Mutex<[Key: (Counter, Timer)]>([:])

    init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    func handles(method: String, path: String, status: Int) -> (Counter, Timer) {
        let key = Key(method: method, path: path, status: status)
        if let found = self.cache.withLock({ $0[key] }) { return found }
        let created = (
            self.metrics.counter("http_requests_total", [("method", method), ("path", path), ("status", String(status))]),
            self.metrics.timer("http_request_duration_seconds", [("method", method), ("path", path)])
        )
        // Another request may have created the same ones meanwhile; the factory returns the same series either way.
        self.cache.withLock { $0[key] = created }
        return created
    }
}

extension Timer {
    /// Records the time since `start`.
    public func recordInterval(since start: ContinuousClock.Instant) {
        self.recordNanoseconds((ContinuousClock.now - start).totalNanoseconds)
    }
}
