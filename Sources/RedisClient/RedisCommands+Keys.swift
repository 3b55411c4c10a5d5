extension RedisCommand {
    /// `DEL key [key ...]`.
    public static func del(_ keys: [String]) -> RedisCommand { RedisCommand("DEL", keys.map { RedisArgument($0) }) }
    /// `EXISTS key [key ...]`.
    public static func exists(_ keys: [String]) -> RedisCommand { RedisCommand("EXISTS", keys.map { RedisArgument($0) }) }
    /// `EXPIRE key seconds`.
    public static func expire(_ key: String, seconds: Int) -> RedisCommand {
        RedisCommand("EXPIRE", [RedisArgument(key), RedisArgument(seconds)])
    }
    /// `TTL key`.
    public static func ttl(_ key: String) -> RedisCommand { RedisCommand("TTL", [RedisArgument(key)]) }
    /// `SCAN cursor [MATCH pattern] [COUNT count]`.
    public static func scan(cursor: Int, match: String? = nil, count: Int? = nil) -> RedisCommand {
        var arguments: [RedisArgument] = [RedisArgument(cursor)]
        if let match { arguments += ["MATCH", RedisArgument(match)] }
        if let count { arguments += ["COUNT", RedisArgument(count)] }
        return RedisCommand("SCAN", arguments)
    }
}

/// The time to live of a key, as `TTL` reports it.
public enum RedisTTL: Sendable, Hashable {
    /// The key does not exist (`-2`).
    case keyDoesNotExist
    /// The key exists and never expires (`-1`).
    case noExpiration
    /// The key expires in this many seconds.
    case seconds(Int)
}

extension RedisCommandExecutor {
    /// `DEL key ...`: how many keys were removed.
    @discardableResult
    public func delete(_ keys: [String]) async throws(RedisError) -> Int {
        if keys.isEmpty { return 0 }
        return try await self.execute(.del(keys), as: Int.self)
    }

    /// `EXISTS key ...`: how many of the keys exist (a key named twice counts twice).
    public func exists(_ keys: [String]) async throws(RedisError) -> Int {
        if keys.isEmpty { return 0 }
        return try await self.execute(.exists(keys), as: Int.self)
    }

    /// `EXPIRE key seconds`: `true` when the timeout was set, `false` when the key does not exist.
    @discardableResult
    public func expire(_ key: String, after seconds: Int) async throws(RedisError) -> Bool {
        try await self.execute(.expire(key, seconds: seconds), as: Bool.self)
    }

    /// `TTL key`.
    public func ttl(_ key: String) async throws(RedisError) -> RedisTTL {
        switch try await self.execute(.ttl(key), as: Int.self) {
        case -2: .keyDoesNotExist
        case -1: .noExpiration
        case let seconds: .seconds(seconds)
        }
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count]`: the next cursor (0 when the iteration is complete) and a page of
    /// keys.
    public func scan(
        cursor: Int = 0, match: String? = nil, count: Int? = nil
    ) async throws(RedisError) -> (cursor: Int, keys: [String]) {
        let reply = try await self.execute(.scan(cursor: cursor, match: match, count: count))
        guard let parts = reply.array, parts.count == 2 else { throw .unexpected(reply, expected: "a two-element array") }
        return (try Int(fromRESP: parts[0]), try [String](fromRESP: parts[1]))
    }

    /// Every key matching `pattern`, following `SCAN` cursors to the end.
    public func scanAll(match pattern: String? = nil, count: Int? = 1000) async throws(RedisError) -> [String] {
        var keys: [String] = []
        var cursor = 0
        repeat {
            let page = try await self.scan(cursor: cursor, match: pattern, count: count)
            keys += page.keys
            cursor = page.cursor
        } while cursor != 0
        return keys
    }
}
