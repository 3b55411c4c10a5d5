import NIOCore
import XCTest

@testable import MySQLClient

final class DataTests: XCTestCase {
    func testDateTimeParsesMySQLTextWithAnyFractionLength() {
        XCTAssertEqual(
            MySQLDateTime(mySQLText: "2026-11-25 13:47:39.123456"),
            MySQLDateTime(year: 2026, month: 11, day: 25, hour: 13, minute: 47, second: 39, microsecond: 123_456))
        XCTAssertEqual(MySQLDateTime(mySQLText: "2026-11-25 13:47:39.5")?.microsecond, 500_000)
        XCTAssertEqual(MySQLDateTime(mySQLText: "2026-11-25"), MySQLDateTime(year: 2026, month: 11, day: 25))
        XCTAssertEqual(MySQLDateTime(mySQLText: "0000-00-00 00:00:00"), MySQLDateTime(year: 0, month: 0, day: 0))
        for bad in ["", "2026-11", "2026/11/25", "2026-11-25 1:2:3", "2026-11-25 13:47:39.1234567", "2026-1x-25"] {
            XCTAssertNil(MySQLDateTime(mySQLText: bad), bad)
        }
    }

    func testDateTimeDescriptionIsMySQLLiteral() {
        XCTAssertEqual(
            MySQLDateTime(year: 2026, month: 1, day: 2, hour: 3, minute: 4, second: 5, microsecond: 6).description,
            "2026-01-02 03:04:05.000006")
    }

    func testIntegerDecodingIsExact() throws {
        let row = MySQLRow(
            columns: [MySQLColumn(name: "big", type: .longlong), MySQLColumn(name: "neg", type: .longlong)],
            values: [.uint(UInt64.max), .int(-1)])
        XCTAssertEqual(try row.decode(UInt64.self, column: "big"), UInt64.max)
        XCTAssertThrowsError(try row.decode(Int.self, column: "big"))
        XCTAssertThrowsError(try row.decode(UInt64.self, column: "neg"))
        XCTAssertThrowsError(try row.decode(Int.self, column: "missing")) { error in
            XCTAssertEqual((error as? MySQLError)?.code, .decoding)
        }
    }

    func testTextValuesOfUnsignedAndBinaryColumns() throws {
        XCTAssertEqual(
            try MySQLData(textValue: ByteBuffer(string: "18446744073709551615"),
                          column: MySQLColumn(name: "u", type: .longlong, flags: 32)),
            .uint(UInt64.max))
        XCTAssertEqual(
            try MySQLData(textValue: ByteBuffer(bytes: [0, 255]),
                          column: MySQLColumn(name: "b", type: .blob, characterSet: 63)),
            .bytes([0, 255]))
        XCTAssertThrowsError(
            try MySQLData(textValue: ByteBuffer(string: "12x"), column: MySQLColumn(name: "i", type: .long)))
    }

    struct OrderRow: Decodable, Equatable {
        enum Status: String, Decodable { case pending }
        var id: String
        var quantity: Int
        var small: Int16
        var total_amount: String
        var status: Status
        var note: String?
        var created_at: MySQLDateTime
        var ratio: Float
    }

    func testRowDecodesIntoDecodableByColumnName() throws {
        let created = MySQLDateTime(year: 2026, month: 11, day: 25, microsecond: 1)
        let names = ["id", "quantity", "small", "total_amount", "status", "note", "created_at", "ratio"]
        let row = MySQLRow(
            columns: names.map { MySQLColumn(name: $0, type: .varString) },
            values: [.string("a"), .int(2), .int(-3), .decimal("99.90"), .string("pending"), .null,
                     .dateTime(created), .double(0.5)])
        XCTAssertEqual(
            try row.decode(OrderRow.self),
            OrderRow(id: "a", quantity: 2, small: -3, total_amount: "99.90", status: .pending, note: nil,
                     created_at: created, ratio: 0.5))
    }

    func testDecodableReportsTypeMismatch() {
        struct Wrong: Decodable { var id: Int }
        let row = MySQLRow(columns: [MySQLColumn(name: "id", type: .varString)], values: [.string("abc")])
        XCTAssertThrowsError(try row.decode(Wrong.self))
    }

    func testErrorDescriptionNamesCodeNumberStateAndMessage() {
        let error = MySQLError(code: .server, serverErrorNumber: 1062, sqlState: "23000", message: "Duplicate")
        XCTAssertEqual("\(error)", "MySQLError(server 1062 23000: Duplicate)")
        XCTAssertTrue(error.isDuplicateKey)
        XCTAssertFalse(error.isTransient)
    }

    func testDataDescriptionSummarisesBytes() {
        XCTAssertEqual(MySQLData([UInt8](repeating: 1, count: 5)).description, "<5 bytes>")
        XCTAssertEqual(MySQLData(Optional<MySQLData>.none), .null)
        XCTAssertEqual(MySQLData(7), .int(7))
    }
}
