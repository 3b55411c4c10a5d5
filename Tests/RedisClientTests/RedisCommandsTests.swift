import ClientTestSupport
import Logging
import NIOCore
import RedisClient
import ServiceLifecycle
import TestSupport
import XCTest

/// Every command against the shared server; keys live under a random prefix and are deleted afterwards.
final class RedisCommandsTests: XCTestCase {
    private var configuration = RedisConfiguration()
    private var prefix = ""

    override func setUp() async throws {
        self.configuration = try SharedRedis.configuration()
        self.configuration.commandTimeout = .seconds(5)
        self.prefix = uniquePrefix()
    }

    override func tearDown() async throws {
        guard !self.prefix.isEmpty, let configuration = try? SharedRedis.configuration() else { return }
        let prefix = self.prefix
        try? await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            let keys = try await client.scanAll(match: prefix + "*")
            try await client.delete(keys)
        }
    }

    private func withClient<T: Sendable>(_ body: (RedisClient, String) async throws -> T) async throws -> T {
        let prefix = self.prefix
        return try await withRedisClient(configuration: self.configuration, logger: testLogger()) { try await body($0, prefix) }
    }

    func testPingAndGenericSendAnswer() async throws {
        try await self.withClient { client, _ in
            let pong = try await client.ping()
            XCTAssertEqual(pong, "PONG")
            let echoed = try await client.ping("hello")
            XCTAssertEqual(echoed, "hello")
            let echo = try await client.send(command: "ECHO", arguments: ["abc"])
            XCTAssertEqual(echo.string, "abc")
        }
    }

    func testSetAndGetRoundTripTextAndBinaryValues() async throws {
        try await self.withClient { client, p in
            try await client.set(p + "text", value: "héllo")
            let text = try await client.getString(p + "text")
            XCTAssertEqual(text, "héllo")
            let binary: [UInt8] = [0, 255, 13, 10, 36, 42]
            try await client.set(p + "bin", value: binary)
            let buffer = try await client.get(p + "bin")
            XCTAssertEqual(buffer.map { Array($0.readableBytesView) }, binary)
            try await client.set(p + "buf", value: ByteBuffer(string: "bytes"))
            let missing = try await client.get(p + "missing")
            XCTAssertNil(missing)
        }
    }

    func testSetConditionsReportWhetherTheyWrote() async throws {
        try await self.withClient { client, p in
            let first = try await client.set(p + "k", value: "1", expiration: .seconds(900), condition: .ifNotExists)
            XCTAssertTrue(first)
            let second = try await client.set(p + "k", value: "2", condition: .ifNotExists)
            XCTAssertFalse(second)
            let replaced = try await client.set(p + "k", value: "3", condition: .ifExists)
            XCTAssertTrue(replaced)
            let absent = try await client.set(p + "absent", value: "x", condition: .ifExists)
            XCTAssertFalse(absent)
            let value = try await client.getString(p + "k")
            XCTAssertEqual(value, "3")
        }
    }

    func testExpirationsAreApplied() async throws {
        try await self.withClient { client, p in
            try await client.set(p + "ex", value: "v", expiration: .seconds(900))
            guard case .seconds(let seconds) = try await client.ttl(p + "ex") else { return XCTFail("no TTL") }
            XCTAssertTrue((890...900).contains(seconds))
            try await client.set(p + "px", value: "v", expiration: .milliseconds(50))
            let expired = try await eventually(interval: .milliseconds(10)) { try await client.get(p + "px") == nil }
            XCTAssertTrue(expired, "the server expired the key")
            try await client.set(p + "plain", value: "v")
            let noExpiration = try await client.ttl(p + "plain")
            XCTAssertEqual(noExpiration, .noExpiration)
            let set = try await client.expire(p + "plain", after: 100)
            XCTAssertTrue(set)
            let ttl = try await client.ttl(p + "plain")
            XCTAssertEqual(ttl, .seconds(100))
            let notSet = try await client.expire(p + "missing", after: 100)
            XCTAssertFalse(notSet)
            let missing = try await client.ttl(p + "missing")
            XCTAssertEqual(missing, .keyDoesNotExist)
        }
    }

    func testDeleteAndExistsCountKeys() async throws {
        try await self.withClient { client, p in
            try await client.mset([(key: p + "a", value: "1"), (key: p + "b", value: "2")])
            let existing = try await client.exists([p + "a", p + "b", p + "c"])
            XCTAssertEqual(existing, 2)
            let deleted = try await client.delete([p + "a", p + "c"])
            XCTAssertEqual(deleted, 1)
            let left = try await client.exists([p + "a", p + "b"])
            XCTAssertEqual(left, 1)
        }
    }

    func testIncrementAndMultiGet() async throws {
        try await self.withClient { client, p in
            let one = try await client.increment(p + "n")
            XCTAssertEqual(one, 1)
            let eleven = try await client.increment(p + "n", by: 10)
            XCTAssertEqual(eleven, 11)
            try await client.mset([(key: p + "x", value: ByteBuffer(string: "X"))])
            let values = try await client.mget([p + "n", p + "missing", p + "x"])
            XCTAssertEqual(values.map { $0.map { String(buffer: $0) } }, ["11", nil, "X"])
        }
    }

    func testHashCommands() async throws {
        try await self.withClient { client, p in
            let added = try await client.hset(p + "h", fields: [(field: "a", value: "1"), (field: "b", value: "2")])
            XCTAssertEqual(added, 2)
            let updated = try await client.hset(p + "h", fields: [(field: "a", value: ByteBuffer(string: "9"))])
            XCTAssertEqual(updated, 0)
            let field = try await client.hget(p + "h", field: "a")
            XCTAssertEqual(field.map { String(buffer: $0) }, "9")
            let missing = try await client.hget(p + "h", field: "zz")
            XCTAssertNil(missing)
            let all = try await client.hgetall(p + "h")
            XCTAssertEqual(all.mapValues { String(buffer: $0) }, ["a": "9", "b": "2"])
            let none = try await client.hgetall(p + "nohash")
            XCTAssertTrue(none.isEmpty)
        }
    }

    func testScanFollowsCursorsToEveryMatchingKey() async throws {
        try await self.withClient { client, p in
            _ = try await client.pipeline((0..<250).map { RedisCommand.set(p + "scan:\($0)", value: "v") })
            let keys = try await client.scanAll(match: p + "scan:*", count: 50)
            XCTAssertEqual(Set(keys), Set((0..<250).map { p + "scan:\($0)" }))
            let page = try await client.scan(cursor: 0, match: p + "scan:*", count: 10)
            XCTAssertGreaterThanOrEqual(page.cursor, 0)
        }
    }

    func testEvalAndEvalshaRunScripts() async throws {
        try await self.withClient { client, p in
            let script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[2])"
            let reply = try await client.eval(script, keys: [p + "s", p + "c"], arguments: ["v", 5])
            XCTAssertEqual(reply, .integer(5))
            let sha = try await client.scriptLoad(script)
            let again = try await client.evalsha(sha, keys: [p + "s", p + "c"], arguments: ["v", 5])
            XCTAssertEqual(again, .integer(10))
            do {
                _ = try await client.evalsha(String(repeating: "0", count: 40))
                XCTFail("unknown script ran")
            } catch let error as RedisError {
                XCTAssertEqual(error.serverPrefix, "NOSCRIPT")
            }
        }
    }

    func testServerErrorKeepsItsPrefix() async throws {
        try await self.withClient { client, p in
            try await client.hset(p + "h", fields: [(field: "a", value: "1")])
            do {
                _ = try await client.get(p + "h")
                XCTFail("GET on a hash succeeded")
            } catch let error as RedisError {
                XCTAssertEqual(error.code, .server)
                XCTAssertEqual(error.serverPrefix, "WRONGTYPE")
                XCTAssertFalse(error.message.isEmpty)
            }
        }
    }

    func testPipelineErrorFailsOnlyItsOwnCommand() async throws {
        try await self.withClient { client, p in
            let results = try await client.pipeline { commands in
                commands.append(.set(p + "k", value: "v"))
                commands.append(RedisCommand("NOSUCHCOMMAND"))
                commands.append(.get(p + "k"))
            }
            XCTAssertEqual(results.count, 3)
            XCTAssertNoThrow(try results[0].get())
            XCTAssertThrowsError(try results[1].get()) { error in
                XCTAssertEqual((error as? RedisError)?.serverPrefix, "ERR")
            }
            XCTAssertEqual(try results[2].get().string, "v")
        }
    }

    func testSelectOnConnectUsesTheConfiguredDatabase() async throws {
        var database9 = self.configuration
        database9.database = 9
        let key = self.prefix + "db9"
        try await withRedisClient(configuration: database9, logger: testLogger()) { client in
            try await client.set(key, value: "nine")
            try await client.withConnection { connection in
                let value = try await connection.getString(key)
                XCTAssertEqual(value, "nine")
            }
        }
        try await self.withClient { client, _ in
            let inDefault = try await client.exists([key])
            XCTAssertEqual(inDefault, 0, "SELECT 9 was not applied")
        }
        _ = try await withRedisClient(configuration: database9, logger: testLogger()) { client in
            try await client.delete([key])
        }
    }

    func testTenThousandPipelinedCommandsAnswerInOrder() async throws {
        try await self.withClient { client, p in
            let results = try await client.pipeline((0..<10_000).map { _ in RedisCommand.incr(p + "counter") })
            XCTAssertEqual(results.count, 10_000)
            XCTAssertEqual(try results.map { try $0.get().int }, (1...10_000).map { $0 })
        }
    }

    func testConcurrentCommandsOnOneConnectionAreMatchedToTheirCallers() async throws {
        try await self.withClient { client, p in
            try await client.withConnection { connection in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<200 {
                        group.addTask {
                            try await connection.set(p + "c\(index)", value: "\(index)")
                            let value = try await connection.getString(p + "c\(index)")
                            XCTAssertEqual(value, "\(index)")
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }

    func testFiveHundredConcurrentGetsOverThePool() async throws {
        self.configuration.maximumConnections = 8
        try await self.withClient { client, p in
            try await client.mset((0..<50).map { (key: p + "g\($0)", value: "v\($0)") })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let value = try await client.getString(p + "g\(index % 50)")
                        XCTAssertEqual(value, "v\(index % 50)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    func testCommandTimeoutFailsTheCommandAndTheClientCarriesOn() async throws {
        self.configuration.commandTimeout = .milliseconds(300)
        try await self.withClient { client, p in
            let started = ContinuousClock.now
            do {
                _ = try await client.send(command: "BLPOP", arguments: [RedisArgument(p + "never"), 5])
                XCTFail("BLPOP returned")
            } catch let error as RedisError {
                XCTAssertEqual(error.code, .timeout)
            }
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
            let pong = try await client.ping()
            XCTAssertEqual(pong, "PONG")
        }
    }
}

/// The client as a swift-service-lifecycle service, and connections that break under it.
final class RedisClientLifecycleTests: XCTestCase {
    func testClientRunsInAServiceGroupAndStopsOnGracefulShutdown() async throws {
        let configuration = try SharedRedis.configuration()
        let client = RedisClient(configuration: configuration, logger: testLogger())
        let group = ServiceGroup(services: [client], gracefulShutdownSignals: [], logger: testLogger())
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let pong = try await client.ping()
            XCTAssertEqual(pong, "PONG")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        do {
            _ = try await client.ping()
            XCTFail("a stopped client answered")
        } catch {
            XCTAssertEqual(error.code, .poolShutdown)
        }
    }

    /// A value over the client's bulk limit fails its command with a protocol error naming size and limit, without
    /// being buffered; its connection is closed (the rest of the stream cannot be matched) and replaced, and the next
    /// command works.
    func testAValueOverTheBulkLimitFailsClearlyAndTheConnectionIsReplaced() async throws {
        var configuration = try SharedRedis.configuration()
        configuration.minimumConnections = 1
        configuration.maximumConnections = 1
        let writer = configuration
        configuration.limits.maximumBulkLength = 1 << 20
        let prefix = uniquePrefix()
        try await withRedisClient(configuration: writer, logger: testLogger()) { client in
            try await client.set(prefix + "large", value: [UInt8](repeating: 0x61, count: 2 << 20))
            try await client.set(prefix + "small", value: "ok")
        }
        defer {
            Task { try? await withRedisClient(configuration: writer, logger: testLogger()) { client in
                try await client.delete([prefix + "large", prefix + "small"])
            } }
        }
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            let id = try await client.send(command: "CLIENT", arguments: ["ID"]).decode(as: Int.self)
            do {
                _ = try await client.get(prefix + "large")
                XCTFail("expected a protocol error")
            } catch let error as RedisError {
                XCTAssertEqual(error.code, .protocolError)
                XCTAssertTrue("\(error)".contains("bulk string of 2097152 bytes exceeds the limit of 1048576"), "\(error)")
            }
            let small = try await client.getString(prefix + "small")
            XCTAssertEqual(small, "ok")
            let newID = try await client.send(command: "CLIENT", arguments: ["ID"]).decode(as: Int.self)
            XCTAssertNotEqual(newID, id, "the connection that got the reply was closed and replaced")
        }
    }

    func testConnectionKilledByTheServerIsReplaced() async throws {
        var configuration = try SharedRedis.configuration()
        configuration.minimumConnections = 1
        configuration.maximumConnections = 1
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            let id = try await client.send(command: "CLIENT", arguments: ["ID"]).decode(as: Int.self)
            // Kill our only pooled connection from a separate connection.
            let killer = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
            _ = try await killer.send(command: "CLIENT", arguments: ["KILL", "ID", RedisArgument(id)])
            killer.close()
            var newID: Int?
            _ = await eventually(interval: .milliseconds(50)) {
                newID = try? await client.send(command: "CLIENT", arguments: ["ID"]).decode(as: Int.self)
                return newID != nil
            }
            XCTAssertNotNil(newID)
            XCTAssertNotEqual(newID, id)
        }
    }
}
