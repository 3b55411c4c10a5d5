import Caching
import ClientTestSupport
import OrderService
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// A shared cache that counts the reads that reach it.
final class CountingCache: KeyValueCache {
    let backing = MemoryCache()
    let reads = Atomic<Int>(0)
    /// Calls of the batch `set`, and the entries they carried.
    let batches = Atomic<Int>(0)
    let batchedEntries = Atomic<Int>(0)

    func get(_ key: String) async throws -> [UInt8]? {
        self.reads.add(1, ordering: .relaxed)
        return try await self.backing.get(key)
    }
    func set(_ key: String, value: [UInt8], ttl: Duration) async throws { try await self.backing.set(key, value: value, ttl: ttl) }
    func set(_ entries: [(key: String, value: [UInt8])], ttl: Duration) async throws {
        self.batches.add(1, ordering: .relaxed)
        self.batchedEntries.add(entries.count, ordering: .relaxed)
        try await self.backing.set(entries, ttl: ttl)
    }
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

    func testWithAWriterOrdersReachTheSharedCacheInBatchesAndTheRestAtShutdown() async throws {
        let shared = CountingCache()
        let registry = ServiceMetrics()
        let metrics = OrderServiceMetrics(registry: registry)
        let writer = OrderCacheWriter(cache: shared, ttl: .seconds(60), metrics: metrics, logger: testLogger("writer"))
        let cache = OrderCache(cache: shared, near: MemoryCache(capacity: 1_000), writer: writer, metrics: metrics, logger: testLogger("cache"))
        // Stored before the writer runs: queued, answered at once from the near cache.
        for index in 0..<200 { await cache.store(id: "early-\(index)", json: Array("order \(index)".utf8)) }
        let near = await cache.json(id: "early-7")
        XCTAssertEqual(near, Array("order 7".utf8))
        XCTAssertEqual(shared.batches.load(ordering: .relaxed), 0, "nothing is written before the writer runs")
        try await withRunningServices([writer]) {
            let early = await eventually { shared.batchedEntries.load(ordering: .relaxed) == 200 }
            XCTAssertTrue(early)
            XCTAssertEqual(shared.batches.load(ordering: .relaxed), 1, "what queued meanwhile goes in one write")
            for index in 0..<50 { await cache.store(id: "late-\(index)", json: Array("late \(index)".utf8)) }
        }
        // Graceful shutdown wrote whatever was still queued.
        XCTAssertEqual(shared.batchedEntries.load(ordering: .relaxed), 250)
        for id in ["early-0", "early-199", "late-0", "late-49"] {
            let stored = try await shared.backing.get(OrderCache.key(id: id))
            XCTAssertNotNil(stored, id)
        }
        XCTAssertFalse(String(decoding: registry.render(), as: UTF8.self).contains(#"result="error"} 1"#))
    }

    func testAWriterBeyondItsCapacityDropsAndCountsTheWrite() async throws {
        let shared = CountingCache()
        let registry = ServiceMetrics()
        let metrics = OrderServiceMetrics(registry: registry)
        let writer = OrderCacheWriter(cache: shared, ttl: .seconds(60), capacity: 2, metrics: metrics, logger: testLogger("writer"))
        for id in ["a", "b", "c"] { writer.enqueue(key: OrderCache.key(id: id), value: Array(id.utf8)) }
        try await withRunningServices([writer]) {
            let written = await eventually { shared.batchedEntries.load(ordering: .relaxed) == 2 }
            XCTAssertTrue(written)
        }
        let dropped = try await shared.backing.get(OrderCache.key(id: "c"))
        XCTAssertNil(dropped, "the write beyond the capacity was dropped")
        XCTAssertTrue(String(decoding: registry.render(), as: UTF8.self).contains(#"cache_requests_total{cache="order",result="error"} 1"#), "and counted")
    }
}
