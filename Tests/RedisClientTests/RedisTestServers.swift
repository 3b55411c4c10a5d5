import Foundation
import RedisClient
import TestSupport

/// The shared Redis from the environment as a client configuration: `TestSupport.RealServers.redis()` (a failure in
/// CI, a skip elsewhere, when the stack's variables are missing).
enum SharedRedis {
    static func configuration() throws -> RedisConfiguration {
        let server = try RealServers.redis()
        return RedisConfiguration(host: server.host, port: server.port, password: server.password)
    }
}

/// A random key prefix per test, so tests can share one server.
func uniquePrefix() -> String { "redisclient-test:\(UUID().uuidString.prefix(8)):" }
