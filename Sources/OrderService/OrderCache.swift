import Caching
import Logging
import Metrics

/// Cache-aside for orders under the original's key `order:{id}` for 15 minutes.
///
/// It stores the order's JSON exactly as served, so a hit is answered without decoding or encoding. Orders are
/// immutable, so an entry is never stale. Cache failures are counted and logged, never surfaced: the store answers.
///
/// With a shared cache (Redis), an optional near cache in the process answers repeated reads without a round trip.
/// It needs no invalidation because orders never change once created; it holds at most its capacity (LRU) for the
/// same 15 minutes.
///
/// Writes to a shared cache go through an ``OrderCacheWriter`` when one is given: the request queues its write and
/// answers, and the writer sends the queued writes together.
public struct OrderCache: Sendable {
    /// The original's time-to-live.
    public static let ttl: Duration = .seconds(15 * 60)

    private let cache: any KeyValueCache
    private let near: MemoryCache<ContinuousClock>?
    private let writer: OrderCacheWriter?
    private let metrics: OrderServiceMetrics
    private let logger: Logger

    /// Wraps `cache`, with `near` in front of it when given; writes through `writer` when given.
    public init(
        cache: any KeyValueCache, near: MemoryCache<ContinuousClock>? = nil, writer: OrderCacheWriter? = nil,
        metrics: OrderServiceMetrics, logger: Logger
    ) {
        self.cache = cache
        self.near = near
        self.writer = writer
        self.metrics = metrics
        self.logger = logger
    }

    /// The key of an order.
    public static func key(id: String) -> String { "order:\(id)" }

    /// The cached JSON of order `id`, or nil on a miss or a cache failure.
    public func json(id: String) async -> [UInt8]? {
        let key = Self.key(id: id)
        if let near = self.near {
            if let value = near.lookup(key) {
                self.metrics.nearCacheHits.increment()
                return value
            }
            self.metrics.nearCacheMisses.increment()
        }
        do {
            let value = try await self.cache.get(key)
            (value == nil ? self.metrics.cacheMisses : self.metrics.cacheHits).increment()
            if let value, let near = self.near { _ = near.store(key, value: value, ttl: Self.ttl) }
            return value
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("order cache read failed", metadata: ["order_id": "\(id)", "error": "\(error)"])
            return nil
        }
    }

    /// Caches the JSON of order `id` (queued for the shared cache when there is a writer); failures are logged and
    /// ignored.
    public func store(id: String, json: [UInt8]) async {
        if let near = self.near { _ = near.store(Self.key(id: id), value: json, ttl: Self.ttl) }
        if let writer = self.writer {
            writer.enqueue(key: Self.key(id: id), value: json)
            return
        }
        do {
            try await self.cache.set(Self.key(id: id), value: json, ttl: Self.ttl)
        } catch {
            self.metrics.cacheErrors.increment()
            self.logger.warning("order cache write failed", metadata: ["order_id": "\(id)", "error": "\(error)"])
        }
    }
}
