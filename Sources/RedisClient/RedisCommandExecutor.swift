import NIOCore

/// Something that runs Redis commands: a ``RedisConnection`` or a ``RedisClient`` (which runs them on its shared
/// connections, or on a leased one for blocking and connection-state commands). Every typed command (`get`, `set`, `hset`, ...) is an extension on this protocol, so it
/// works on both.
public protocol RedisCommandExecutor: Sendable {
    /// Sends `command` and returns its reply; an error reply throws ``RedisError`` with code
    /// ``RedisError/Code/server``.
    func execute(_ command: RedisCommand) async throws(RedisError) -> RESPValue

    /// Sends all `commands` together (one write, one connection) and returns one result per command, in order.
    func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [Result<RESPValue, RedisError>]
}

extension RedisCommandExecutor {
    /// Sends any command by name, e.g. `send(command: "OBJECT", arguments: ["ENCODING", "key"])`.
    public func send(command: String, arguments: [RedisArgument] = []) async throws(RedisError) -> RESPValue {
        try await self.execute(RedisCommand(command, arguments))
    }

    /// Sends `command` and decodes its reply as `type`.
    public func execute<Value: RESPValueDecodable>(
        _ command: RedisCommand, as type: Value.Type = Value.self
    ) async throws(RedisError) -> Value {
        try await self.execute(command).decode(as: Value.self)
    }

    /// Builds the commands with `build` and sends them as one pipeline:
    /// `try await client.pipeline { $0.append(.incr("a")); $0.append(.get("a")) }`.
    public func pipeline(
        _ build: (inout [RedisCommand]) throws -> Void
    ) async throws -> [Result<RESPValue, RedisError>] {
        var commands: [RedisCommand] = []
        try build(&commands)
        return try await self.pipeline(commands)
    }
}
