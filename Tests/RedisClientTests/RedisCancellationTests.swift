import ClientTestSupport
import Logging
import TestSupport
import XCTest

@testable import RedisClient

/// A command whose caller is cancelled returns at once with `cancelled`, also while the server (or a paused peer)
/// does not answer, so that callers such as `withDeadline` are never held by a stuck socket. A shared connection
/// stays usable (the late reply is discarded); a leased one is closed, since what it was doing may still run.
///
/// The command timeouts here are far longer than any test: a command that came back by its timeout, not by its
/// cancellation, would fail with `timeout`, not `cancelled`.
final class RedisCancellationTests: XCTestCase {
    private func configuration(host: String, port: Int, password: String?) -> RedisConfiguration {
        var configuration = RedisConfiguration(host: host, port: port, password: password)
        configuration.commandTimeout = .seconds(600)
        return configuration
    }

    /// Runs `command` in a child task, cancels it once `reached` returns, and returns how it ended.
    private func cancel(
        _ command: @escaping @Sendable () async throws -> RESPValue,
        once reached: () async -> Void
    ) async -> Result<RESPValue, any Error> {
        await withTaskGroup(of: Result<RESPValue, any Error>.self) { group in
            group.addTask {
                do {
                    return .success(try await command())
                } catch {
                    return .failure(error)
                }
            }
            await reached()
            group.cancelAll()
            return await group.next()!
        }
    }

    private func assertCancelled(
        _ result: Result<RESPValue, any Error>, file: StaticString = #filePath, line: UInt = #line
    ) {
        switch result {
        case .success(let value):
            XCTFail("the cancelled command answered \(value)", file: file, line: line)
        case .failure(let error):
            XCTAssertEqual((error as? RedisError)?.code, .cancelled, "\(error)", file: file, line: line)
        }
    }

    func testCancelledCommandOnAStalledConnectionReturnsAtOnceAndItsLateReplyIsDiscarded() async throws {
        let server = try RealServers.redis()
        let proxy = try await StallingProxy.start(targetHost: server.host, targetPort: server.port)
        let configuration = self.configuration(host: "127.0.0.1", port: proxy.port, password: server.password)
        let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
        let key = uniquePrefix() + "k"
        try await connection.set(key, value: "early")
        await proxy.stall()

        let result = await self.cancel({ try await connection.execute(.get(key)) }, once: proxy.waitUntilHolding)
        self.assertCancelled(result)
        XCTAssertFalse(connection.isClosed, "a cancelled command does not cost the connection")

        // The GET's reply arrives now and must complete nobody: the next command gets its own reply.
        await proxy.release()
        let pong = try await connection.ping()
        XCTAssertEqual(pong, "PONG")
        let value = try await connection.getString(key)
        XCTAssertEqual(value, "early")
        try await connection.delete([key])
        connection.close()
        await proxy.stop()
    }

    func testCancelledPipelineOnAStalledSharedConnectionLeavesItUsableForEveryCaller() async throws {
        let server = try RealServers.redis()
        let proxy = try await StallingProxy.start(targetHost: server.host, targetPort: server.port)
        var configuration = self.configuration(host: "127.0.0.1", port: proxy.port, password: server.password)
        configuration.sharedConnections = 1
        let key = uniquePrefix() + "counter"
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            let shared = await eventually {
                _ = try? await client.ping()
                return client.shared.readyCount == 1
            }
            XCTAssertTrue(shared, "the shared connection did not open")
            await proxy.stall()

            let result = await self.cancel(
                { try await client.pipeline([.incr(key), .incr(key)]).last!.get() }, once: proxy.waitUntilHolding)
            self.assertCancelled(result)
            XCTAssertEqual(client.shared.readyCount, 1, "the shared connection stays")

            await proxy.release()
            // The abandoned pipeline still ran (the server had it), once: its replies went to nobody.
            let counter = try await client.increment(key)
            XCTAssertEqual(counter, 3)
            try await client.delete([key])
        }
        await proxy.stop()
    }

    func testCancelledBlockingCommandClosesItsLeasedConnection() async throws {
        let server = try await FakeRedisServer.start(.silent)
        var configuration = self.configuration(host: "127.0.0.1", port: server.port, password: nil)
        configuration.minimumConnections = 0
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            let result = await self.cancel({ try await client.execute(RedisCommand("BLPOP", ["jobs", 0])) }) {
                _ = await eventually { server.snapshot.commandsByConnection.values.contains { $0.contains("BLPOP") } }
            }
            self.assertCancelled(result)
            // Given back as it was, the connection would hand its next user a BLPOP still waiting for a push.
            let closed = await eventually { server.snapshot.closed >= 1 }
            XCTAssertTrue(closed, "the connection of the abandoned BLPOP was not closed")
        }
        await server.stop()
    }

    func testCommandOfAnAlreadyCancelledTaskIsNotSent() async throws {
        let server = try await FakeRedisServer.start(.answer)
        let configuration = self.configuration(host: "127.0.0.1", port: server.port, password: nil)
        let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
        let result = await withTaskGroup(of: Result<RESPValue, any Error>.self) { group in
            group.cancelAll()
            group.addTask {
                do {
                    return .success(try await connection.execute(.get("never-sent")))
                } catch {
                    return .failure(error)
                }
            }
            return await group.next()!
        }
        self.assertCancelled(result)
        let pong = try await connection.ping()
        XCTAssertEqual(pong, "PONG")
        XCTAssertEqual(server.snapshot.commandsByConnection.values.flatMap { $0 }, ["PING"])
        connection.close()
        await server.stop()
    }
}
