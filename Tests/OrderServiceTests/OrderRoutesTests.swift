import ClientTestSupport
import EmbeddedMessaging
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
import NIOCore
import OrderEvents
import OrderMessaging
import OrderService
import OrderStorage
import SQLiteStorage
import ServiceCore
import TestSupport
import XCTest

final class OrderRoutesTests: XCTestCase, @unchecked Sendable {
    private var fixture: OrderServiceFixture!
    private var store: SQLiteOrderStore { self.fixture.store }
    private var broker: TestBroker { self.fixture.broker }
    private var directory: TemporaryDirectory { self.fixture.directory }

    override func setUp() async throws {
        self.fixture = try await OrderServiceFixture.make()
    }

    override func tearDown() async throws {
        await self.fixture.close()
    }

    private func makeApp(maxBodySize: Int = 64 * 1024) async throws -> some ApplicationProtocol {
        try await self.fixture.makeApp { $0.maxBodySize = maxBodySize }
    }

    private func json(_ response: TestResponse) throws -> JSONValue {
        try JSONReader.parse(Array(response.body.readableBytesView))
    }

    @discardableResult
    private func create(
        _ client: some TestClientProtocol,
        _ body: String = #"{"customer_id":"customer-123","product_id":"product-456","quantity":2,"total_amount":99.99}"#
    ) async throws -> TestResponse {
        try await client.execute(uri: "/orders", method: .post, body: ByteBuffer(string: body))
    }

    private func assertError(
        _ response: TestResponse,
        status: HTTPResponse.Status,
        code: String,
        field: String? = nil,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        XCTAssertEqual(response.status, status, file: file, line: line)
        XCTAssertEqual(response.headers[.contentType], "application/json; charset=utf-8", file: file, line: line)
        let body = try self.json(response)
        XCTAssertEqual(body["error"], .string(code), file: file, line: line)
        XCTAssertNotNil(body["message"]?.stringValue, file: file, line: line)
        XCTAssertEqual(body["details"]?.kind, .object, file: file, line: line)
        if let field {
            XCTAssertNotNil(body["details"]?[field]?.stringValue, "details should name \(field): \(body)", file: file, line: line)
        }
    }

    func testCreateOrderAnswers201WithOrderAndLocation() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let response = try await self.create(client)
            XCTAssertEqual(response.status, .created)
            let body = try self.json(response)
            let id = try XCTUnwrap(body["id"]?.stringValue)
            XCTAssertEqual(Identifier.canonicalUUID(id), id)
            XCTAssertEqual(response.headers[.location], "/orders/\(id)")
            XCTAssertEqual(body["customer_id"], .string("customer-123"))
            XCTAssertEqual(body["product_id"], .string("product-456"))
            XCTAssertEqual(body["quantity"], .number("2"))
            XCTAssertEqual(body["total_amount"], .number("99.99"))
            XCTAssertEqual(body["status"], .string("pending"))
            let created = try XCTUnwrap(body["created_at"]?.stringValue)
            XCTAssertEqual(created.count, 27, "RFC 3339 with microseconds: \(created)")
            XCTAssertTrue(created.hasSuffix("Z"))
            XCTAssertEqual(body["updated_at"]?.stringValue, created)
        }
    }

    func testGetReturnsTheSameBytesAsPostFromCacheAndFromStore() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let created = try await self.create(client)
            let id = try XCTUnwrap(try self.json(created)["id"]?.stringValue)
            let fromCache = try await client.execute(uri: "/orders/\(id)", method: .get)
            XCTAssertEqual(fromCache.status, .ok)
            XCTAssertEqual(fromCache.body, created.body)
            // Upper-case ids are the same UUID.
            let upper = try await client.execute(uri: "/orders/\(id.uppercased())", method: .get)
            XCTAssertEqual(upper.body, created.body)
        }
        // A fresh application has an empty cache: the store must render identical bytes.
        let newest = try await self.store.orders(limit: 1, offset: 0)
        let id = try XCTUnwrap(newest.first?.id)
        let fresh = try await self.makeApp()
        try await fresh.test(.router) { client in
            let fromStore = try await client.execute(uri: "/orders/\(id)", method: .get)
            XCTAssertEqual(fromStore.status, .ok)
            let order = try await self.store.order(id: id)
            XCTAssertEqual(Array(fromStore.body.readableBytesView), order?.jsonBytes)
        }
    }

    func testGetUnknownOrderIs404AndNonUUIDIs400() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let missing = try await client.execute(uri: "/orders/\(Identifier.random())", method: .get)
            try self.assertError(missing, status: .notFound, code: "not_found")
            let invalid = try await client.execute(uri: "/orders/not-a-uuid", method: .get)
            try self.assertError(invalid, status: .badRequest, code: "invalid_request", field: "id")
        }
    }

    func testEachValidationFailureIs400NamingTheField() async throws {
        let cases: [(body: String, field: String)] = [
            (#"{"product_id":"p","quantity":1,"total_amount":1}"#, "customer_id"),
            (#"{"customer_id":"c","quantity":1,"total_amount":1}"#, "product_id"),
            (#"{"customer_id":"c","product_id":"p","total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":1}"#, "total_amount"),
            (#"{"customer_id":5,"product_id":"p","quantity":1,"total_amount":1}"#, "customer_id"),
            (#"{"customer_id":"","product_id":"p","quantity":1,"total_amount":1}"#, "customer_id"),
            (#"{"customer_id":"   ","product_id":"p","quantity":1,"total_amount":1}"#, "customer_id"),
            (#"{"customer_id":"c","product_id":"0123456789012345678901234567890123456","quantity":1,"total_amount":1}"#, "product_id"),
            (#"{"customer_id":"c","product_id":"p","quantity":0,"total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":-3,"total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":2.5,"total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":"2","total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":1000001,"total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":99999999999999999999999,"total_amount":1}"#, "quantity"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":0}"#, "total_amount"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":-5}"#, "total_amount"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":1.005}"#, "total_amount"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":"9.99"}"#, "total_amount"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":100000000.00}"#, "total_amount"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":1e400}"#, "total_amount"),
            (#"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":null}"#, "total_amount"),
            (#"{"customer_id":"c""#, "body"),
            (#"[1,2]"#, "body"),
            (#""#, "body"),
            (#"nonsense"#, "body"),
        ]
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            for testCase in cases {
                let response = try await self.create(client, testCase.body)
                try self.assertError(response, status: .badRequest, code: "invalid_request", field: testCase.field)
            }
            // Several bad fields are all reported.
            let many = try await self.create(client, #"{"quantity":0}"#)
            let details = try self.json(many)["details"]?.objectMembers?.map(\.key) ?? []
            XCTAssertEqual(Set(details), ["customer_id", "product_id", "quantity", "total_amount"])
        }
        let stored = try await self.store.orders(limit: 100, offset: 0)
        XCTAssertTrue(stored.isEmpty, "no invalid request may store anything")
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 0)
    }

    func testUnknownFieldsAreIgnoredAndBoundaryValuesAccepted() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let response = try await self.create(
                client,
                #"{"customer_id":"012345678901234567890123456789012345","product_id":"ü","quantity":1000000,"total_amount":99999999.99,"coupon":"X","nested":{"a":[1]}}"#
            )
            XCTAssertEqual(response.status, .created)
            let body = try self.json(response)
            XCTAssertEqual(body["total_amount"], .number("99999999.99"))
            XCTAssertNil(body["coupon"])
        }
    }

    func testAmountsRenderInShortestExactForm() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            for (input, rendered) in [("99.90", "99.9"), ("100.00", "100"), ("0.01", "0.01"), ("1.5e1", "15"), ("12.30", "12.3")] {
                let response = try await self.create(
                    client, #"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":\#(input)}"#
                )
                XCTAssertEqual(response.status, .created)
                XCTAssertEqual(try self.json(response)["total_amount"], .number(rendered), "input \(input)")
                XCTAssertTrue(String(buffer: response.body).contains(#""total_amount":\#(rendered),"#))
            }
        }
    }

    func testOversizeBodyIs413() async throws {
        let app = try await self.makeApp(maxBodySize: 1024)
        try await app.test(.router) { client in
            let padding = String(repeating: "x", count: 2000)
            let response = try await self.create(
                client, #"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":1,"pad":"\#(padding)"}"#
            )
            try self.assertError(response, status: .contentTooLarge, code: "payload_too_large", field: "body")
        }
    }

    func testListIsNewestFirstWithTheOriginalsClamping() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            var ids: [String] = []
            for index in 0..<12 {
                let response = try await self.create(
                    client, #"{"customer_id":"c\#(index)","product_id":"p","quantity":1,"total_amount":1}"#
                )
                ids.append(try XCTUnwrap(try self.json(response)["id"]?.stringValue))
            }
            let newestFirst = Array(ids.reversed())
            func list(_ query: String) async throws -> [String] {
                let response = try await client.execute(uri: "/orders\(query)", method: .get)
                XCTAssertEqual(response.status, .ok)
                let array = try XCTUnwrap(try self.json(response).arrayValue, "a bare JSON array")
                return array.compactMap { $0["id"]?.stringValue }
            }
            let defaultPage = try await list("")
            XCTAssertEqual(defaultPage, Array(newestFirst.prefix(10)))
            let zeroLimit = try await list("?limit=0")
            XCTAssertEqual(zeroLimit, Array(newestFirst.prefix(10)))
            let negativeLimit = try await list("?limit=-4")
            XCTAssertEqual(negativeLimit, Array(newestFirst.prefix(10)))
            let capped = try await list("?limit=1000")
            XCTAssertEqual(capped, newestFirst)
            let huge = try await list("?limit=99999999999999999999")
            XCTAssertEqual(huge, newestFirst)
            let second = try await list("?limit=5&offset=5")
            XCTAssertEqual(second, Array(newestFirst[5..<10]))
            let negativeOffset = try await list("?limit=3&offset=-7")
            XCTAssertEqual(negativeOffset, Array(newestFirst.prefix(3)))
            let beyond = try await list("?offset=50")
            XCTAssertEqual(beyond, [])
            for bad in ["?limit=abc", "?offset=1.5", "?limit=10&offset=x", "?limit="] {
                let response = try await client.execute(uri: "/orders\(bad)", method: .get)
                try self.assertError(response, status: .badRequest, code: "invalid_request")
            }
        }
    }

    func testPaginationTakesAtMostOneSignAndClampsHugeSignedIntegers() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let response = try await self.create(client)
            let id = try XCTUnwrap(try self.json(response)["id"]?.stringValue)
            let notIntegers = [
                ("?offset=--5", "offset"), ("?limit=--99999999999999999999", "limit"), ("?limit=+-5", "limit"),
                ("?offset=-+1", "offset"), ("?limit=--", "limit"),
            ]
            for (query, field) in notIntegers {
                let response = try await client.execute(uri: "/orders\(query)", method: .get)
                try self.assertError(response, status: .badRequest, code: "invalid_request", field: field)
            }
            // A huge offset is an integer, but beyond the deepest offset served.
            let deep = try await client.execute(uri: "/orders?offset=+99999999999999999999", method: .get)
            try self.assertError(deep, status: .badRequest, code: "invalid_request", field: "offset")
            for (query, expected) in [("?limit=+99999999999999999999", [id])] {
                let response = try await client.execute(uri: "/orders\(query)", method: .get)
                XCTAssertEqual(response.status, .ok, query)
                let array = try XCTUnwrap(try self.json(response).arrayValue, query)
                XCTAssertEqual(array.compactMap { $0["id"]?.stringValue }, expected, query)
            }
        }
    }

    /// Following `Link: <…>; rel="next"` from the first page walks every order once, newest first; the last,
    /// shorter page has no link. Offsets stop at 10,000, and `before` must name an existing order, alone.
    func testLinkHeadersWalkEveryPageByKeyAndDeepOffsetsAreRefused() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            var ids: [String] = []
            for _ in 0..<12 {
                let response = try await self.create(client)
                ids.append(try XCTUnwrap(try self.json(response)["id"]?.stringValue))
            }
            let newestFirst = try await self.store.orders(limit: 100, offset: 0).map(\.id)
            XCTAssertEqual(Set(newestFirst), Set(ids))
            var walked: [String] = []
            var next: String? = "/orders?limit=5"
            var pages = 0
            while let uri = next {
                let response = try await client.execute(uri: uri, method: .get)
                XCTAssertEqual(response.status, .ok, uri)
                let array = try XCTUnwrap(try self.json(response).arrayValue, "a bare JSON array")
                walked += array.compactMap { $0["id"]?.stringValue }
                pages += 1
                if let link = response.headers[HTTPField.Name("Link")!] {
                    XCTAssertTrue(link.hasPrefix("</orders?limit=5&before=") && link.hasSuffix(">; rel=\"next\""), link)
                    next = String(link.dropFirst().prefix { $0 != ">" })
                } else {
                    next = nil
                }
                XCTAssertLessThan(pages, 10, "the links must end")
            }
            XCTAssertEqual(walked, newestFirst)
            XCTAssertEqual(pages, 3, "5 + 5 + 2: the short page is the last")
            let deepest = try await client.execute(uri: "/orders?offset=10000", method: .get)
            XCTAssertEqual(deepest.status, .ok)
            let bad = [
                ("?offset=10001", "offset"), ("?before=not-a-uuid", "before"),
                ("?before=\(Identifier.random())", "before"), ("?before=\(ids[0])&offset=1", "offset"),
                ("?before=\(ids[0])&offset=20000", "offset"),
            ]
            for (query, field) in bad {
                let response = try await client.execute(uri: "/orders\(query)", method: .get)
                try self.assertError(response, status: .badRequest, code: "invalid_request", field: field)
                let text = String(buffer: response.body)
                XCTAssertEqual(text.components(separatedBy: "\"\(field)\"").count, 2, "one reason per field: \(text)")
            }
        }
    }

    func testOrderAndItsEventAreStoredTogetherAndPublished() async throws {
        let app = try await self.makeApp()
        let broker = self.broker.broker
        let store = self.store
        try await app.test(.router) { client in
            let response = try await self.create(client)
            let id = try XCTUnwrap(try self.json(response)["id"]?.stringValue)
            // The router test framework runs the relay: the committed event leaves the outbox by itself.
            let published = try await eventually { try await store.outboxBacklog().pending == 0 }
            XCTAssertTrue(published)
            let consumer = try await broker.consume(queue: OrderTopology.analyticsQueue, prefetch: 10)
            let next = try await consumer.next(limit: 10)
            let deliveries = try XCTUnwrap(next)
            XCTAssertEqual(deliveries.count, 1)
            let delivery = try XCTUnwrap(deliveries.first)
            let event = try OrderCreatedEvent.decode(delivery.body)
            XCTAssertEqual(event.orderID, id)
            XCTAssertEqual(event.totalAmount, Money(cents: 9999))
            XCTAssertNotNil(event.eventID)
            XCTAssertEqual(delivery.properties.messageID, event.eventID)
            XCTAssertEqual(delivery.properties.type, "OrderCreated")
            XCTAssertEqual(delivery.properties.contentType, "application/json")
            XCTAssertTrue(delivery.properties.persistent)
            XCTAssertEqual(delivery.routingKey, "order.created")
            try await consumer.ack(deliveries)
            await consumer.close()
            // Fan-out: the notification queue got its own copy.
            let copies = try await broker.messageCount(queue: OrderTopology.notificationsQueue)
            XCTAssertEqual(copies, 1)
        }
    }

    func testStoreFailureAnswers503WithoutInternals() async throws {
        let app = try await self.makeApp()
        await self.store.close()
        try await app.test(.router) { client in
            let response = try await self.create(client)
            try self.assertError(response, status: .serviceUnavailable, code: "unavailable")
            XCTAssertFalse(String(buffer: response.body).lowercased().contains("sqlite"))
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .serviceUnavailable)
            XCTAssertEqual(try self.json(health)["status"], .string("unhealthy"))
        }
        // Reopen so tearDown can close it again.
        self.fixture.store = try await SQLiteOrderStore.open(
            path: self.directory.file("orders.sqlite"), durability: .normal, logger: testLogger("store")
        )
    }

    func testHealthLivenessMetricsAndUnknownRoutes() async throws {
        let app = try await self.makeApp()
        try await app.test(.router) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok)
            let body = try self.json(health)
            XCTAssertEqual(body["status"], .string("healthy"))
            XCTAssertEqual(body["service"], .string("order-service"))
            XCTAssertEqual(body["checks"]?["database"], .string("healthy"))
            XCTAssertEqual(body["checks"]?["cache"], .string("healthy"))
            XCTAssertEqual(body["checks"]?["mq"], .string("healthy"))
            let live = try await client.execute(uri: "/health/live", method: .get)
            XCTAssertEqual(live.status, .ok)

            try await self.create(client)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: metrics.body)
            XCTAssertTrue(text.contains("orders_created_total 1"), text)
            XCTAssertTrue(text.contains("orders_created_duration_seconds_bucket"), text)
            XCTAssertTrue(text.contains(#"http_requests_total{method="POST",path="/orders",status="201"} 1"#), text)
            XCTAssertTrue(text.contains("http_request_duration_seconds_bucket"), text)

            let unknown = try await client.execute(uri: "/nothing/here", method: .get)
            try self.assertError(unknown, status: .notFound, code: "not_found")
        }
    }
}
