import NIOCore
import Timing

/// When a key set with `SET` expires.
public struct RedisExpiration: Sendable, Hashable {
    enum Base: Sendable, Hashable {
        case seconds(Int)
        case milliseconds(Int)
        case keepTTL
    }

    let base: Base

    /// `EX seconds`.
    public static func seconds(_ seconds: Int) -> RedisExpiration { .init(base: .seconds(seconds)) }
    /// `PX milliseconds`.
    public static func milliseconds(_ milliseconds: Int) -> RedisExpiration { .init(base: .milliseconds(milliseconds)) }
    /// `KEEPTTL`: keep the key's current time to live.
    public static let keepTTL = RedisExpiration(base: .keepTTL)

    /// A `Duration`, sent as `PX` in whole milliseconds (at least 1).
    public static func after(_ duration: Duration) -> RedisExpiration {
        .milliseconds(max(1, Int(clamping: duration.totalMilliseconds)))
    }
}

/// Whether `SET` writes depending on the key's existence.
public enum RedisSetCondition: Sendable, Hashable {
    /// Always write.
    case none
    /// `NX`: only if the key does not exist.
    case ifNotExists
    /// `XX`: only if the key exists.
    case ifExists
}

extension RedisCommand {
    /// `GET key`.
    public static func get(_ key: String) -> RedisCommand { RedisCommand("GET", [RedisArgument(key)]) }

    /// `SET key value [EX s | PX ms | KEEPTTL] [NX | XX]`.
    public static func set(
        _ key: String, value: RedisArgument, expiration: RedisExpiration? = nil, condition: RedisSetCondition = .none
    ) -> RedisCommand {
        var arguments: [RedisArgument] = [RedisArgument(key), value]
        switch expiration?.base {
        case .seconds(let seconds): arguments += ["EX", RedisArgument(seconds)]
        case .milliseconds(let milliseconds): arguments += ["PX", RedisArgument(milliseconds)]
        case .keepTTL: arguments.append("KEEPTTL")
        case nil: break
        }
        switch condition {
        case .none: break
        case .ifNotExists: arguments.append("NX")
        case .ifExists: arguments.append("XX")
        }
        return RedisCommand("SET", arguments)
    }

    /// `INCRBY key increment` (`INCR key` when `by` is 1).
    public static func incr(_ key: String, by increment: Int = 1) -> RedisCommand {
        increment == 1
            ? RedisCommand("INCR", [RedisArgument(key)]) : RedisCommand("INCRBY", [RedisArgument(key), RedisArgument(increment)])
    }

    /// `MGET key [key ...]`.
    public static func mget(_ keys: [String]) -> RedisCommand { RedisCommand("MGET", keys.map { RedisArgument($0) }) }

    /// `MSET key value [key value ...]`.
    public static func mset(_ pairs: [(key: String, value: RedisArgument)]) -> RedisCommand {
        RedisCommand("MSET", pairs.flatMap { [RedisArgument($0.key), $0.value] })
    }
}

extension RedisCommandExecutor {
    /// `GET key`: the value's bytes, or `nil` when the key does not exist.
    public func get(_ key: String) async throws(RedisError) -> ByteBuffer? {
        try await self.execute(.get(key), as: ByteBuffer?.self)
    }

    /// `GET key` as UTF-8 text, or `nil` when the key does not exist.
    public func getString(_ key: String) async throws(RedisError) -> String? {
        try await self.execute(.get(key), as: String?.self)
    }

    /// `SET key value [EX|PX|KEEPTTL] [NX|XX]`: `true` when the value was written, `false` when the condition
    /// prevented it.
    @discardableResult
    public func set(
        _ key: String, value: ByteBuffer, expiration: RedisExpiration? = nil, condition: RedisSetCondition = .none
    ) async throws(RedisError) -> Bool {
        try await self.execute(.set(key, value: RedisArgument(value), expiration: expiration, condition: condition)).isNull == false
    }

    /// `SET` with a byte array value; see the `ByteBuffer` variant.
    @discardableResult
    public func set(
        _ key: String, value: [UInt8], expiration: RedisExpiration? = nil, condition: RedisSetCondition = .none
    ) async throws(RedisError) -> Bool {
        try await self.execute(.set(key, value: RedisArgument(value), expiration: expiration, condition: condition)).isNull == false
    }

    /// `SET` with a UTF-8 text value; see the `ByteBuffer` variant.
    @discardableResult
    public func set(
        _ key: String, value: String, expiration: RedisExpiration? = nil, condition: RedisSetCondition = .none
    ) async throws(RedisError) -> Bool {
        try await self.execute(.set(key, value: RedisArgument(value), expiration: expiration, condition: condition)).isNull == false
    }

    /// `INCR key` / `INCRBY key increment`: the new value.
    @discardableResult
    public func increment(_ key: String, by increment: Int = 1) async throws(RedisError) -> Int {
        try await self.execute(.incr(key, by: increment), as: Int.self)
    }

    /// `MGET key ...`: one value per key, `nil` where a key does not exist.
    public func mget(_ keys: [String]) async throws(RedisError) -> [ByteBuffer?] {
        if keys.isEmpty { return [] }
        return try await self.execute(.mget(keys), as: [ByteBuffer?].self)
    }

    /// `MSET key value ...`.
    public func mset(_ pairs: [(key: String, value: ByteBuffer)]) async throws(RedisError) {
        if pairs.isEmpty { return }
        _ = try await self.execute(.mset(pairs.map { ($0.key, RedisArgument($0.value)) }))
    }

    /// `MSET key value ...` with UTF-8 text values.
    public func mset(_ pairs: [(key: String, value: String)]) async throws(RedisError) {
        if pairs.isEmpty { return }
        _ = try await self.execute(.mset(pairs.map { ($0.key, RedisArgument($0.value)) }))
    }
}
