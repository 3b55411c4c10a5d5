import Hummingbird
import Logging
import Metrics
import ServiceCore
import ServiceRuntime

/// `GET /analytics/summary`: O(1) from the running totals, through the summary cache.
public struct AnalyticsRoutes<Context: RequestContext>: Sendable {
    let store: any AnalyticsStore
    let summaryCache: SummaryCache
    /// Concurrent misses read the totals once (stampede protection).
    let misses = SingleFlight<[UInt8]>()
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
        let store = self.store
        let summaryCache = self.summaryCache
        let json: [UInt8]
        do {
            json = try await self.misses.run(key: SummaryCache.key) {
                let json = AnalyticsSummary(totals: try await store.totals()).jsonBytes
                await summaryCache.fill(json)
                return json
            }
        } catch {
            self.metrics.storeOutages.increment()
            self.logger.error("reading analytics totals failed", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the analytics store is unavailable")
        }
        return .json(json)
    }
}
