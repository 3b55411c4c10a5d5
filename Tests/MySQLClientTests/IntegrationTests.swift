import ClientTestSupport
import Logging
import NIOCore
import XCTest

@testable import MySQLClient

/// Against the real MariaDB (`DB_HOST`/`DB_PORT`; user `orderuser`, database `order_db`). Tables get random
/// suffixes and are dropped, so several runs can share a server.
final class IntegrationTests: XCTestCase {
    func testEveryColumnTypeRoundTripsThroughBinaryAndTextProtocols() async throws {
        let connection = try await TestServer.connect()
        defer { connection.close() }
        let table = TestServer.tableName("types")
        try await connection.query(
            """
            CREATE TABLE \(table) (
              id INT AUTO_INCREMENT PRIMARY KEY, t TINYINT, s SMALLINT, m MEDIUMINT, i INT, b BIGINT,
              ub BIGINT UNSIGNED, f FLOAT, d DOUBLE, amount DECIMAL(10,2), big_dec DECIMAL(30,10), v VARCHAR(36),
              txt MEDIUMTEXT, bl BLOB, vb VARBINARY(16), dt DATETIME(6), ts TIMESTAMP(6) NULL, da DATE, tm TIME(6),
              y YEAR, e ENUM('pending','done'), bo BOOLEAN
            )
            """)
        do {
            let dateTime = MySQLDateTime(
                year: 2026, month: 11, day: 25, hour: 13, minute: 47, second: 39, microsecond: 123_456)
            let inserted = try await connection.query(
                """
                INSERT INTO \(table) (t, s, m, i, b, ub, f, d, amount, big_dec, v, txt, bl, vb, dt, ts, da, tm, y, e, bo)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .int(-128), .int(-32768), .int(-8_388_608), .int(Int64(Int32.min)), .int(Int64.min),
                    .uint(UInt64.max), .double(1.5), .double(-2.25e100), .decimal("99999999.99"),
                    .decimal("12345678901234567890.0123456789"), .string("ünïcødé ✓ 'quoted'"),
                    .string(String(repeating: "x", count: 70_000)), .bytes([0, 1, 2, 255, 0x5C, 0x27]),
                    .bytes([0xFF, 0x00]), .dateTime(dateTime), .dateTime(dateTime),
                    .dateTime(.init(year: 2026, month: 2, day: 28)), .string("-26:03:04.000005"), .int(2026),
                    .string("pending"), MySQLData(true),
                ])
            XCTAssertEqual(inserted.affectedRows, 1)
            XCTAssertEqual(inserted.lastInsertID, 1)

            let expected: [MySQLData] = [
                .int(1), .int(-128), .int(-32768), .int(-8_388_608), .int(Int64(Int32.min)), .int(Int64.min),
                .uint(UInt64.max), .double(1.5), .double(-2.25e100), .decimal("99999999.99"),
                .decimal("12345678901234567890.0123456789"), .string("ünïcødé ✓ 'quoted'"),
                .string(String(repeating: "x", count: 70_000)), .bytes([0, 1, 2, 255, 0x5C, 0x27]),
                .bytes([0xFF, 0x00]), .dateTime(dateTime), .dateTime(dateTime),
                .dateTime(.init(year: 2026, month: 2, day: 28)), .string("-26:03:04.000005"), .int(2026),
                .string("pending"), .int(1),
            ]
            let text = try await connection.query("SELECT * FROM \(table)")
            let binary = try await connection.query("SELECT * FROM \(table) WHERE id = ?", [.int(1)])
            XCTAssertEqual(text.rows.count, 1)
            XCTAssertEqual(binary.rows.count, 1)
            for (index, value) in expected.enumerated() {
                XCTAssertEqual(text.rows.first?.values[index], value, "text \(text.columns[index].name)")
                XCTAssertEqual(binary.rows.first?.values[index], value, "binary \(binary.columns[index].name)")
            }
            let row = try XCTUnwrap(binary.rows.first)
            XCTAssertEqual(try row.decode(String.self, column: "amount"), "99999999.99")
            XCTAssertEqual(try row.decode(MySQLDateTime.self, column: "ts"), dateTime)
            XCTAssertEqual(try row.decode(Bool.self, column: "bo"), true)
        } catch {
            _ = try? await connection.query("DROP TABLE \(table)")
            throw error
        }
        try await connection.query("DROP TABLE \(table)")
    }

    func testNullsRoundTripInEveryColumnType() async throws {
        let connection = try await TestServer.connect()
        defer { connection.close() }
        let table = TestServer.tableName("nulls")
        try await connection.query(
            "CREATE TABLE \(table) (i INT, b BIGINT UNSIGNED, d DECIMAL(10,2), v VARCHAR(10), bl BLOB, ts TIMESTAMP(6) NULL, f DOUBLE)")
        defer { Task { try? await TestServer.dropTable(table) } }
        try await connection.query(
            "INSERT INTO \(table) VALUES (?, ?, ?, ?, ?, ?, ?)", Array(repeating: .null, count: 7))
        try await connection.query("INSERT INTO \(table) VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
        for result in [
            try await connection.query("SELECT * FROM \(table)"),
            try await connection.query("SELECT * FROM \(table) WHERE ? IS NULL", [.null]),
        ] {
            XCTAssertEqual(result.rows.map(\.values), Array(repeating: Array(repeating: .null, count: 7), count: 2))
            XCTAssertNil(try result.rows[0].decode(Int?.self, column: "i"))
        }
        try await connection.query("DROP TABLE \(table)")
    }

    func testRowOver16MBIsSplitAndJoinedBothWays() async throws {
        let connection = try await TestServer.connect()
        defer { connection.close() }
        let table = TestServer.tableName("big")
        try await connection.query("CREATE TABLE \(table) (id INT PRIMARY KEY, data LONGBLOB)")
        defer { Task { try? await TestServer.dropTable(table) } }
        var blob = [UInt8](repeating: 0, count: 17 * 1024 * 1024)
        for index in stride(from: 0, to: blob.count, by: 4093) { blob[index] = UInt8(truncatingIfNeeded: index) }
        try await connection.query("INSERT INTO \(table) VALUES (?, ?)", [.int(1), .bytes(blob)])
        let binary = try await connection.query("SELECT data FROM \(table) WHERE id = ?", [.int(1)])
        XCTAssertEqual(try binary.rows.first?.decode([UInt8].self, column: "data") == blob, true)
        let text = try await connection.query("SELECT data, LENGTH(data) AS n FROM \(table)")
        XCTAssertEqual(try text.rows.first?.decode(Int.self, column: "n"), blob.count)
        XCTAssertEqual(try text.rows.first?.decode([UInt8].self, column: "data") == blob, true)
        try await connection.query("DROP TABLE \(table)")
    }

    func testServerErrorsBecomeMySQLErrors() async throws {
        let connection = try await TestServer.connect()
        defer { connection.close() }
        do {
            try await connection.query("SELEC 1")
            XCTFail("expected a syntax error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .server)
            XCTAssertTrue(error.isSyntaxError)
            XCTAssertEqual(error.sqlState, "42000")
        }
        let table = TestServer.tableName("dup")
        try await connection.query("CREATE TABLE \(table) (id VARCHAR(36) PRIMARY KEY)")
        defer { Task { try? await TestServer.dropTable(table) } }
        try await connection.query("INSERT INTO \(table) VALUES (?)", [.string("a")])
        do {
            try await connection.query("INSERT INTO \(table) VALUES (?)", [.string("a")])
            XCTFail("expected a duplicate key")
        } catch let error as MySQLError {
            XCTAssertTrue(error.isDuplicateKey, "\(error)")
            XCTAssertEqual(error.sqlState, "23000")
        }
        do {
            try await connection.query("SELECT * FROM no_such_table_\(UInt32.random(in: 0...UInt32.max))")
            XCTFail("expected an unknown table")
        } catch let error as MySQLError {
            XCTAssertTrue(error.isUnknownTable, "\(error)")
        }
        // The connection is still usable after server errors.
        let after = try await connection.query("SELECT 2 AS n")
        XCTAssertEqual(try after.rows.first?.decode(Int.self, column: "n"), 2)
        try await connection.query("DROP TABLE \(table)")
    }

    func testUnknownDatabaseIsAServerErrorAtConnect() async throws {
        do {
            _ = try await TestServer.connect(database: "no_such_db_\(UInt32.random(in: 0...UInt32.max))")
            XCTFail("expected an error")
        } catch let error as MySQLError {
            // 1049 for a user who may see every database; 1044 (access denied to it) for orderuser.
            XCTAssertEqual(error.code, .server, "\(error)")
            XCTAssertTrue(error.isUnknownDatabase || error.serverErrorNumber == 1044, "\(error)")
            XCTAssertTrue(error.message.contains("no_such_db_"))
        }
    }

    func testWrongPasswordGivesAuthenticationErrorWithoutThePassword() async throws {
        do {
            _ = try await TestServer.connect(password: "wrong-s3cret")
            XCTFail("expected an authentication error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .authenticationFailed, "\(error)")
            XCTAssertEqual(error.serverErrorNumber, 1045)
            XCTAssertFalse("\(error)".contains("wrong-s3cret"))
        }
    }

    func testPreparedStatementsAreCachedPerConnection() async throws {
        let connection = try await TestServer.connect()
        defer { connection.close() }
        for value in 0..<5 {
            let result = try await connection.query("SELECT ? + 1 AS n", [.int(Int64(value))])
            XCTAssertEqual(try result.rows.first?.decode(Int.self, column: "n"), value + 1)
        }
        XCTAssertEqual(connection.cachedStatementCount, 1)
        do {
            try await connection.query("SELECT ?", [.int(1), .int(2)])
            XCTFail("expected a bind-count error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .unsupported)
        }
    }

    func testRepeatedQueryIsOneExecuteAndNothingElse() async throws {
        let connection = try await TestServer.connect()
        defer { connection.close() }
        func counter(_ name: String) async throws -> Int {
            let row = try await connection.query("SHOW SESSION STATUS LIKE '\(name)'").rows[0]
            return try Int(row.decode(String.self, column: "Value")) ?? -1
        }
        let preparesBefore = try await counter("Com_stmt_prepare")
        let executesBefore = try await counter("Com_stmt_execute")
        let questionsBefore = try await counter("Questions")
        for value in 0..<10 {
            let result = try await connection.query("SELECT ? AS n, 'x' AS s", [.int(Int64(value))])
            XCTAssertEqual(try result.rows[0].decode(Int.self, column: "n"), value)
            XCTAssertEqual(try result.rows[0].decode(String.self, column: "s"), "x")
        }
        let prepares = try await counter("Com_stmt_prepare") - preparesBefore
        let executes = try await counter("Com_stmt_execute") - executesBefore
        let questions = try await counter("Questions") - questionsBefore
        XCTAssertEqual(prepares, 1)
        XCTAssertEqual(executes, 10)
        // The ten executes and the three SHOW STATUS after the first, as counted by the server: no other statement.
        XCTAssertEqual(questions, 10 + 3)
    }

    func testCancellingTheTaskAbortsTheQueryAndClosesTheConnection() async throws {
        let connection = try await TestServer.connect()
        let task = Task { try await connection.query("SELECT SLEEP(5)") }
        // Cancel only once the server runs the query, so what is cancelled is a query in flight.
        let observer = try await TestServer.connect()
        let running = try await eventually(interval: .milliseconds(10)) {
            try await observer.query(
                "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST "
                    + "WHERE ID = \(connection.serverConnectionID) AND INFO LIKE 'SELECT SLEEP(5)%'"
            ).rows[0].decode(Int.self, column: "n") == 1
        }
        await observer.closeAndWait()
        XCTAssertTrue(running)
        let start = ContinuousClock.now
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("expected a cancellation")
        } catch is CancellationError {}
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        try await connection.channel.closeFuture.get()
    }

    func testPreparedStatementCacheEvictsAndClosesTheOldest() async throws {
        var configuration = try TestServer.configuration()
        configuration.preparedStatementCacheSize = 2
        let connection = try await MySQLConnection.connect(configuration: configuration, logger: TestServer.logger)
        defer { connection.close() }
        let before = try await connection.query("SHOW SESSION STATUS LIKE 'Com_stmt_close'").rows[0]
            .decode(Int.self, column: "Value")
        for sql in ["SELECT ? AS a", "SELECT ? AS b", "SELECT ? AS c", "SELECT ? AS a"] {
            _ = try await connection.query(sql, [.int(1)])
        }
        XCTAssertEqual(connection.cachedStatementCount, 2)
        let after = try await connection.query("SHOW SESSION STATUS LIKE 'Com_stmt_close'").rows[0]
            .decode(Int.self, column: "Value")
        XCTAssertEqual(after - before, 2)
    }

    func testRefusedConnectionIsAConnectionClosedError() async throws {
        var configuration = try TestServer.configuration()
        configuration.port = 1
        do {
            _ = try await MySQLConnection.connect(configuration: configuration, logger: TestServer.logger)
            XCTFail("expected an error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .connectionClosed, "\(error)")
        }
    }

    func testPingAndPoliteClose() async throws {
        let connection = try await TestServer.connect()
        try await connection.ping()
        await connection.closeAndWait()
        XCTAssertTrue(connection.isClosed)
        do {
            try await connection.ping()
            XCTFail("expected connection closed")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .connectionClosed)
        }
    }

    func testQueryTimeoutFailsFastAndClosesTheConnection() async throws {
        let connection = try await TestServer.connect()
        let start = ContinuousClock.now
        do {
            try await connection.query("SELECT SLEEP(5)", timeout: .milliseconds(200))
            XCTFail("expected a timeout")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .timeout)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        try await connection.channel.closeFuture.get()
        XCTAssertTrue(connection.isClosed)
    }
}

extension TestServer {
    static func dropTable(_ table: String) async throws {
        let connection = try await connect()
        _ = try? await connection.query("DROP TABLE IF EXISTS \(table)")
        await connection.closeAndWait()
    }
}
