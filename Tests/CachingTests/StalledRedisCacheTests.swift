import Caching
import ClientTestSupport
import RedisCaching
import RedisClient
import ServiceCore
import TestSupport
import XCTest

/// What `withDeadline` is for, end to end: Redis stops answering (its peer paused, the socket open), and a cache
/// call behind the circuit breaker still fails at its short timeout instead of waiting for Redis. This holds because
/// the Redis client honours the cancellation the deadline sends; the command timeout here is far longer than the
/// test, so only that cancellation can end the call.
final class StalledRedisCacheTests: XCTestCase {
    func testCacheCallOnAStalledRedisFailsAtTheDeadlineAndTheCacheRecovers() async throws {
        let server = try RealServers.redis()
        let proxy = try await StallingProxy.start(targetHost: server.host, targetPort: server.port)
        var configuration = RedisConfiguration(host: "127.0.0.1", port: proxy.port, password: server.password)
        configuration.commandTimeout = .seconds(600)
        configuration.sharedConnections = 1
        let key = "stalled-cache-test:\(UInt32.random(in: 0...UInt32.max))"
        try await withRedisClient(configuration: configuration, logger: testLogger("redis")) { client in
            var breaker = CircuitBreakingCache.Configuration()
            breaker.timeout = .milliseconds(100)
            let cache = CircuitBreakingCache(
                wrapping: RedisKeyValueCache(client: client), configuration: breaker, logger: testLogger("cache"))
            try await cache.set(key, value: [7], ttl: .seconds(60))
            await proxy.stall()

            do {
                _ = try await cache.get(key)
                XCTFail("a stalled Redis answered")
            } catch {
                XCTAssertTrue(error is DeadlineExceededError, "\(error)")
            }

            await proxy.release()
            let value = try await cache.get(key)
            XCTAssertEqual(value, [7], "the connection serves again once Redis answers")
            try await cache.delete(key)
        }
        await proxy.stop()
    }
}
