import NIOCore
import XCTest

@testable import MySQLClient

final class CommandStateMachineTests: XCTestCase {
    /// A connection state machine that completed the handshake with `capabilities`.
    private func readyMachine(deprecateEOF: Bool = true) -> MySQLConnectionStateMachine {
        var machine = MySQLConnectionStateMachine(
            authentication: MySQLAuthenticationStateMachine(
                username: "u", password: "p", database: nil))
        var handshake = Fixture.mariaDBHandshake
        if !deprecateEOF {
            // Clear CLIENT_DEPRECATE_EOF (bit 24: the low bit of the upper capability bytes' second byte).
            handshake = handshake.replacingOccurrences(of: "ff81 15", with: "ff80 15")
        }
        _ = machine.packetReceived(Fixture.packet(handshake, sequenceID: 0))
        _ = machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 2))
        XCTAssertTrue(machine.isReady)
        XCTAssertEqual(machine.capabilities.contains(.deprecateEOF), deprecateEOF)
        return machine
    }

    private func feed(_ machine: inout MySQLConnectionStateMachine, _ packets: [[UInt8]])
        -> [MySQLConnectionStateMachine.Action]
    {
        var last: [MySQLConnectionStateMachine.Action] = []
        for (index, bytes) in packets.enumerated() {
            last = machine.packetReceived(Fixture.packet(bytes, sequenceID: UInt8(index + 1)))
            if index < packets.count - 1 { XCTAssertEqual(last, [], "packet \(index)") }
        }
        return last
    }

    private func result(_ actions: [MySQLConnectionStateMachine.Action]) throws -> MySQLQueryResult {
        guard actions.count == 1, case .succeedCommand(.result(let result)) = actions[0] else {
            throw MySQLError(code: .protocolError, message: "unexpected \(actions)")
        }
        return result
    }

    func testQueryIsSentAsComQueryWithSequenceZero() {
        var machine = self.readyMachine()
        XCTAssertEqual(
            machine.startCommand(.query("SELECT 1")),
            [.send(Fixture.buffer("03 53454c4543542031"), sequenceID: 0)])
        XCTAssertFalse(machine.isReady)
    }

    func testTextResultSetWithDeprecatedEOFDecodesTypedRows() throws {
        var machine = self.readyMachine()
        _ = machine.startCommand(.query("SELECT ..."))
        let actions = self.feed(&machine, [
            [3],
            Fixture.column("id", type: .longlong, flags: 1, characterSet: 63),
            Fixture.column("name", type: .varString),
            Fixture.column("amount", type: .newDecimal, characterSet: 63, decimals: 2),
            Fixture.bytes("02 3432 fb 05 39392e3930"),
            Fixture.bytes("02 2d31 03 616263 04 302e3130"),
            Fixture.bytes("fe 00 00 0200 0000"),
        ])
        let result = try self.result(actions)
        XCTAssertEqual(result.columns.map(\.name), ["id", "name", "amount"])
        XCTAssertEqual(result.rows.map(\.values), [
            [.int(42), .null, .decimal("99.90")],
            [.int(-1), .string("abc"), .decimal("0.10")],
        ])
        XCTAssertEqual(try result.rows[0].decode(Int.self, column: "id"), 42)
        XCTAssertEqual(try result.rows[0].decode(String?.self, column: "name"), nil)
        XCTAssertTrue(machine.isReady)
    }

    func testTextResultSetWithEOFPacketsIsDecoded() throws {
        var machine = self.readyMachine(deprecateEOF: false)
        _ = machine.startCommand(.query("SELECT ..."))
        let actions = self.feed(&machine, [
            [1],
            Fixture.column("n", type: .long, flags: 32, characterSet: 63),
            Fixture.bytes("fe 0000 0200"),
            Fixture.bytes("0a 34323934393637323935"),
            Fixture.bytes("fe 0000 0200"),
        ])
        XCTAssertEqual(try self.result(actions).rows.map(\.values), [[.uint(4_294_967_295)]])
    }

    func testOKPacketGivesAffectedRowsAndLastInsertID() throws {
        var machine = self.readyMachine()
        _ = machine.startCommand(.query("INSERT ..."))
        let result = try self.result(machine.packetReceived(Fixture.packet("00 02 07 0200 0000", sequenceID: 1)))
        XCTAssertEqual(result.affectedRows, 2)
        XCTAssertEqual(result.lastInsertID, 7)
        XCTAssertEqual(result.rows, [])
    }

    func testServerErrorFailsCommandAndKeepsConnectionUsable() {
        var machine = self.readyMachine()
        _ = machine.startCommand(.query("SELEC"))
        var err = Fixture.buffer("ff 2804 23 3432303030")
        err.writeString("You have an error in your SQL syntax")
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 1, payload: err))
        guard case .failCommand(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertTrue(error.isSyntaxError)
        XCTAssertEqual(error.sqlState, "42000")
        XCTAssertTrue(machine.isReady)
    }

    func testMalformedPacketFailsCommandAndClosesConnection() {
        var machine = self.readyMachine()
        _ = machine.startCommand(.query("SELECT 1"))
        let actions = machine.packetReceived(Fixture.packet("fc01", sequenceID: 1))
        XCTAssertEqual(actions.first, .close)
        guard case .failCommand(let error) = actions[1] else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .protocolError)
        XCTAssertTrue(machine.isClosed)
    }

    func testPrepareReadsParametersAndColumns() {
        var machine = self.readyMachine()
        XCTAssertEqual(
            machine.startCommand(.prepare("SELECT ?")), [.send(Fixture.buffer("16 53454c454354203f"), sequenceID: 0)])
        let actions = self.feed(&machine, [
            Fixture.bytes("00 05000000 0100 0200 00 0000"),
            Fixture.column("?", type: .null),
            Fixture.column("?", type: .null),
            Fixture.column("a", type: .longlong),
        ])
        XCTAssertEqual(
            actions,
            [.succeedCommand(.prepared(.init(
                id: 5, parameterCount: 2,
                columns: [MySQLColumn(name: "a", table: "t", schema: "order_db", type: .longlong, length: 255)])))])
        XCTAssertTrue(machine.isReady)
    }

    func testPrepareWithoutDeprecatedEOFSkipsEOFPackets() {
        var machine = self.readyMachine(deprecateEOF: false)
        _ = machine.startCommand(.prepare("DO ?"))
        let actions = self.feed(&machine, [
            Fixture.bytes("00 06000000 0000 0100 00 0000"),
            Fixture.column("?", type: .null),
            Fixture.bytes("fe 0000 0200"),
        ])
        XCTAssertEqual(actions, [.succeedCommand(.prepared(.init(id: 6, parameterCount: 1, columns: [])))])
    }

    func testBinaryRowDecodesEveryTypeAndNullBitmap() throws {
        var machine = self.readyMachine()
        let statement = MySQLPreparedStatement(id: 1, parameterCount: 0, columns: [])
        _ = machine.startCommand(.execute(statement, []))
        let columns: [[UInt8]] = [
            Fixture.column("tiny", type: .tiny, characterSet: 63),
            Fixture.column("short", type: .short, characterSet: 63),
            Fixture.column("long", type: .long, characterSet: 63),
            Fixture.column("big", type: .longlong, flags: 32, characterSet: 63),
            Fixture.column("dbl", type: .double, characterSet: 63),
            Fixture.column("dec", type: .newDecimal, characterSet: 63),
            Fixture.column("s", type: .varString),
            Fixture.column("blob", type: .blob, characterSet: 63),
            Fixture.column("ts", type: .timestamp, characterSet: 63, decimals: 6),
            Fixture.column("d", type: .date, characterSet: 63),
            Fixture.column("t", type: .time, characterSet: 63),
            Fixture.column("nil", type: .varString),
        ]
        // 12 columns: bitmap of (12 + 9) / 8 = 2 bytes; column 11 is NULL -> bit 13 -> byte 1, bit 5.
        let row = Fixture.bytes(
            """
            00 0020
            ff
            feff
            feffffff
            ffffffffffffffff
            000000000000f83f
            05 39392e3930
            02 6869
            03 000102
            0b ea07 0b 19 0d 2f 27 40e20100
            04 ea07 0b 19
            0c 01 01000000 02 03 04 05000000
            """)
        let actions = self.feed(&machine, [[12]] + columns + [row, Fixture.bytes("fe 00 00 0200 0000")])
        let result = try self.result(actions)
        XCTAssertEqual(result.rows.first?.values, [
            .int(-1), .int(-2), .int(-2), .uint(UInt64.max), .double(1.5), .decimal("99.90"), .string("hi"),
            .bytes([0, 1, 2]),
            .dateTime(.init(year: 2026, month: 11, day: 25, hour: 13, minute: 47, second: 39, microsecond: 123_456)),
            .dateTime(.init(year: 2026, month: 11, day: 25)), .string("-26:03:04.000005"), .null,
        ])
    }

    func testBinaryRowWithTruncatedValueIsAProtocolError() {
        var machine = self.readyMachine()
        _ = machine.startCommand(.execute(.init(id: 1, parameterCount: 0, columns: []), []))
        let actions = self.feed(&machine, [[1], Fixture.column("n", type: .longlong), Fixture.bytes("00 00 0102")])
        guard actions.count == 3, case .failCommand(let error) = actions[1] else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .protocolError)
    }

    func testMoreResultsAreReadAndTheFirstKept() throws {
        var machine = self.readyMachine()
        _ = machine.startCommand(.query("CALL p()"))
        let actions = self.feed(&machine, [
            [1], Fixture.column("a", type: .varString), Fixture.bytes("01 78"),
            Fixture.bytes("fe 00 00 0a00 0000"),  // SERVER_MORE_RESULTS_EXISTS | autocommit
            Fixture.bytes("00 00 00 0200 0000"),
        ])
        XCTAssertEqual(try self.result(actions).rows.map(\.values), [[.string("x")]])
    }

    func testPingAndCloseStatement() {
        var machine = self.readyMachine()
        XCTAssertEqual(machine.startCommand(.ping), [.send(Fixture.buffer("0e"), sequenceID: 0)])
        XCTAssertEqual(machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 1)), [.succeedCommand(.done)])
        XCTAssertEqual(
            machine.startCommand(.closeStatement(9)),
            [.send(Fixture.buffer("19 09000000"), sequenceID: 0), .succeedCommand(.done)])
        XCTAssertTrue(machine.isReady)
    }

    func testQuitSendsComQuitAndCloses() {
        var machine = self.readyMachine()
        XCTAssertEqual(
            machine.startCommand(.quit), [.send(Fixture.buffer("01"), sequenceID: 0), .succeedCommand(.done), .close])
        XCTAssertTrue(machine.isClosed)
        guard case .failCommand(let error) = machine.startCommand(.ping).first else { return XCTFail() }
        XCTAssertEqual(error.code, .connectionClosed)
    }

    func testTimeoutFailsRunningCommandAndCloses() {
        var machine = self.readyMachine()
        _ = machine.startCommand(.query("SELECT SLEEP(5)"))
        let actions = machine.timedOut()
        XCTAssertEqual(actions.first, .close)
        guard actions.count == 3, case .failCommand(let error) = actions[1] else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .timeout)
    }

    func testUnsolicitedErrorWhileIdleClosesWithServerReason() {
        var machine = self.readyMachine()
        var err = Fixture.buffer("ff 8707 23 3730313030")
        err.writeString("Connection was killed")
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 0, payload: err))
        guard case .failAll(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .connectionClosed)
        XCTAssertEqual(error.serverErrorNumber, 1927)
        XCTAssertTrue(machine.isClosed)
    }

    func testChannelClosedFailsRunningCommand() {
        var machine = self.readyMachine()
        _ = machine.startCommand(.ping)
        let actions = machine.connectionClosed()
        guard let error = Self.commandFailure(in: actions) else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .connectionClosed)
    }

    /// A reply over the packet limit fails the running command with that error, not as a lost connection (which
    /// callers may retry), and the connection is closed before anyone is told, so the pool never leases it again.
    func testAPacketOverTheLimitFailsTheRunningCommandWithItsOwnCodeAfterClosing() {
        var machine = self.readyMachine()
        _ = machine.startCommand(.ping)
        let tooLarge = MySQLPacketDecoder.tooLarge(atLeast: 2_000_000, limit: 1 << 20)
        let actions = machine.connectionClosed(error: tooLarge)
        guard case .close = actions.first else { return XCTFail("close first: \(actions)") }
        XCTAssertEqual(Self.commandFailure(in: actions), tooLarge)
        XCTAssertTrue(machine.isClosed)
    }

    private static func commandFailure(in actions: [MySQLConnectionStateMachine.Action]) -> MySQLError? {
        for action in actions {
            if case .failCommand(let error) = action { return error }
        }
        return nil
    }
}
