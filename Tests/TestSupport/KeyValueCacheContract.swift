import Caching
import ClientTestSupport
import XCTest

/// The behaviour every ``KeyValueCache`` must have, run against each implementation (`MemoryCache`, Redis).
/// Keys are namespaced with `prefix`, so runs against a shared server do not collide.
public struct KeyValueCacheContract: Sendable {
    let cache: any KeyValueCache
    let prefix: String

    public init(cache: any KeyValueCache, prefix: String = "test:\(Int.random(in: 0..<1_000_000_000)):") {
        self.cache = cache
        self.prefix = prefix
    }

    private func key(_ name: String) -> String { self.prefix + name }

    public func missingKeyIsNil() async throws {
        let value = try await self.cache.get(self.key("missing"))
        XCTAssertNil(value)
    }

    public func valuesRoundTripByteForByte() async throws {
        let bytes = (0...255).map { UInt8($0) } + Array(#"{"id":"ü","n":1}"#.utf8)
        try await self.cache.set(self.key("bytes"), value: bytes, ttl: .seconds(60))
        let read = try await self.cache.get(self.key("bytes"))
        XCTAssertEqual(read, bytes)
        try await self.cache.set(self.key("empty"), value: [], ttl: .seconds(60))
        let empty = try await self.cache.get(self.key("empty"))
        XCTAssertEqual(empty, [])
    }

    public func manyEntriesAreStoredTogether() async throws {
        let entries = (0..<300).map { (key: self.key("many-\($0)"), value: Array("value \($0)".utf8)) }
        try await self.cache.set(entries, ttl: .seconds(60))
        for index in [0, 150, 299] {
            let read = try await self.cache.get(entries[index].key)
            XCTAssertEqual(read, entries[index].value)
        }
        try await self.cache.set([], ttl: .seconds(60))  // nothing to store is no error
        try await self.cache.set([(self.key("many-0"), [9])], ttl: .seconds(60))
        let overwritten = try await self.cache.get(self.key("many-0"))
        XCTAssertEqual(overwritten, [9])
    }

    public func overwriteReplacesAndDeleteRemoves() async throws {
        try await self.cache.set(self.key("k"), value: [1], ttl: .seconds(60))
        try await self.cache.set(self.key("k"), value: [2], ttl: .seconds(60))
        let overwritten = try await self.cache.get(self.key("k"))
        XCTAssertEqual(overwritten, [2])
        try await self.cache.delete(self.key("k"))
        let deleted = try await self.cache.get(self.key("k"))
        XCTAssertNil(deleted)
        try await self.cache.delete(self.key("never-set"))  // deleting a missing key is fine
    }

    public func entriesExpireAfterTheirTTL() async throws {
        try await self.cache.set(self.key("short"), value: [1], ttl: .milliseconds(100))
        let fresh = try await self.cache.get(self.key("short"))
        XCTAssertEqual(fresh, [1])
        // Expiry is the cache's own (Redis's on the server): wait for it, bounded, instead of guessing its moment.
        let expired = try await eventually(interval: .milliseconds(10)) {
            try await self.cache.get(self.key("short")) == nil
        }
        XCTAssertTrue(expired)
    }

    public func setIfAbsentOnlyWritesMissingKeys() async throws {
        let first = try await self.cache.setIfAbsent(self.key("nx"), value: [1], ttl: .seconds(60))
        let second = try await self.cache.setIfAbsent(self.key("nx"), value: [2], ttl: .seconds(60))
        XCTAssertTrue(first)
        XCTAssertFalse(second)
        let kept = try await self.cache.get(self.key("nx"))
        XCTAssertEqual(kept, [1])
        try await self.cache.delete(self.key("nx"))
    }

    /// A writer that lost a race (an older version) cannot replace a newer value; an equal or newer one can; once
    /// the value is gone, any version is stored again (a version left behind blocks nothing).
    public func setIfNewerKeepsTheNewestVersion() async throws {
        let key = self.key("versioned")
        let stored = try await self.cache.setIfNewer(key, value: [5], version: 5, ttl: .seconds(60))
        XCTAssertTrue(stored)
        let older = try await self.cache.setIfNewer(key, value: [3], version: 3, ttl: .seconds(60))
        XCTAssertFalse(older, "version 3 after 5")
        let afterOlder = try await self.cache.get(key)
        XCTAssertEqual(afterOlder, [5])
        let equal = try await self.cache.setIfNewer(key, value: [55], version: 5, ttl: .seconds(60))
        XCTAssertTrue(equal)
        let newer = try await self.cache.setIfNewer(key, value: [7], version: 7, ttl: .seconds(60))
        XCTAssertTrue(newer)
        let afterNewer = try await self.cache.get(key)
        XCTAssertEqual(afterNewer, [7])
        try await self.cache.delete(key)
        let afterDelete = try await self.cache.setIfNewer(key, value: [1], version: 1, ttl: .seconds(60))
        XCTAssertTrue(afterDelete, "nothing newer is cached any more")
        let final = try await self.cache.get(key)
        XCTAssertEqual(final, [1])
        try await self.cache.delete(key)
        try await self.cache.delete(key + "#version")
    }

    public func healthCheckPasses() async throws {
        try await self.cache.checkHealth()
    }
}
