/// A byte cache with expiry: the in-process LRU and Redis both fill this.
///
/// A cache is an optimisation, never a source of truth: callers treat every error as a miss.
///
/// Thread-safety: implementations are `Sendable` and safe to call from many tasks.
public protocol KeyValueCache: Sendable {
    /// The value under `key`, or nil when absent or expired.
    func get(_ key: String) async throws -> [UInt8]?
    /// Stores `value` under `key` for `ttl`.
    func set(_ key: String, value: [UInt8], ttl: Duration) async throws
    /// Stores every entry for `ttl`; a shared cache sends them together (one round trip to Redis).
    func set(_ entries: [(key: String, value: [UInt8])], ttl: Duration) async throws
    /// Stores `value` only when `key` is absent (Redis `SET NX`); true when stored.
    func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool
    /// Stores `value` under `key` unless the entry there was stored by this method with a higher `version` (kept
    /// beside it, under `key + "#version"`, for the same `ttl`); true when stored. For a value that several processes
    /// refresh: a writer that lost a race cannot put back an older value. An absent value is always stored, so a
    /// version left behind by a deleted value blocks nothing.
    func setIfNewer(_ key: String, value: [UInt8], version: Int64, ttl: Duration) async throws -> Bool
    /// Removes `key`.
    func delete(_ key: String) async throws
    /// Throws when the cache cannot be reached; used by `/health`.
    func checkHealth() async throws
}

extension KeyValueCache {
    /// One ``set(_:value:ttl:)`` after another: right for a cache in the process, where a call costs no round trip.
    public func set(_ entries: [(key: String, value: [UInt8])], ttl: Duration) async throws {
        for entry in entries { try await self.set(entry.key, value: entry.value, ttl: ttl) }
    }
}
