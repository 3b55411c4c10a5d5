import ClientTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OrderService
import OrderStorage
import ServiceCore
import TestSupport
import XCTest

/// `POST /orders` with an `Idempotency-Key` header: safe retries for clients.
final class IdempotencyKeyRoutesTests: XCTestCase, @unchecked Sendable {
    private var fixture: OrderServiceFixture!
    private var store: SQLiteOrderStore { self.fixture.store }

    override func setUp() async throws {
        self.fixture = try await OrderServiceFixture.make()
    }

    override func tearDown() async throws {
        await self.fixture.close()
    }

    private func makeApp(ttl: Duration = .seconds(24 * 3600)) async throws -> some ApplicationProtocol {
        try await self.fixture.makeApp { $0.idempotencyKeyTTL = ttl }
    }

    private static let body = #"{"customer_id":"customer-123","product_id":"product-456","quantity":2,"total_amount":99.99}"#

    private func post(
        _ client: some TestClientProtocol, key: String?, body: String = IdempotencyKeyRoutesTests.body
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let key { headers[IdempotencyKey.headerName] = key }
        return try await client.execute(uri: "/orders", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    private func json(_ response: TestResponse) throws -> JSONValue {
        try JSONReader.parse(Array(response.body.readableBytesView))
    }

    func testSameKeySameBodyReturnsTheSameOrder201Then200() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let first = try await self.post(client, key: "retry-1")
            XCTAssertEqual(first.status, .created)
            XCTAssertNil(first.headers[IdempotencyKey.replayedHeaderName])
            // The same order, written with other whitespace and field order, is the same request.
            let again = try await self.post(
                client, key: "retry-1",
                body: #"{ "total_amount": 99.99, "quantity": 2, "product_id": "product-456", "customer_id": "customer-123" }"#
            )
            XCTAssertEqual(again.status, .ok)
            XCTAssertEqual(again.body, first.body, "the same order, byte for byte")
            XCTAssertEqual(again.headers[IdempotencyKey.replayedHeaderName], "true")
            XCTAssertEqual(again.headers[.location], first.headers[.location])
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: metrics.body)
            XCTAssertTrue(text.contains(#"idempotent_requests_total{result="replayed"} 1"#), text)
            XCTAssertTrue(text.contains(#"idempotent_requests_total{result="created"} 1"#), text)
        }
        let orders = try await self.store.orders(limit: 10, offset: 0)
        XCTAssertEqual(orders.count, 1, "one order")
        let backlog = try await self.store.outboxBacklog()
        XCTAssertLessThanOrEqual(backlog.pending, 1, "one event at most waiting (the relay may have published it)")
    }

    func testSameKeyDifferentBodyIs422IdempotencyConflict() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let first = try await self.post(client, key: "retry-2")
            XCTAssertEqual(first.status, .created)
            let other = try await self.post(
                client, key: "retry-2",
                body: #"{"customer_id":"customer-123","product_id":"product-456","quantity":3,"total_amount":99.99}"#
            )
            XCTAssertEqual(other.status, .unprocessableContent)
            let body = try self.json(other)
            XCTAssertEqual(body["error"], .string("idempotency_conflict"))
            XCTAssertNotNil(body["message"]?.stringValue)
            XCTAssertNotNil(body["details"]?["Idempotency-Key"]?.stringValue)
        }
        let orders = try await self.store.orders(limit: 10, offset: 0)
        XCTAssertEqual(orders.count, 1)
    }

    func testWithoutTheHeaderEveryPostCreatesAnOrder() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            for _ in 0..<3 {
                let response = try await self.post(client, key: nil)
                XCTAssertEqual(response.status, .created)
            }
        }
        let orders = try await self.store.orders(limit: 10, offset: 0)
        XCTAssertEqual(orders.count, 3)
    }

    func testDifferentKeysCreateDifferentOrders() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let first = try await self.post(client, key: "a")
            let second = try await self.post(client, key: "b")
            XCTAssertEqual(first.status, .created)
            XCTAssertEqual(second.status, .created)
            XCTAssertNotEqual(try self.json(first)["id"], try self.json(second)["id"])
        }
    }

    func testExpiredKeyCreatesANewOrder() async throws {
        let app = try await self.makeApp(ttl: .milliseconds(1))
        try await app.test(.router) { client in
            let first = try await self.post(client, key: "short-lived")
            // The key's age is wall-clock time kept with it in the store: wait until a millisecond of it has passed.
            let answered = Timestamp.now().microsecondsSinceEpoch
            _ = await eventually(interval: .milliseconds(1)) {
                Timestamp.now().microsecondsSinceEpoch > answered + 1000
            }
            let second = try await self.post(client, key: "short-lived")
            XCTAssertEqual(first.status, .created)
            XCTAssertEqual(second.status, .created, "the key expired")
            XCTAssertNotEqual(try self.json(first)["id"], try self.json(second)["id"])
        }
    }

    func testInvalidKeysAre400NamingTheHeader() async throws {
        let app = try await self.makeApp()
        let tooLong = String(repeating: "k", count: IdempotencyKey.maximumLength + 1)
        try await app.test(.router) { client in
            for key in [tooLong, "tab\there", "ünicode"] {
                let response = try await self.post(client, key: key)
                XCTAssertEqual(response.status, .badRequest, key)
                let body = try self.json(response)
                XCTAssertEqual(body["error"], .string("invalid_request"))
                XCTAssertNotNil(body["details"]?["Idempotency-Key"]?.stringValue, "\(body)")
            }
            var twice: HTTPFields = [:]
            twice.append(HTTPField(name: IdempotencyKey.headerName, value: "one"))
            twice.append(HTTPField(name: IdempotencyKey.headerName, value: "two"))
            let repeated = try await client.execute(
                uri: "/orders", method: .post, headers: twice, body: ByteBuffer(string: Self.body)
            )
            XCTAssertEqual(repeated.status, .badRequest)
            let longest = try await self.post(client, key: String(repeating: "k", count: IdempotencyKey.maximumLength))
            XCTAssertEqual(longest.status, .created, "255 characters are allowed")
        }
        let orders = try await self.store.orders(limit: 10, offset: 0)
        XCTAssertEqual(orders.count, 1, "nothing written for a rejected request")
    }

    /// A bad body with a key is a 400 and records nothing: the key stays free for the corrected request.
    func testRejectedBodyDoesNotUseTheKey() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let bad = try await self.post(client, key: "fix-and-retry", body: #"{"customer_id":"c"}"#)
            XCTAssertEqual(bad.status, .badRequest)
            let good = try await self.post(client, key: "fix-and-retry")
            XCTAssertEqual(good.status, .created)
        }
    }
}
