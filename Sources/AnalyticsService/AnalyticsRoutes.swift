import Hummingbird
import Logging
import Metrics
import ServiceRuntime

/// `GET /analytics/summary`: O(1) from the running totals, through the summary cache.
public struct AnalyticsRoutes<Context: RequestContext>: Sendable {
    let store: any AnalyticsStore
    let summaryCache: SummaryCache
    let metrics: AnalyticsServiceMetrics
    let logger: Logger

    /// Adds the routes.
    public func add(to router: Router<Context>) {
        router.get("/analytics/summary", use: self.summary)
    }

    @Sendable func summary(request: Request, context: Context) async throws -> Response {
        if let json = await self.summaryCache.json() {
            return .json(json)
        }
        let totals: AnalyticsTotals
        do {
            totals = try await self.store.totals()
        } catch {
            self.metrics.storeErrors.increment()
            self.logger.error("reading analytics totals failed", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the analytics store is unavailable")
        }
        let json = AnalyticsSummary(totals: totals).jsonBytes
        await self.summaryCache.fill(json)
        return .json(json)
    }
}
