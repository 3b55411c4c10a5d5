import NIOCore
import XCTest

@testable import MySQLClient

/// A prepared statement's result columns are parsed once and reused while the server sends the same definitions.
final class ResultColumnsTests: XCTestCase {
    private func readyMachine() -> MySQLConnectionStateMachine {
        var machine = MySQLConnectionStateMachine(
            authentication: MySQLAuthenticationStateMachine(username: "u", password: "p", database: nil))
        _ = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        _ = machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 2))
        XCTAssertTrue(machine.isReady)
        return machine
    }

    /// Runs one `COM_STMT_EXECUTE` of `statement` answered with `columns` and one binary row of 8-byte integers.
    private func execute(
        _ machine: inout MySQLConnectionStateMachine, _ statement: MySQLPreparedStatement, columns: [[UInt8]],
        values: [Int64]
    ) throws -> MySQLQueryResult {
        let sent = machine.startCommand(.execute(statement, []))
        XCTAssertEqual(sent.count, 1, "one packet per execution: \(sent)")
        var row = ByteBuffer(bytes: [0x00])
        row.writeRepeatingByte(0, count: (columns.count + 9) / 8)
        for value in values { row.writeInteger(value, endianness: .little) }
        let packets = [[UInt8(columns.count)]] + columns + [Array(row.readableBytesView), Fixture.bytes("fe 00 00 0200 0000")]
        var last: [MySQLConnectionStateMachine.Action] = []
        for (index, bytes) in packets.enumerated() {
            last = machine.packetReceived(Fixture.packet(bytes, sequenceID: UInt8(index + 1)))
        }
        guard last.count == 1, case .succeedCommand(.result(let result)) = last[0] else {
            throw MySQLError(code: .protocolError, message: "unexpected \(last)")
        }
        return result
    }

    func testSameColumnDefinitionsAreReusedNotReparsed() throws {
        var machine = self.readyMachine()
        let statement = MySQLPreparedStatement(id: 3, parameterCount: 0, columns: [])
        let columns = [Fixture.column("a", type: .longlong), Fixture.column("b", type: .longlong)]
        let first = try self.execute(&machine, statement, columns: columns, values: [1, 2])
        let second = try self.execute(&machine, statement, columns: columns, values: [3, 4])
        XCTAssertEqual(second.rows[0].values, [.int(3), .int(4)])
        XCTAssertEqual(try second.rows[0].decode(Int.self, column: "b"), 4)
        // The same index object: the second execution parsed nothing.
        XCTAssertTrue(first.rows[0].columnIndex === second.rows[0].columnIndex)
        XCTAssertEqual(second.columns.map(\.name), ["a", "b"])
    }

    func testChangedColumnDefinitionsAreParsedAgain() throws {
        var machine = self.readyMachine()
        let statement = MySQLPreparedStatement(id: 3, parameterCount: 0, columns: [])
        let before = [Fixture.column("a", type: .longlong), Fixture.column("b", type: .longlong)]
        _ = try self.execute(&machine, statement, columns: before, values: [1, 2])
        // e.g. after ALTER TABLE: the second column was renamed, and a third one appeared.
        let after = [Fixture.column("a", type: .longlong), Fixture.column("c", type: .longlong),
                     Fixture.column("d", type: .longlong)]
        let changed = try self.execute(&machine, statement, columns: after, values: [5, 6, 7])
        XCTAssertEqual(changed.columns.map(\.name), ["a", "c", "d"])
        XCTAssertEqual(try changed.rows[0].decode(Int.self, column: "c"), 6)
        XCTAssertNil(changed.rows[0][column: "b"])
        // Fewer columns than last time, all matching so far.
        let fewer = try self.execute(&machine, statement, columns: [Fixture.column("a", type: .longlong)], values: [8])
        XCTAssertEqual(fewer.columns.map(\.name), ["a"])
        XCTAssertEqual(fewer.rows[0].values, [.int(8)])
    }

    func testClosingAStatementForgetsItsColumns() throws {
        var machine = self.readyMachine()
        let statement = MySQLPreparedStatement(id: 3, parameterCount: 0, columns: [])
        let columns = [Fixture.column("a", type: .longlong)]
        let first = try self.execute(&machine, statement, columns: columns, values: [1])
        _ = machine.startCommand(.closeStatement(3))
        // The server may reuse the id for another statement.
        let again = try self.execute(&machine, statement, columns: columns, values: [2])
        XCTAssertFalse(first.rows[0].columnIndex === again.rows[0].columnIndex)
        XCTAssertEqual(again.rows[0].values, [.int(2)])
    }

    func testExecutePacketIsFramedInPlace() throws {
        let statement = MySQLPreparedStatement(id: 7, parameterCount: 2, columns: [])
        let payload = MySQLCommand.execute(statement, [.int(1), .string("héllo")]).encode()
        let framed = try XCTUnwrap(MySQLPacketEncoder.framedInPlace(payload, sequenceID: 0))
        var copied = ByteBuffer()
        MySQLPacketEncoder.encode(payload: payload, sequenceID: 0, into: &copied)
        XCTAssertEqual(framed, copied)
        // Any other sequence id (or a payload without the header room) is framed by copying.
        XCTAssertNil(MySQLPacketEncoder.framedInPlace(payload, sequenceID: 1))
        XCTAssertNil(MySQLPacketEncoder.framedInPlace(ByteBuffer(bytes: [1, 2, 3]), sequenceID: 0))
    }
}
