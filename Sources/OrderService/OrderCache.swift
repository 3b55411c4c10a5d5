import Logging
import Metrics
import ServiceRuntime

/// Cache-aside for orders under the original's key `order:{id}` for 15 minutes.
///
/// It stores the order's JSON exactly as served, so a hit is answered without decoding or encoding. Orders are
/// immutable, so an entry is never stale. Cache failures are counted and logged, never surfaced: the store answers.
public struct OrderCache: Sendable {
    /// The original's time-to-live.
    public static let ttl: Duration = .seconds(15 * 60)

    private let cache: any KeyValueCache
    private let metrics: OrderServiceMetrics
    private let logger: Logger

    /// Wraps `cache`.
    public init(cache: any KeyValueCache, metrics: OrderServiceMetrics, logger: Logger) {
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
    }

    /// The key of an order.
    public static func key(id: String) -> String { "order:\(id)" }

    /// The cached JSON of order `id`, or nil on a miss or a cache failure.
    public func json(id: String) async -> [UInt8]? {
        do {
            let value = try await self.cache.get(Self.key(id: id))
            (value == nil ? self.metrics.cacheMisses : self.metrics.cacheHits).increment()
            return value
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("order cache read failed", metadata: ["order_id": "\(id)", "error": "\(error)"])
            return nil
        }
    }

    /// Caches the JSON of order `id`; failures are logged and ignored.
    public func store(id: String, json: [UInt8]) async {
        do {
            try await self.cache.set(Self.key(id: id), value: json, ttl: Self.ttl)
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("order cache write failed", metadata: ["order_id": "\(id)", "error": "\(error)"])
        }
    }
}
