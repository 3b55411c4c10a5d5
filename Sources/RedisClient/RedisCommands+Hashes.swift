import NIOCore

extension RedisCommand {
    /// `HGET key field`.
    public static func hget(_ key: String, field: String) -> RedisCommand {
        RedisCommand("HGET", [RedisArgument(key), RedisArgument(field)])
    }
    /// `HSET key field value [field value ...]`.
    public static func hset(_ key: String, fields: [(field: String, value: RedisArgument)]) -> RedisCommand {
        RedisCommand("HSET", [RedisArgument(key)] + fields.flatMap { [RedisArgument($0.field), $0.value] })
    }
    /// `HGETALL key`.
    public static func hgetall(_ key: String) -> RedisCommand { RedisCommand("HGETALL", [RedisArgument(key)]) }
}

extension RedisCommandExecutor {
    /// `HGET key field`: the field's bytes, or `nil`.
    public func hget(_ key: String, field: String) async throws(RedisError) -> ByteBuffer? {
        try await self.execute(.hget(key, field: field), as: ByteBuffer?.self)
    }

    /// `HSET key field value ...`: how many fields were added (not counting updated ones).
    @discardableResult
    public func hset(_ key: String, fields: [(field: String, value: ByteBuffer)]) async throws(RedisError) -> Int {
        try await self.execute(.hset(key, fields: fields.map { ($0.field, RedisArgument($0.value)) }), as: Int.self)
    }

    /// `HSET key field value ...` with UTF-8 text values.
    @discardableResult
    public func hset(_ key: String, fields: [(field: String, value: String)]) async throws(RedisError) -> Int {
        try await self.execute(.hset(key, fields: fields.map { ($0.field, RedisArgument($0.value)) }), as: Int.self)
    }

    /// `HGETALL key`: every field and value (empty when the key does not exist).
    public func hgetall(_ key: String) async throws(RedisError) -> [String: ByteBuffer] {
        let values = try await self.execute(.hgetall(key), as: [ByteBuffer].self)
        guard values.count % 2 == 0 else { throw RedisError(code: .unexpectedResponse, message: "odd HGETALL reply") }
        var result: [String: ByteBuffer] = [:]
        result.reserveCapacity(values.count / 2)
        var index = 0
        while index < values.count {
            result[String(buffer: values[index])] = values[index + 1]
            index += 2
        }
        return result
    }
}
