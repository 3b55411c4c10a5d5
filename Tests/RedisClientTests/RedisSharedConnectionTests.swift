import ClientTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import XCTest

@testable import RedisClient

/// Commands multiplexed over the shared connections, the routing of commands that need a connection of their own,
/// and the lease timeout, against `FakeRedisServer` (answering or silent), an address nobody listens on, and the
/// shared Redis.
final class RedisSharedConnectionTests: XCTestCase {
    private func configuration(port: Int) -> RedisConfiguration {
        RedisConfiguration(
            port: port, minimumConnections: 0, maximumConnections: 8, sharedConnections: 2,
            connectTimeout: .seconds(1), commandTimeout: .seconds(5)
        )
    }

    /// Sends `PING`s (each asks empty slots to lease) until `count` shared connections are open.
    private func waitForSharedConnections(_ client: RedisClient, count: Int) async throws {
        _ = await eventually(interval: .milliseconds(10)) {
            _ = try? await client.ping()
            return client.shared.readyCount >= count
        }
        XCTAssertEqual(client.shared.readyCount, count, "the shared connections did not open")
    }

    func testConcurrentCommandsFromManyTasksGoOverTheSharedConnectionsOnly() async throws {
        let server = try await FakeRedisServer.start(.answer)
        try await withRedisClient(configuration: self.configuration(port: server.port), logger: testLogger()) { client in
            try await self.waitForSharedConnections(client, count: 2)
            let before = server.snapshot

            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let value = try await client.get("key\(index)")
                        XCTAssertNil(value)
                    }
                }
                try await group.waitForAll()
            }

            let after = server.snapshot
            XCTAssertEqual(after.accepted, before.accepted, "commands opened connections of their own")
            var gets = 0
            var connectionsUsed = 0
            for (connection, commands) in after.commandsByConnection {
                let new = commands.dropFirst(before.commandsByConnection[connection]?.count ?? 0).filter { $0 == "GET" }
                gets += new.count
                if !new.isEmpty { connectionsUsed += 1 }
            }
            XCTAssertEqual(gets, 500)
            XCTAssertLessThanOrEqual(connectionsUsed, 2)
        }
        await server.stop()
    }

    func testSilentServerTimesOutEveryCommandOnTheSharedConnectionWhichIsThenReplaced() async throws {
        let server = try await FakeRedisServer.start(.silent)
        var configuration = self.configuration(port: server.port)
        configuration.sharedConnections = 1
        configuration.commandTimeout = .milliseconds(300)
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            // Connecting needs no reply (no AUTH, no SELECT), so the shared connection opens.
            _ = await eventually(interval: .milliseconds(10)) {
                _ = client.shared.connection()
                return client.shared.readyCount >= 1
            }
            XCTAssertEqual(client.shared.readyCount, 1)
            let acceptedBefore = server.snapshot.accepted

            // Several callers on the shared connection: all fail with a timeout, none hangs.
            let codes = try await withThrowingTaskGroup(of: RedisError.Code?.self) { group in
                for index in 0..<5 {
                    group.addTask {
                        do {
                            _ = try await client.get("k\(index)")
                            return nil
                        } catch let error as RedisError {
                            return error.code
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(codes, Array(repeating: .timeout, count: 5))

            // The timed-out connection is closed and the slot gets a new one.
            _ = await eventually(interval: .milliseconds(10)) {
                _ = client.shared.connection()
                return server.snapshot.closed >= 1 && client.shared.readyCount >= 1
            }
            XCTAssertGreaterThanOrEqual(server.snapshot.closed, 1)
            XCTAssertEqual(client.shared.readyCount, 1)
            XCTAssertGreaterThan(server.snapshot.accepted, acceptedBefore)
        }
        await server.stop()
    }

    func testLeaseWithNoServerFailsWithinTheTimeoutWithTheLastConnectError() async throws {
        let port = try await Self.portNobodyListensOn()
        var configuration = self.configuration(port: port)
        configuration.commandTimeout = .milliseconds(500)
        configuration.connectTimeout = .milliseconds(200)
        // The circuit breaker would fail the lease before the timeout; keep it out of the way.
        configuration.circuitBreakerTripAfter = .seconds(60)
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            for command in [RedisCommand.get("k"), RedisCommand("BLPOP", ["k", 1])] {  // shared and exclusive routes
                let started = ContinuousClock.now
                do {
                    _ = try await client.execute(command)
                    XCTFail("\(command.name) succeeded without a server")
                } catch let error as RedisError {
                    XCTAssertEqual(error.code, .timeout, "\(error)")
                    XCTAssertTrue(error.message.contains("last connect attempt"), error.message)
                    XCTAssertEqual((error.underlying as? RedisError)?.code, .connectFailed, "\(error)")
                }
                XCTAssertLessThan(ContinuousClock.now - started, .seconds(3), "the lease outlived its timeout")
            }
        }
    }

    func testLeaseWaitingForABusyPoolTimesOutAndCancellationEndsIt() async throws {
        let server = try await FakeRedisServer.start(.answer)
        var configuration = self.configuration(port: server.port)
        configuration.maximumConnections = 1  // no shared connection then: everything leases the only one
        configuration.commandTimeout = .milliseconds(300)
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            XCTAssertEqual(client.shared.readyCount, 0)
            try await client.withConnection { _ in
                do {
                    _ = try await client.ping()
                    XCTFail("a second lease of the only connection succeeded")
                } catch let error as RedisError {
                    XCTAssertEqual(error.code, .timeout, "\(error)")
                    XCTAssertTrue(error.message.contains("no connection available"), error.message)
                }

                let waiting = Task { try await client.ping() }
                try await Task.sleep(for: .milliseconds(50))
                waiting.cancel()
                do {
                    _ = try await waiting.value
                    XCTFail("a cancelled lease succeeded")
                } catch let error as RedisError {
                    XCTAssertEqual(error.code, .cancelled, "\(error)")
                }
            }
            // The connection went back to the pool and serves again.
            let pong = try await client.ping()
            XCTAssertEqual(pong, "PONG")
        }
        await server.stop()
    }

    func testShutdownClosesTheSharedConnectionsAndLaterCommandsFail() async throws {
        let server = try await FakeRedisServer.start(.answer)
        let client = RedisClient(configuration: self.configuration(port: server.port), logger: testLogger())
        let running = Task { await client.run() }
        try await self.waitForSharedConnections(client, count: 2)
        running.cancel()
        await running.value
        XCTAssertEqual(client.shared.readyCount, 0)
        do {
            _ = try await client.get("k")
            XCTFail("a stopped client answered")
        } catch {
            XCTAssertEqual(error.code, .poolShutdown, "\(error)")
        }
        _ = await eventually(interval: .milliseconds(10)) { server.snapshot.closed >= server.snapshot.accepted }
        XCTAssertEqual(server.snapshot.closed, server.snapshot.accepted, "connections left open after shutdown")
        await server.stop()
    }

    func testSlotsAskingBeforeTheClientRunsAreFilledByRunAndEmptiedWhenItReturns() async throws {
        let server = try await FakeRedisServer.start(.answer)
        let client = RedisClient(configuration: self.configuration(port: server.port), logger: testLogger())
        // Both slots ask for a connection; the leases are run()'s work, so nothing connects yet.
        XCTAssertNil(client.shared.connection())
        XCTAssertEqual(server.snapshot.accepted, 0)

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            // No command needed: the requests made before run() are served by it.
            let filled = await eventually { client.shared.readyCount == 2 }
            XCTAssertTrue(filled, "the slots' requests were not served once run() ran")
            group.cancelAll()
        }
        XCTAssertEqual(client.shared.readyCount, 0)
        XCTAssertNil(client.shared.connection(), "a stopped client leases nothing more")
        await server.stop()
    }

    func testBlockingCommandGetsAConnectionOfItsOwnAndDoesNotHoldUpOthers() async throws {
        var configuration = try SharedRedis.configuration()
        // One shared connection and one to lease: BLPOP can only get the leased one, whose server id we learn first.
        configuration.sharedConnections = 1
        configuration.maximumConnections = 2
        let key = uniquePrefix() + "queue"
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            try await self.waitForSharedConnections(client, count: 1)
            let leasedID = try await client.withConnection { connection in
                try await connection.send(command: "CLIENT", arguments: ["ID"]).decode(as: Int.self)
            }
            let popped = Task { try await client.send(command: "BLPOP", arguments: [RedisArgument(key), 10]) }
            // Only once the server shows that connection blocked in BLPOP does the rest run: had the LPUSH come
            // first, BLPOP would return at once and the test would prove nothing.
            let observing = try SharedRedis.configuration()
            try await withRedisClient(configuration: observing, logger: testLogger()) { observer in
                let blocked = await eventually(interval: .milliseconds(5)) {
                    let line = try? await observer.send(
                        command: "CLIENT", arguments: ["LIST", "ID", RedisArgument(leasedID)]
                    ).string
                    return line?.contains("cmd=blpop") == true && line?.contains("flags=b") == true
                }
                XCTAssertTrue(blocked, "BLPOP did not block on the leased connection")
            }
            // Had BLPOP gone over the shared connection, these (and the LPUSH) would queue behind it until it gave
            // up, and it would return nil instead of the value.
            for _ in 0..<20 { _ = try await client.get(key + ":other") }
            _ = try await client.send(command: "LPUSH", arguments: [RedisArgument(key), "job"])
            let reply = try await popped.value
            XCTAssertEqual(reply.array?.map(\.string), [key, "job"])
        }
    }

    func testCommandsThatNeedTheirOwnConnectionAreRecognisedInAnyCase() {
        for name in ["BLPOP", "blpop", "bRpOp", "SELECT", "multi", "EXEC", "WATCH", "SUBSCRIBE", "CLIENT", "WAIT", "XREAD"] {
            XCTAssertTrue(RedisCommand(name).needsExclusiveConnection, name)
        }
        for name in ["GET", "set", "HGETALL", "EVAL", "SCAN", "", "é", "AVERYLONGCOMMANDNAMEOVER16"] {
            XCTAssertFalse(RedisCommand(name).needsExclusiveConnection, name)
        }
    }

    /// A port that was free a moment ago: connecting to it is refused.
    private static func portNobodyListensOn() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}
