import ClientTestSupport
import Logging
import NIOCore
import ServiceLifecycle
import XCTest

@testable import MySQLClient

/// The pooled client against the real MariaDB.
final class ClientTests: XCTestCase {
    /// Runs `body` with a client whose pool is running, then shuts the pool down.
    private func withClient<Result: Sendable>(
        maximumConnections: Int = 8, queryTimeout: Duration? = .seconds(20), maximumPacketSize: Int? = nil,
        _ body: @escaping @Sendable (MySQLClient) async throws -> Result
    ) async throws -> Result {
        var configuration = try TestServer.configuration(queryTimeout: queryTimeout)
        if let maximumPacketSize { configuration.maximumPacketSize = maximumPacketSize }
        configuration.pool = .init(minimumConnections: 0, maximumConnections: maximumConnections,
                                   keepAliveFrequency: .seconds(1))
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    func testThousandConcurrentQueriesOverPoolOfEight() async throws {
        let ids = try await self.withClient(maximumConnections: 8) { client in
            try await withThrowingTaskGroup(of: (Int, UInt64).self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        let row = try await client.query("SELECT ? AS n, CONNECTION_ID() AS c", [.int(Int64(index))])
                            .rows[0]
                        XCTAssertEqual(try row.decode(Int.self, column: "n"), index)
                        return (index, try row.decode(UInt64.self, column: "c"))
                    }
                }
                var connections = Set<UInt64>()
                var count = 0
                for try await (_, connection) in group {
                    connections.insert(connection)
                    count += 1
                }
                XCTAssertEqual(count, 1000)
                return connections
            }
        }
        XCTAssertLessThanOrEqual(ids.count, 8)
        XCTAssertGreaterThan(ids.count, 1)
    }

    func testTransactionCommitsOrRollsBackWhenTheClosureThrows() async throws {
        struct Boom: Error {}
        let table = TestServer.tableName("tx")
        try await self.withClient(maximumConnections: 2) { client in
            try await client.query("CREATE TABLE \(table) (id INT PRIMARY KEY) ENGINE=InnoDB")
            do {
                try await client.withTransaction { connection in
                    try await connection.query("INSERT INTO \(table) VALUES (?)", [.int(1)])
                }
                do {
                    try await client.withTransaction { connection in
                        try await connection.query("INSERT INTO \(table) VALUES (?)", [.int(2)])
                        throw Boom()
                    }
                    XCTFail("expected the closure's error")
                } catch is Boom {}
                do {
                    try await client.withTransaction { connection in
                        try await connection.query("INSERT INTO \(table) VALUES (?)", [.int(3)])
                        try await connection.query("INSERT INTO \(table) VALUES (?)", [.int(1)])  // duplicate
                    }
                    XCTFail("expected a duplicate key")
                } catch let error as MySQLError {
                    XCTAssertTrue(error.isDuplicateKey)
                }
                let rows = try await client.query("SELECT id FROM \(table) ORDER BY id").rows
                XCTAssertEqual(try rows.map { try $0.decode(Int.self, column: "id") }, [1])
                // No connection went back to the pool mid-transaction.
                for _ in 0..<4 {
                    let inTransaction = try await client.query("SELECT @@in_transaction AS t").rows[0]
                    XCTAssertEqual(try inTransaction.decode(Int.self, column: "t"), 0)
                }
            } catch {
                _ = try? await client.query("DROP TABLE \(table)")
                throw error
            }
            try await client.query("DROP TABLE \(table)")
        }
    }

    func testConnectionLeftInATransactionIsRolledBackBeforeReuse() async throws {
        let table = TestServer.tableName("leak")
        try await self.withClient(maximumConnections: 1) { client in
            try await client.query("CREATE TABLE \(table) (id INT PRIMARY KEY) ENGINE=InnoDB")
            try await client.withConnection { connection in
                try await connection.query("START TRANSACTION")
                try await connection.query("INSERT INTO \(table) VALUES (1)")
                XCTAssertTrue(connection.isInTransaction)
            }
            let open = try await client.query("SELECT @@in_transaction AS t").rows[0].decode(Int.self, column: "t")
            XCTAssertEqual(open, 0)
            let count = try await client.query("SELECT COUNT(*) AS n FROM \(table)").rows[0]
                .decode(Int.self, column: "n")
            XCTAssertEqual(count, 0)
            try await client.query("DROP TABLE \(table)")
        }
    }

    func testKilledConnectionIsDetectedAndReplaced() async throws {
        try await self.withClient(maximumConnections: 1) { client in
            let first = try await client.query("SELECT CONNECTION_ID() AS c").rows[0].decode(UInt64.self, column: "c")
            let killer = try await TestServer.connect()
            try await killer.query("KILL \(first)")
            await killer.closeAndWait()
            // The server closes the socket; the pool drops the connection and opens another one.
            var second = first
            _ = try await eventually(interval: .milliseconds(50)) {
                do {
                    second = try await client.query("SELECT CONNECTION_ID() AS c").rows[0]
                        .decode(UInt64.self, column: "c")
                } catch let error as MySQLError where error.code == .connectionClosed {}
                return second != first
            }
            XCTAssertNotEqual(second, first)
        }
    }

    func testQueryTimeoutThroughThePoolReplacesTheConnection() async throws {
        try await self.withClient(maximumConnections: 1, queryTimeout: .milliseconds(200)) { client in
            let start = ContinuousClock.now
            do {
                try await client.query("SELECT SLEEP(5)")
                XCTFail("expected a timeout")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .timeout)
            }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
            let value = try await client.query("SELECT 7 AS n").rows[0].decode(Int.self, column: "n")
            XCTAssertEqual(value, 7)
        }
    }

    /// A reply over `maximumPacketSize` (here a 2 MiB row against a 1 MiB limit; the server's own
    /// max_allowed_packet is larger) fails its statement with `packetTooLarge`, naming size and limit, and closes that
    /// connection; the pool opens another and the next statement succeeds.
    func testAReplyOverThePacketLimitFailsClearlyAndThePoolReplacesTheConnection() async throws {
        try await self.withClient(maximumConnections: 1, maximumPacketSize: 1 << 20) { client in
            let first = try await client.query("SELECT CONNECTION_ID() AS c").rows[0].decode(UInt64.self, column: "c")
            let under = try await client.query("SELECT LENGTH(REPEAT('a', 1000000)) AS n, REPEAT('a', 1000000) AS v")
            XCTAssertEqual(try under.rows[0].decode(Int.self, column: "n"), 1_000_000, "under the limit: served")
            do {
                try await client.query("SELECT REPEAT('a', 2097152) AS v")
                XCTFail("expected packetTooLarge")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .packetTooLarge, "\(error)")
                XCTAssertTrue(error.message.contains("over the limit of 1048576 bytes"), "\(error)")
                XCTAssertTrue(error.message.contains("at least 20971"), "the size the server announced: \(error)")
                XCTAssertFalse(error.isTransient)
            }
            let second = try await client.query("SELECT CONNECTION_ID() AS c").rows[0].decode(UInt64.self, column: "c")
            XCTAssertNotEqual(second, first, "the connection that got the packet was closed and replaced")
            let value = try await client.query("SELECT 7 AS n").rows[0].decode(Int.self, column: "n")
            XCTAssertEqual(value, 7)
        }
    }

    func testClientRunsInAServiceGroupAndShutsDownGracefully() async throws {
        let configuration = try TestServer.configuration()
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        let group = ServiceGroup(services: [client], logger: TestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await client.ping()
            struct Row: Decodable { var n: Int; var s: String }
            let row = try await client.query("SELECT 1 AS n, 'a' AS s").rows[0].decode(Row.self)
            XCTAssertEqual(row.n, 1)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    func testUnreachableServerFailsRequestsOnceTheCircuitBreakerTrips() async throws {
        var configuration = try TestServer.configuration()
        configuration.port = 1  // nothing listens there
        configuration.pool.circuitBreakerTripAfter = .milliseconds(300)
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                try await client.query("SELECT 1")
                XCTFail("expected an error")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .connectionClosed, "\(error)")
                XCTAssertTrue(error.message.contains("could not connect"), "\(error)")
            }
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10))
    }

    func testWrongPasswordThroughThePoolGivesAuthenticationError() async throws {
        var configuration = try TestServer.configuration(password: "wrong-s3cret")
        configuration.pool.circuitBreakerTripAfter = .milliseconds(300)
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                try await client.query("SELECT 1")
                XCTFail("expected an error")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .authenticationFailed, "\(error)")
                XCTAssertEqual(error.serverErrorNumber, 1045)
                XCTAssertFalse("\(error)".contains("wrong-s3cret"))
            }
        }
    }

    /// Keep-alive pings on a test clock: `PoolTests`.
    func testMinimumConnectionsAreOpenedWithTheirInitialization() async throws {
        var configuration = try TestServer.configuration()
        configuration.pool = .init(minimumConnections: 2, maximumConnections: 4)
        configuration.connectionInitialization = ["SET @pool_marker = 1"]
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let observer = try await TestServer.connect()
            defer { observer.close() }
            var count = 0
            _ = try await eventually(interval: .milliseconds(50)) {
                let rows = try await observer.query(
                    "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = 'orderuser' AND ID <> CONNECTION_ID()"
                ).rows
                count = try rows[0].decode(Int.self, column: "n")
                return count >= 2
            }
            XCTAssertGreaterThanOrEqual(count, 2)
            let marker = try await client.query("SELECT @pool_marker AS m").rows[0].decode(Int.self, column: "m")
            XCTAssertEqual(marker, 1)
        }
    }
}
