import NIOCore
import RedisClient

/// ``KeyValueCache`` on Redis (`--cache redis`): `GET`, `SET … PX`, `SET … NX PX`, `DEL`, `PING`.
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

    public func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool {
        try await self.client.set(key, value: value, expiration: .after(ttl), condition: .ifNotExists)
    }

    public func delete(_ key: String) async throws {
        _ = try await self.client.delete([key])
    }

    public func checkHealth() async throws {
        _ = try await self.client.ping()
    }
}
