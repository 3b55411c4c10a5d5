extension RedisCommand {
    /// `PING [message]`.
    public static func ping(_ message: String? = nil) -> RedisCommand {
        RedisCommand("PING", message.map { [RedisArgument($0)] } ?? [])
    }

    /// `AUTH [username] password`. The command's `description` is only `AUTH`.
    public static func auth(username: String? = nil, password: String) -> RedisCommand {
        var arguments: [RedisArgument] = []
        if let username { arguments.append(RedisArgument(username)) }
        arguments.append(RedisArgument(password))
        return RedisCommand("AUTH", arguments)
    }

    /// `SELECT index`.
    public static func select(_ database: Int) -> RedisCommand {
        RedisCommand("SELECT", [RedisArgument(database)])
    }
}

extension RedisCommandExecutor {
    /// `PING`: returns `PONG`, or `message` echoed.
    @discardableResult
    public func ping(_ message: String? = nil) async throws(RedisError) -> String {
        try await self.execute(.ping(message), as: String.self)
    }

    /// `AUTH [username] password` on this connection (the pool authenticates new connections by itself).
    public func auth(username: String? = nil, password: String) async throws(RedisError) {
        _ = try await self.execute(.auth(username: username, password: password))
    }

    /// `SELECT index` on this connection. Use it only inside ``RedisClient/withConnection(_:)``: pooled connections
    /// are selected through ``RedisConfiguration/database``.
    public func select(database: Int) async throws(RedisError) {
        _ = try await self.execute(.select(database))
    }
}
