import Caching
import RedisCaching
import TestSupport
import XCTest

/// The cache contract on the in-process LRU.
final class MemoryCacheContractTests: XCTestCase {
    private let contract = KeyValueCacheContract(cache: MemoryCache())

    func testMissingKeyIsNil() async throws { try await self.contract.missingKeyIsNil() }
    func testValuesRoundTripByteForByte() async throws { try await self.contract.valuesRoundTripByteForByte() }
    func testManyEntriesAreStoredTogether() async throws { try await self.contract.manyEntriesAreStoredTogether() }
    func testOverwriteReplacesAndDeleteRemoves() async throws { try await self.contract.overwriteReplacesAndDeleteRemoves() }
    func testEntriesExpireAfterTheirTTL() async throws { try await self.contract.entriesExpireAfterTheirTTL() }
    func testSetIfAbsentOnlyWritesMissingKeys() async throws { try await self.contract.setIfAbsentOnlyWritesMissingKeys() }
    func testSetIfNewerKeepsTheNewestVersion() async throws { try await self.contract.setIfNewerKeepsTheNewestVersion() }
    func testHealthCheckPasses() async throws { try await self.contract.healthCheckPasses() }
}

/// The same contract on the stack's Redis, through `RedisKeyValueCache` behind the circuit breaker as the services
/// use it.
final class RedisCacheContractTests: XCTestCase {
    private func run(_ check: @Sendable (KeyValueCacheContract) async throws -> Void) async throws {
        try await withRedisClient { client in
            let cache = CircuitBreakingCache(wrapping: RedisKeyValueCache(client: client), logger: testLogger("cache"))
            try await check(KeyValueCacheContract(cache: cache))
        }
    }

    func testMissingKeyIsNil() async throws { try await self.run { try await $0.missingKeyIsNil() } }
    func testValuesRoundTripByteForByte() async throws { try await self.run { try await $0.valuesRoundTripByteForByte() } }
    func testManyEntriesAreStoredTogether() async throws { try await self.run { try await $0.manyEntriesAreStoredTogether() } }
    func testOverwriteReplacesAndDeleteRemoves() async throws { try await self.run { try await $0.overwriteReplacesAndDeleteRemoves() } }
    func testEntriesExpireAfterTheirTTL() async throws { try await self.run { try await $0.entriesExpireAfterTheirTTL() } }
    func testSetIfAbsentOnlyWritesMissingKeys() async throws { try await self.run { try await $0.setIfAbsentOnlyWritesMissingKeys() } }
    func testSetIfNewerKeepsTheNewestVersion() async throws { try await self.run { try await $0.setIfNewerKeepsTheNewestVersion() } }
    func testHealthCheckPasses() async throws { try await self.run { try await $0.healthCheckPasses() } }
}
