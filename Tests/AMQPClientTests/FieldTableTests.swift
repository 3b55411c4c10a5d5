@testable import AMQPClient
import NIOCore
import XCTest

final class FieldTableTests: XCTestCase {
    private func roundTrip(_ table: AMQPFieldTable) throws -> AMQPFieldTable {
        var buffer = ByteBuffer()
        try buffer.writeAMQPFieldTable(table)
        let decoded = try buffer.readAMQPFieldTable()
        XCTAssertEqual(buffer.readableBytes, 0)
        return decoded
    }

    func testEveryRabbitMQValueTypeRoundTrips() throws {
        let table: AMQPFieldTable = [
            "t": .bool(true), "b": .int8(-8), "B": .uint8(200), "s": .int16(-300), "u": .uint16(60_000),
            "I": .int32(-70_000), "i": .uint32(4_000_000_000), "l": .int64(-5_000_000_000), "f": .float(1.25),
            "d": .double(-2.5), "D": .decimal(scale: 2, value: 12_345), "S": .string("héllo"),
            "A": .array([.int64(1), .string("two"), .array([.void])]), "T": .timestamp(1_764_000_000),
            "F": .table(["nested": .table(["deep": .bool(false)])]), "V": .void, "x": .bytes([0, 1, 0xFF]),
        ]
        XCTAssertEqual(try self.roundTrip(table), table)
    }

    func testByteFixtureForEachTag() throws {
        let cases: [(AMQPFieldValue, [UInt8])] = [
            (.bool(true), [0x74, 1]), (.int8(-1), [0x62, 0xFF]), (.uint8(1), [0x42, 1]), (.int16(-2), [0x73, 0xFF, 0xFE]),
            (.uint16(2), [0x75, 0, 2]), (.int32(3), [0x49, 0, 0, 0, 3]), (.uint32(4), [0x69, 0, 0, 0, 4]),
            (.int64(5), [0x6C, 0, 0, 0, 0, 0, 0, 0, 5]), (.float(1), [0x66, 0x3F, 0x80, 0, 0]),
            (.double(1), [0x64, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]), (.decimal(scale: 1, value: 2), [0x44, 1, 0, 0, 0, 2]),
            (.string("ab"), [0x53, 0, 0, 0, 2, 0x61, 0x62]), (.array([.bool(false)]), [0x41, 0, 0, 0, 2, 0x74, 0]),
            (.timestamp(7), [0x54, 0, 0, 0, 0, 0, 0, 0, 7]), (.table([:]), [0x46, 0, 0, 0, 0]), (.void, [0x56]),
            (.bytes([9]), [0x78, 0, 0, 0, 1, 9]),
        ]
        for (value, bytes) in cases {
            var buffer = ByteBuffer()
            try buffer.writeAMQPFieldValue(value)
            XCTAssertEqual(Array(buffer.readableBytesView), bytes, "\(value)")
            XCTAssertEqual(try buffer.readAMQPFieldValue(depth: 0), value)
        }
    }

    func testTableFixtureAndEverySplitIsTruncationError() throws {
        let fixture: [UInt8] = [0, 0, 0, 4, 1, 0x61, 0x74, 1]
        var buffer = ByteBuffer()
        try buffer.writeAMQPFieldTable(["a": true])
        XCTAssertEqual(Array(buffer.readableBytesView), fixture)
        for split in 0..<fixture.count {
            var partial = ByteBuffer(bytes: fixture[..<split])
            XCTAssertThrowsError(try partial.readAMQPFieldTable(), "split at \(split)")
        }
    }

    func testLiteralsPickRabbitMQFriendlyTypes() {
        let table: AMQPFieldTable = ["x-message-ttl": 60_000, "x-queue-type": "quorum", "flag": true]
        XCTAssertEqual(table["x-message-ttl"], .int64(60_000))
        XCTAssertEqual(table["x-queue-type"], .string("quorum"))
        XCTAssertEqual(table["flag"], .bool(true))
        XCTAssertEqual(table.count, 3)
        XCTAssertEqual(table.map(\.key), ["x-message-ttl", "x-queue-type", "flag"])
    }

    func testSubscriptReplacesAndRemoves() {
        var table: AMQPFieldTable = ["a": 1]
        table["a"] = 2
        table["b"] = "x"
        XCTAssertEqual(table["a"]?.int64Value, 2)
        table["a"] = nil
        XCTAssertEqual(table.count, 1)
        XCTAssertEqual(table["b"]?.stringValue, "x")
    }

    func testUnknownTagAndTooDeepNestingAreErrors() throws {
        var unknown = ByteBuffer(bytes: [0, 0, 0, 3, 1, 0x61, 0x5A])
        XCTAssertThrowsError(try unknown.readAMQPFieldTable())
        var value: AMQPFieldValue = .void
        for _ in 0..<100 { value = .array([value]) }
        var buffer = ByteBuffer()
        try buffer.writeAMQPFieldTable(["deep": value])
        XCTAssertThrowsError(try buffer.readAMQPFieldTable()) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .protocolError)
        }
    }

    func testKeyLongerThan255BytesCannotBeEncoded() {
        var buffer = ByteBuffer()
        XCTAssertThrowsError(try buffer.writeAMQPFieldTable([String(repeating: "k", count: 256): true]))
    }
}
