import Caching
import Clocks
import XCTest

final class MemoryCacheTests: XCTestCase {
    func testStoredValueIsReturnedUntilItExpires() async throws {
        let clock = TestClock()
        let cache = MemoryCache(capacity: 10, clock: clock)
        try await cache.set("a", value: [1, 2, 3], ttl: .seconds(80))
        let fresh = try await cache.get("a")
        XCTAssertEqual(fresh, [1, 2, 3])
        await clock.advance(by: .seconds(79))
        let almostExpired = try await cache.get("a")
        XCTAssertEqual(almostExpired, [1, 2, 3], "still there just before its time-to-live ends")
        await clock.advance(by: .seconds(1))
        let expired = try await cache.get("a")
        XCTAssertNil(expired)
        XCTAssertEqual(cache.count, 0, "an expired entry is dropped when read")
    }

    func testLeastRecentlyUsedEntryIsEvictedAtCapacity() async throws {
        let cache = MemoryCache(capacity: 3)
        for key in ["a", "b", "c"] {
            try await cache.set(key, value: Array(key.utf8), ttl: .seconds(60))
        }
        _ = try await cache.get("a")  // a is now the most recently used; b the least
        try await cache.set("d", value: [4], ttl: .seconds(60))
        XCTAssertEqual(cache.count, 3)
        let b = try await cache.get("b")
        XCTAssertNil(b)
        for key in ["a", "c", "d"] {
            let value = try await cache.get(key)
            XCTAssertNotNil(value, key)
        }
    }

    func testSetIfAbsentDoesNotOverwriteALiveEntryButReplacesAnExpiredOne() async throws {
        let clock = TestClock()
        let cache = MemoryCache(clock: clock)
        let first = try await cache.setIfAbsent("k", value: [1], ttl: .seconds(50))
        let second = try await cache.setIfAbsent("k", value: [2], ttl: .seconds(60))
        XCTAssertTrue(first)
        XCTAssertFalse(second)
        let kept = try await cache.get("k")
        XCTAssertEqual(kept, [1])
        await clock.advance(by: .seconds(50))
        let third = try await cache.setIfAbsent("k", value: [3], ttl: .seconds(60))
        XCTAssertTrue(third)
        let replaced = try await cache.get("k")
        XCTAssertEqual(replaced, [3])
    }

    func testDeleteAndOverwrite() async throws {
        let cache = MemoryCache()
        try await cache.set("k", value: [1], ttl: .seconds(60))
        try await cache.set("k", value: [2], ttl: .seconds(60))
        let overwritten = try await cache.get("k")
        XCTAssertEqual(overwritten, [2])
        XCTAssertEqual(cache.count, 1)
        try await cache.delete("k")
        let deleted = try await cache.get("k")
        XCTAssertNil(deleted)
    }

    func testManyKeysStayWithinTheBoundAndSlotsAreReused() async throws {
        let cache = MemoryCache(capacity: 100)
        for index in 0..<10_000 {
            try await cache.set("key-\(index)", value: [UInt8(index % 256)], ttl: .seconds(60))
            if index % 3 == 0 { try await cache.delete("key-\(index)") }
        }
        XCTAssertLessThanOrEqual(cache.count, 100)
        let last = try await cache.get("key-9998")  // 9998 % 3 != 0: not deleted
        XCTAssertEqual(last, [UInt8(9998 % 256)])
        let deleted = try await cache.get("key-9999")
        XCTAssertNil(deleted)
    }
}
