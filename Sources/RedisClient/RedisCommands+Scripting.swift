extension RedisCommand {
    /// `EVAL script numkeys key ... arg ...`.
    public static func eval(_ script: String, keys: [String] = [], arguments: [RedisArgument] = []) -> RedisCommand {
        RedisCommand("EVAL", [RedisArgument(script), RedisArgument(keys.count)] + keys.map { RedisArgument($0) } + arguments)
    }
    /// `EVALSHA sha1 numkeys key ... arg ...`.
    public static func evalsha(_ sha1: String, keys: [String] = [], arguments: [RedisArgument] = []) -> RedisCommand {
        RedisCommand("EVALSHA", [RedisArgument(sha1), RedisArgument(keys.count)] + keys.map { RedisArgument($0) } + arguments)
    }
}

extension RedisCommandExecutor {
    /// `EVAL`: runs a Lua script and returns its raw reply.
    public func eval(_ script: String, keys: [String] = [], arguments: [RedisArgument] = []) async throws(RedisError) -> RESPValue {
        try await self.execute(.eval(script, keys: keys, arguments: arguments))
    }

    /// `EVALSHA`: runs a cached script by its SHA1; a server error with prefix `NOSCRIPT` means it is not cached.
    public func evalsha(_ sha1: String, keys: [String] = [], arguments: [RedisArgument] = []) async throws(RedisError) -> RESPValue {
        try await self.execute(.evalsha(sha1, keys: keys, arguments: arguments))
    }

    /// `SCRIPT LOAD script`: the script's SHA1, for ``evalsha(_:keys:arguments:)``.
    public func scriptLoad(_ script: String) async throws(RedisError) -> String {
        try await self.execute(RedisCommand("SCRIPT", ["LOAD", RedisArgument(script)]), as: String.self)
    }
}
