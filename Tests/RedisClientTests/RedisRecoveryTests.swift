import ClientTestSupport
import Logging
import NIOCore
import RedisClient
import TestSupport
import XCTest

/// Tests that need a server of their own: wrong passwords, and a server killed under the client.
final class RedisRecoveryTests: XCTestCase {
    func testWrongPasswordGivesAClearErrorWithoutThePassword() async throws {
        let server = try ThrowawayServer.start(.redis, password: "right-password")
        defer { server.down() }
        let wrong = RedisConfiguration(port: server.port, password: "wrong-secret-pw", minimumConnections: 0)
        do {
            _ = try await RedisConnection.connect(configuration: wrong, logger: testLogger())
            XCTFail("connected with a wrong password")
        } catch {
            XCTAssertEqual(error.code, .server)
            XCTAssertEqual(error.serverPrefix, "WRONGPASS")
            XCTAssertFalse(String(describing: error).contains("wrong-secret-pw"))
        }
        var missing = wrong
        missing.password = nil
        let connection = try await RedisConnection.connect(configuration: missing, logger: testLogger())
        do {
            _ = try await connection.ping()
            XCTFail("unauthenticated PING succeeded")
        } catch {
            XCTAssertEqual(error.serverPrefix, "NOAUTH")
        }
        connection.close()

        // Through the pool, the server's refusal reaches the caller instead of a vague timeout.
        var pooled = wrong
        pooled.commandTimeout = .seconds(3)
        pooled.circuitBreakerTripAfter = .milliseconds(300)
        try await withRedisClient(configuration: pooled, logger: testLogger()) { client in
            do {
                _ = try await client.ping()
                XCTFail("a client with a wrong password answered")
            } catch let error as RedisError {
                XCTAssertEqual(error.serverPrefix, "WRONGPASS", "\(error)")
                XCTAssertFalse(String(describing: error).contains("wrong-secret-pw"))
            }
        }

        var right = wrong
        right.password = "right-password"
        right.username = "default"
        try await withRedisClient(configuration: right, logger: testLogger()) { client in
            let pong = try await client.ping()
            XCTAssertEqual(pong, "PONG")
        }
    }

    func testClientRecoversByItselfAfterTheServerIsKilledAndRestarted() async throws {
        let server = try ThrowawayServer.start(.redis)
        defer { server.down() }
        let configuration = RedisConfiguration(
            port: server.port, minimumConnections: 2, maximumConnections: 4,
            connectTimeout: .seconds(1), commandTimeout: .seconds(1), circuitBreakerTripAfter: .milliseconds(500)
        )
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            try await client.set("k", value: "before")
            try server.kill()

            // While the server is down, commands fail with a client-side error (never hang).
            let started = ContinuousClock.now
            do {
                _ = try await client.get("k")
                XCTFail("GET succeeded with the server down")
            } catch let error as RedisError {
                XCTAssertTrue([RedisError.Code.connectionClosed, .connectFailed, .timeout].contains(error.code), "\(error)")
            }
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))

            try server.startAgain()
            // Later commands succeed again without any action from the caller.
            let recovered = await eventually(interval: .milliseconds(100)) { (try? await client.ping()) == "PONG" }
            XCTAssertTrue(recovered, "the client did not reconnect")
            try await client.set("k", value: "after")
            let value = try await client.getString("k")
            XCTAssertEqual(value, "after")
        }
    }
}
