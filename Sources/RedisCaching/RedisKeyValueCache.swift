import Caching
import NIOCore
import RedisClient
import ServiceCore
import Timing

/// ``KeyValueCache`` on Redis (`--cache redis`): `GET`, `SET … PX`, `SET … NX PX`, a script for versioned sets,
/// `DEL`, `PING`.
///
/// Wrap it in ``CircuitBreakingCache`` so that a slow or absent Redis never slows requests down.
///
/// Thread-safety: `Sendable`; the client's pool serves concurrent calls.
public struct RedisKeyValueCache: KeyValueCache {
    private let client: any RedisCommandExecutor

    /// A cache on `client`.
    public init(client: any RedisCommandExecutor) {
        self.client = client
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await self.client.get(key).map { Array($0.readableBytesView) }
    }

    public func set(_ key: String, value: [UInt8], ttl: Duration) async throws {
        try await self.client.set(key, value: value, expiration: .after(ttl))
    }

    public func set(_ entries: [(key: String, value: [UInt8])], ttl: Duration) async throws {
        guard !entries.isEmpty else { return }
        // One pipeline: one write and one read for all of them. A refused entry fails the call like a refused `SET`.
        let results = try await self.client.pipeline(
            entries.map { RedisCommand.set($0.key, value: RedisArgument($0.value), expiration: .after(ttl)) }
        )
        for result in results { _ = try result.get() }
    }

    public func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool {
        try await self.client.set(key, value: value, expiration: .after(ttl), condition: .ifNotExists)
    }

    public func setIfNewer(_ key: String, value: [UInt8], version: Int64, ttl: Duration) async throws -> Bool {
        // One script, so the comparison and both writes are atomic against other writers.
        let reply = try await self.client.eval(
            Self.setIfNewerScript, keys: [key, key + "#version"],
            // PX in whole milliseconds, at least 1, as `SET` with `.after(ttl)` sends it.
            arguments: [RedisArgument(value), RedisArgument(version), RedisArgument(max(1, ttl.totalMilliseconds))])
        return reply.int == 1
    }

    private static let setIfNewerScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          local stored = tonumber(redis.call('GET', KEYS[2]))
          if stored and stored > tonumber(ARGV[2]) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
        redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
        return 1
        """

    public func delete(_ key: String) async throws {
        _ = try await self.client.delete([key])
    }

    public func checkHealth() async throws {
        _ = try await self.client.ping()
    }
}
