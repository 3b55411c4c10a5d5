import Caching
import Logging
import Metrics

/// The summary under the original's key `analytics:summary` for 5 minutes, kept coherent with the totals.
///
/// The consumer writes the fresh summary after every committed batch (it has the new totals in hand), and readers
/// only fill a missing entry (`SET NX`), so a reader that loaded older totals can never overwrite a newer summary.
/// Failures are counted and logged, never surfaced.
public struct SummaryCache: Sendable {
    /// The original's key.
    public static let key = "analytics:summary"
    /// The original's time-to-live.
    public static let ttl: Duration = .seconds(5 * 60)

    private let cache: any KeyValueCache
    private let metrics: AnalyticsServiceMetrics
    private let logger: Logger

    /// Wraps `cache`.
    public init(cache: any KeyValueCache, metrics: AnalyticsServiceMetrics, logger: Logger) {
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
    }

    /// The cached summary JSON, or nil on a miss or failure.
    public func json() async -> [UInt8]? {
        do {
            let value = try await self.cache.get(Self.key)
            (value == nil ? self.metrics.cacheMisses : self.metrics.cacheHits).increment()
            return value
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("summary cache read failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Fills a missing entry with what a reader computed.
    public func fill(_ json: [UInt8]) async {
        do {
            _ = try await self.cache.setIfAbsent(Self.key, value: json, ttl: Self.ttl)
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("summary cache write failed", metadata: ["error": "\(error)"])
        }
    }

    /// Replaces the entry with the summary of freshly committed totals, unless a summary of later totals is already
    /// there: with several analytics instances, the one whose write lands last is not always the one that committed
    /// last. `version` is the totals' `last_updated`, which grows with every commit (MySQLAnalyticsStore). On
    /// failure, removes the entry so no stale summary outlives the write.
    public func replace(_ json: [UInt8], version: Int64) async {
        do {
            _ = try await self.cache.setIfNewer(Self.key, value: json, version: version, ttl: Self.ttl)
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("summary cache update failed", metadata: ["error": "\(error)"])
            try? await self.cache.delete(Self.key)
        }
    }
}
