import OrderEvents
import ServiceCore
import TestSupport
import XCTest

final class OrderContractTests: XCTestCase {
    private func json(_ text: String) throws -> JSONValue { try JSONReader.parse(text) }

    func testIdentifiersAreCountedInCodePointsAsTheDatabaseCounts() throws {
        // 36 precomposed "é": 36 code points, 72 bytes. Fits VARCHAR(36) in utf8mb4.
        XCTAssertEqual(try OrderContract.identifier(self.json("\"\(String(repeating: "\u{E9}", count: 36))\""), field: "id").get().unicodeScalars.count, 36)
        // 36 "e" + combining acute: 36 characters as Swift counts them, 72 code points: too long for the column.
        let combining = String(repeating: "e\u{301}", count: 36)
        XCTAssertEqual(combining.count, 36)
        XCTAssertEqual(
            OrderContract.identifier(.string(combining), field: "order_id"),
            .failure(.init(field: "order_id", reason: "must be at most 36 characters")))
        // One flag is one character and two code points.
        let flags = String(repeating: "\u{1F1EB}\u{1F1F7}", count: 19)
        XCTAssertEqual(flags.count, 19)
        XCTAssertEqual(
            OrderContract.identifier(.string(flags), field: "customer_id"),
            .failure(.init(field: "customer_id", reason: "must be at most 36 characters")))
        XCTAssertEqual(
            OrderContract.identifier(.string(String(repeating: "a", count: 37)), field: "id"),
            .failure(.init(field: "id", reason: "must be at most 36 characters")))
        XCTAssertEqual(OrderContract.identifier(.string(" \t"), field: "id"), .failure(.init(field: "id", reason: "must not be empty")))
        XCTAssertEqual(OrderContract.identifier(nil, field: "id"), .failure(.init(field: "id", reason: "is required")))
        XCTAssertEqual(OrderContract.identifier(.number("1"), field: "id"), .failure(.init(field: "id", reason: "must be a string")))
    }

    func testQuantityIsAnIntegerFromOneToAMillionWhateverItsText() {
        XCTAssertEqual(OrderContract.quantity(.number("1")), .success(1))
        XCTAssertEqual(OrderContract.quantity(.number("1000000")), .success(1_000_000))
        let tooLarge = OrderContract.Violation(field: "quantity", reason: "must be at most 1000000")
        let tooSmall = OrderContract.Violation(field: "quantity", reason: "must be at least 1")
        let notInteger = OrderContract.Violation(field: "quantity", reason: "must be an integer")
        for text in ["1000001", "9223372036854775807", "9223372036854775808", "99999999999999999999999999"] {
            XCTAssertEqual(OrderContract.quantity(.number(text)), .failure(tooLarge), text)
        }
        for text in ["0", "-1", "-9223372036854775808", "-99999999999999999999999999"] {
            XCTAssertEqual(OrderContract.quantity(.number(text)), .failure(tooSmall), text)
        }
        for value in [JSONValue.number("2.5"), .number("1e3"), .string("3"), .bool(true)] {
            XCTAssertEqual(OrderContract.quantity(value), .failure(notInteger), "\(value)")
        }
    }

    func testAmountIsExactPositiveAndFitsTheColumn() {
        XCTAssertEqual(OrderContract.totalAmount(.number("99999999.99")), .success(Money(cents: 9_999_999_999)))
        XCTAssertEqual(OrderContract.totalAmount(.number("1.5e1")), .success(Money(cents: 1500)))
        XCTAssertEqual(OrderContract.totalAmount(.number("0.01")), .success(Money(cents: 1)))
        let cases: [(String, String)] = [
            ("0", "must be greater than 0"), ("-0.01", "must be greater than 0"),
            ("-92233720368547758090", "must be greater than 0"), ("100000000.00", "must be at most 99999999.99"),
            ("1e400", "must be at most 99999999.99"), ("1.005", "must have at most two decimal places"),
        ]
        for (text, reason) in cases {
            XCTAssertEqual(OrderContract.totalAmount(.number(text)), .failure(.init(field: "total_amount", reason: reason)), text)
        }
        XCTAssertEqual(
            OrderContract.totalAmount(.string("9.99")), .failure(.init(field: "total_amount", reason: "must be a number")))
    }

    func testCreatedAtIsRequiredAndNotBeforeTheEpoch() {
        XCTAssertEqual(
            OrderContract.createdAt(.string("2024-01-15T10:30:00.123456789+07:00")),
            .success(Timestamp(rfc3339: "2024-01-15T03:30:00.123456Z")!))
        XCTAssertEqual(OrderContract.createdAt(nil), .failure(.init(field: "created_at", reason: "is required")))
        XCTAssertEqual(
            OrderContract.createdAt(.string("yesterday")),
            .failure(.init(field: "created_at", reason: "must be an RFC 3339 timestamp")))
        XCTAssertEqual(
            OrderContract.createdAt(.string("0001-01-01T00:00:00Z")),
            .failure(.init(field: "created_at", reason: "must not be before 1970-01-01T00:00:00Z")))
    }

    func testAnEventNamesEveryFieldThatBreaksTheContract() {
        let body = #"{"order_id":"","customer_id":"c","product_id":"p","quantity":0,"total_amount":1.005,"created_at":"x"}"#
        XCTAssertThrowsError(try OrderCreatedEvent.decode(Array(body.utf8))) { error in
            XCTAssertEqual(
                (error as? EventDecodingError)?.reason,
                "order_id must not be empty; quantity must be at least 1; total_amount must have at most two decimal places; "
                    + "created_at must be an RFC 3339 timestamp")
        }
    }

    func testEveryHostileEventOfTheCorpusIsRefusedWithItsReasonAndEveryValidOneDecodes() throws {
        let events = try HostileEvent.load(tag: "contract")
        XCTAssertGreaterThan(events.filter { !$0.isValid }.count, 25)
        for entry in events {
            if let reason = entry.reason {
                XCTAssertThrowsError(try OrderCreatedEvent.decode(entry.body), entry.name) { error in
                    let text = (error as? EventDecodingError)?.reason ?? "\(error)"
                    XCTAssertTrue(text.contains(reason), "\(entry.name): \(text)")
                }
            } else {
                let event = try OrderCreatedEvent.decode(entry.body)
                XCTAssertEqual(event.quantity, entry.quantity, entry.name)
                XCTAssertEqual(event.totalAmount.decimalString, entry.totalAmount, entry.name)
                XCTAssertTrue(event.customerID.hasPrefix("contract-"), entry.name)
                // What a consumer accepts, it writes back unchanged: a relay of ours would publish the same contract.
                XCTAssertEqual(try OrderCreatedEvent.decode(event.encode()), event, entry.name)
            }
        }
    }
}
