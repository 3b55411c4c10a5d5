import RedisClient
import ServiceRuntime

/// Runs `body` with a running client on the stack's Redis (`REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`).
public func withRedisClient<T: Sendable>(_ body: (RedisClient) async throws -> T) async throws -> T {
    let server = try RealServers.redis()
    let client = RedisClient(
        configuration: RedisConfiguration(host: server.host, port: server.port, password: server.password),
        logger: testLogger("redis")
    )
    return try await withRunning(client) { try await body(client) }
}
