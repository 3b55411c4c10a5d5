import Caching
import OrderService
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// A shared cache that counts the reads that reach it.
final class CountingCache: KeyValueCache {
    let backing = MemoryCache()
    let reads = Atomic<Int>(0)

    func get(_ key: String) async throws -> [UInt8]? {
        self.reads.add(1, ordering: .relaxed)
        return try await self.backing.get(key)
    }
    func set(_ key: String, value: [UInt8], ttl: Duration) async throws { try await self.backing.set(key, value: value, ttl: ttl) }
    func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool {
        try await self.backing.setIfAbsent(key, value: value, ttl: ttl)
    }
    func setIfNewer(_ key: String, value: [UInt8], version: Int64, ttl: Duration) async throws -> Bool {
        try await self.backing.setIfNewer(key, value: value, version: version, ttl: ttl)
    }
    func delete(_ key: String) async throws { try await self.backing.delete(key) }
    func checkHealth() async throws {}
}

final class OrderNearCacheTests: XCTestCase {
    private func makeCache(near: MemoryCache<ContinuousClock>?) -> (OrderCache, CountingCache) {
        let shared = CountingCache()
        let cache = OrderCache(
            cache: shared, near: near, metrics: OrderServiceMetrics(registry: ServiceMetrics()), logger: testLogger("cache")
        )
        return (cache, shared)
    }

    func testANewOrderIsAnsweredFromTheProcessWithoutASharedRead() async throws {
        let (cache, shared) = self.makeCache(near: MemoryCache(capacity: 10))
        await cache.store(id: "a", json: Array("order a".utf8))
        for _ in 0..<5 {
            let json = await cache.json(id: "a")
            XCTAssertEqual(json, Array("order a".utf8))
        }
        XCTAssertEqual(shared.reads.load(ordering: .relaxed), 0)
        let stored = try await shared.backing.get(OrderCache.key(id: "a"))
        XCTAssertEqual(stored, Array("order a".utf8), "the shared cache is written too, for the other instances")
    }

    func testASharedHitFillsTheNearCache() async throws {
        let (cache, shared) = self.makeCache(near: MemoryCache(capacity: 10))
        try await shared.backing.set(OrderCache.key(id: "b"), value: Array("order b".utf8), ttl: .seconds(60))  // another instance's
        let first = await cache.json(id: "b")
        let second = await cache.json(id: "b")
        XCTAssertEqual(first, Array("order b".utf8))
        XCTAssertEqual(second, first)
        XCTAssertEqual(shared.reads.load(ordering: .relaxed), 1, "the second read stays in the process")
        let missing = await cache.json(id: "c")
        XCTAssertNil(missing)
    }

    func testWithoutANearCacheEveryReadIsShared() async throws {
        let (cache, shared) = self.makeCache(near: nil)
        await cache.store(id: "d", json: Array("order d".utf8))
        _ = await cache.json(id: "d")
        _ = await cache.json(id: "d")
        XCTAssertEqual(shared.reads.load(ordering: .relaxed), 2)
    }
}
