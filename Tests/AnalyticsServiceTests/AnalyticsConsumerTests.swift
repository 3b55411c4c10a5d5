import AnalyticsService
import AnalyticsStorage
import Caching
import ClientTestSupport
import EmbeddedMessaging
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
import OrderEvents
import OrderMessaging
import SQLiteStorage
import ServiceCore
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// A store that fails while ``isDown`` is true: the analytics store's outage, without stopping a real server.
final class FlakyAnalyticsStore: AnalyticsStore {
    let wrapped: SQLiteAnalyticsStore
    private let down = Atomic<Bool>(false)
    private let refusingWrites = Atomic<Bool>(false)
    private let failures = Atomic<Int>(0)

    init(wrapping store: SQLiteAnalyticsStore) {
        self.wrapped = store
    }

    var isDown: Bool {
        get { self.down.load(ordering: .relaxed) }
        set { self.down.store(newValue, ordering: .relaxed) }
    }

    /// While true, applying fails as a read-only server during a failover does, but pings still answer.
    var isRefusingWrites: Bool {
        get { self.refusingWrites.load(ordering: .relaxed) }
        set { self.refusingWrites.store(newValue, ordering: .relaxed) }
    }

    var failedCalls: Int { self.failures.load(ordering: .relaxed) }

    func apply(_ events: [OrderCreatedEvent], processedAt: Timestamp) async throws -> AnalyticsApplyResult {
        if self.isDown || self.isRefusingWrites {
            self.failures.add(1, ordering: .relaxed)
            throw TestFailure(self.isDown ? "analytics store down (test)" : "the server is read-only (test)")
        }
        return try await self.wrapped.apply(events, processedAt: processedAt)
    }

    func totals() async throws -> AnalyticsTotals {
        if self.isDown { throw TestFailure("analytics store down (test)") }
        return try await self.wrapped.totals()
    }

    func checkHealth() async throws {
        if self.isDown { throw TestFailure("analytics store down (test)") }
        try await self.wrapped.checkHealth()
    }

    func close() async {
        await self.wrapped.close()
    }
}

final class AnalyticsConsumerTests: XCTestCase, @unchecked Sendable {
    private var directory: TemporaryDirectory!
    private var store: FlakyAnalyticsStore!
    private var broker: TestBroker!

    override func setUp() async throws {
        self.directory = try TemporaryDirectory()
        let store = try await SQLiteAnalyticsStore.open(
            path: self.directory.file("analytics.sqlite"), durability: .normal, logger: testLogger("store")
        )
        self.store = FlakyAnalyticsStore(wrapping: store)
        self.broker = try await TestBroker.open(path: self.directory.file("broker.sqlite"))
    }

    override func tearDown() async throws {
        await self.store.close()
        await self.broker.close()
        self.directory.remove()
    }

    private func makeApp() async throws -> some ApplicationProtocol {
        var configuration = AnalyticsServiceConfiguration()
        configuration.port = 0
        configuration.prefetch = 64
        configuration.retryDelays = [.milliseconds(20), .milliseconds(40), .milliseconds(80)]
        return try await buildAnalyticsService(
            configuration: configuration,
            backends: AnalyticsServiceBackends(store: self.store, cache: MemoryCache(), broker: self.broker.broker),
            logger: testLogger("analytics")
        )
    }

    private func publish(_ bodies: [[UInt8]]) async throws {
        let outcomes = await self.broker.broker.publish(
            bodies.map {
                OutgoingMessage(
                    exchange: OrderTopology.exchange, routingKey: OrderTopology.orderCreatedRoutingKey, body: $0,
                    properties: MessageProperties(contentType: "application/json", type: OrderCreatedEvent.eventType)
                )
            }
        )
        XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: bodies.count))
    }

    private func summary(_ client: some TestClientProtocol) async throws -> JSONValue {
        let response = try await client.execute(uri: "/analytics/summary", method: .get)
        XCTAssertEqual(response.status, .ok)
        return try JSONReader.parse(Array(response.body.readableBytesView))
    }

    func testEventsFlowIntoTheSummaryAndDuplicatesCountOnce() async throws {
        let app = try await self.makeApp()
        let events = try (0..<50).map { index in try AnalyticsStoreContract.event(amount: index % 2 == 0 ? "0.10" : "0.20") }
        // The router test framework runs the application's services (the consumer) for the duration of the test.
        try await app.test(.router) { client in
                let empty = try await self.summary(client)
                XCTAssertEqual(empty["total_orders"], .number("0"))
                XCTAssertEqual(empty["last_updated"], .null)

                try await self.publish(events.map { $0.encode() })
                try await self.publish(events.prefix(10).map { $0.encode() })  // redelivered duplicates
                let done = try await eventually { try await self.store.wrapped.recordedOrderCount() == 50 }
                XCTAssertTrue(done)
                let settled = try await eventually {
                    try await self.broker.broker.messageCount(queue: OrderTopology.analyticsQueue) == 0
                }
                XCTAssertTrue(settled)
                let summary = try await self.summary(client)
                XCTAssertEqual(summary["total_orders"], .number("50"))
                XCTAssertEqual(summary["total_revenue"], .number("7.5"))
                XCTAssertEqual(summary["average_order_value"], .number("0.15"))
                XCTAssertEqual(summary["average_order_size"], .number("0.15"))
                XCTAssertNotNil(summary["last_updated"]?.stringValue)

                // Ready count 0 does not cover a batch in flight: wait for the duplicates' batch to be applied.
                let duplicatesCounted = try await eventually {
                    String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                        .contains("events_duplicate_total 10")
                }
                XCTAssertTrue(duplicatesCounted)
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                XCTAssertTrue(metrics.contains("events_applied_total 50"), metrics)
                let final = try await self.summary(client)
                XCTAssertEqual(final["total_orders"], .number("50"), "duplicates change nothing")
        }
    }

    func testOriginalEventWithoutEventIDIsApplied() async throws {
        let app = try await self.makeApp()
        let original = #"{"event_type":"OrderCreated","order_id":"8b0b0b4e-1f7e-4a86-9b6c-1d2e3f405060","customer_id":"customer-123","product_id":"product-456","quantity":2,"total_amount":99.99,"status":"pending","created_at":"2024-01-15T10:30:00.123456789+07:00"}"#
        try await withRunningServices([app]) {
            try await self.publish([Array(original.utf8), Array(original.utf8)])
            let applied = try await eventually { try await self.store.wrapped.totals().totalOrders == 1 }
            XCTAssertTrue(applied)
            let settled = try await eventually {
                try await self.broker.broker.messageCount(queue: OrderTopology.analyticsQueue) == 0
            }
            XCTAssertTrue(settled)
            let totals = try await self.store.wrapped.totals()
            XCTAssertEqual(totals.totalOrders, 1)
            XCTAssertEqual(totals.totalRevenue, Money(cents: 9999))
        }
    }

    func testPoisonMessagesGoToTheDeadLetterQueueAndConsumptionGoesOn() async throws {
        let app = try await self.makeApp()
        let poison: [[UInt8]] = [
            Array("not json at all".utf8),
            Array(#"{"event_type":"OrderCreated","order_id":"x","customer_id":"c","product_id":"p","quantity":1,"total_amount":1.005}"#.utf8),
            Array(#"{"event_type":"OrderShipped","order_id":"x"}"#.utf8),
            Array(#"{"order_id":"x","customer_id":"c","product_id":"p","quantity":0,"total_amount":1}"#.utf8),
        ]
        let good = try AnalyticsStoreContract.event(amount: "3")
        try await withRunningServices([app]) {
            try await self.publish(poison + [good.encode()])
            let deadLettered = try await eventually {
                try await self.broker.broker.messageCount(queue: "analytics.orders.dlq") == poison.count
            }
            XCTAssertTrue(deadLettered)
            let applied = try await eventually { try await self.store.wrapped.totals().totalOrders == 1 }
            XCTAssertTrue(applied)
            let dead = try await self.broker.broker.peek(queue: "analytics.orders.dlq", limit: 10)
            XCTAssertTrue(dead.allSatisfy { $0.properties.headers[MessageHeaders.deathReason]?.isEmpty == false })
        }
        let totals = try await self.store.wrapped.totals()
        XCTAssertEqual(totals.totalRevenue, Money(cents: 300), "poison does not touch the totals")
    }

    func testStoreOutagePausesConsumptionWithoutUsingRetries() async throws {
        let app = try await self.makeApp()
        self.store.isDown = true
        let events = try (0..<5).map { _ in try AnalyticsStoreContract.event(amount: "2") }
        try await app.test(.router) { client in
            try await self.publish(events.map { $0.encode() })
            let failing = await eventually { self.store.failedCalls >= 3 }
            XCTAssertTrue(failing)
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .serviceUnavailable)
            let deadLetters = try await self.broker.broker.messageCount(queue: "analytics.orders.dlq")
            XCTAssertEqual(deadLetters, 0, "an outage is not the message's fault")
            self.store.isDown = false
            let applied = try await eventually { try await self.store.wrapped.totals().totalOrders == 5 }
            XCTAssertTrue(applied)
        }
        let totals = try await self.store.wrapped.totals()
        XCTAssertEqual(totals.totalRevenue, Money(cents: 1000))
        for level in 1...3 {
            let retried = try await self.broker.broker.messageCount(queue: "analytics.orders.retry.\(level)")
            XCTAssertEqual(retried, 0)
        }
    }

    func testAPausedConsumerShowsInHealthAndTheGaugeEvenWhenTheStoreAnswersPings() async throws {
        let app = try await self.makeApp()
        self.store.isRefusingWrites = true
        try await app.test(.router) { client in
            try await self.publish([try AnalyticsStoreContract.event(amount: "2").encode()])
            let paused = try await eventually {
                try await self.metric(client, #"consumer_paused{queue="analytics.orders"} 1"#)
            }
            XCTAssertTrue(paused)
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .serviceUnavailable)
            let database = try JSONReader.parse(Array(health.body.readableBytesView))["checks"]?["database"]?.stringValue
            XCTAssertTrue(
                database?.contains("consumption of analytics.orders paused: analytics store failing") ?? false,
                database ?? "no database check")

            self.store.isRefusingWrites = false
            let resumed = try await eventually {
                try await self.metric(client, #"consumer_paused{queue="analytics.orders"} 0"#)
            }
            XCTAssertTrue(resumed)
            let healthy = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(healthy.status, .ok)
        }
        let totals = try await self.store.wrapped.totals()
        XCTAssertEqual(totals.totalOrders, 1)
    }

    // MARK: Hostile input

    /// Runs `body` against the analytics SQLite file through a second connection (WAL allows it), to change the
    /// schema or the totals under the running store.
    private func withSecondConnection(_ body: (SQLiteFileDatabase) async throws -> Void) async throws {
        let database = try await SQLiteFileDatabase.open(
            path: self.directory.file("analytics.sqlite"), logger: testLogger("second-connection"))
        do {
            try await body(database)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    private func metric(_ client: some TestClientProtocol, _ line: String) async throws -> Bool {
        String(buffer: try await client.execute(uri: "/metrics", method: .get).body).contains(line)
    }

    func testHostileEventsAreDeadLetteredWithTheirReasonAndTheRestOfTheBatchIsCountedExactly() async throws {
        let app = try await self.makeApp()
        let corpus = try HostileEvent.load(tag: "analytics")
        let good = try (0..<10).map { _ in try AnalyticsStoreContract.event(amount: "1.25", quantity: 2) }
        // Interleaved, and all in the queue before the consumer starts: they arrive in the same batches.
        var bodies: [[UInt8]] = []
        for (index, entry) in corpus.enumerated() {
            bodies.append(entry.body)
            if index < good.count { bodies.append(good[index].encode()) }
        }
        try await self.publish(bodies)
        let hostile = corpus.filter { !$0.isValid }
        let valid = corpus.filter(\.isValid)
        try await app.test(.router) { client in
            let applied = try await eventually {
                let counted = try await self.store.wrapped.recordedOrderCount()
                let dead = try await self.broker.broker.messageCount(queue: "analytics.orders.dlq")
                return counted == good.count + valid.count && dead == hostile.count
            }
            XCTAssertTrue(applied)
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok, "nothing hostile took the service down")
        }
        let totals = try await self.store.wrapped.totals()
        let validRevenue = try valid.reduce(Money.zero) { $0 + (try Money(jsonNumber: $1.totalAmount ?? "")) }
        XCTAssertEqual(totals.totalOrders, Int64(good.count + valid.count))
        XCTAssertEqual(totals.totalRevenue, Money(cents: 125 * Int64(good.count)) + validRevenue)
        XCTAssertEqual(totals.totalQuantity, Int64(2 * good.count + valid.reduce(0) { $0 + ($1.quantity ?? 0) }))
        let dead = try await self.broker.broker.peek(queue: "analytics.orders.dlq", limit: 100)
        for entry in hostile {
            let reasons = dead.filter { $0.body == entry.body }.compactMap { $0.properties.headers[MessageHeaders.deathReason] }
            XCTAssertEqual(reasons.count, 1, entry.name)
            XCTAssertTrue(reasons.first?.contains(entry.reason ?? "") ?? false, "\(entry.name): \(reasons)")
        }
    }

    func testAnEventTheStoreRefusesIsDeadLetteredAndTheRestOfItsBatchApplied() async throws {
        // A rule of the database's that the contract does not know: the store refuses the row (SQLITE_CONSTRAINT).
        try await self.withSecondConnection { database in
            _ = try await database.write(
                """
                CREATE TRIGGER refuse_product BEFORE INSERT ON order_metrics WHEN NEW.product_id = 'refused'
                BEGIN SELECT RAISE(ABORT, 'product refused by the test'); END
                """)
        }
        let app = try await self.makeApp()
        var events = try (0..<15).map { _ in try AnalyticsStoreContract.event(amount: "2.00") }
        events[7].productID = "refused"
        try await self.publish(events.map { $0.encode() })
        try await app.test(.router) { client in
            let settled = try await eventually {
                let counted = try await self.store.wrapped.recordedOrderCount()
                let dead = try await self.broker.broker.messageCount(queue: "analytics.orders.dlq")
                return counted == 14 && dead == 1
            }
            XCTAssertTrue(settled)
            let counted = try await eventually {
                try await self.metric(client, #"store_errors_total{store="analytics",kind="data"}"#)
            }
            XCTAssertTrue(counted)
            let noOutage = try await self.metric(client, #"store_errors_total{store="analytics",kind="outage"} 0"#)
            XCTAssertTrue(noOutage, "a refused row is not an outage")
        }
        let totals = try await self.store.wrapped.totals()
        XCTAssertEqual(totals.totalOrders, 14)
        XCTAssertEqual(totals.totalRevenue, Money(cents: 2800))
        let dead = try await self.broker.broker.peek(queue: "analytics.orders.dlq", limit: 10)
        XCTAssertEqual(dead.map { try? OrderCreatedEvent.decode($0.body).orderID }, [events[7].orderID])
        let reason = dead.first?.properties.headers[MessageHeaders.deathReason] ?? ""
        XCTAssertTrue(reason.contains("refused the event") && reason.contains("product refused by the test"), reason)
    }

    func testATotalThatWouldOverflowDeadLettersTheEventInsteadOfTrapping() async throws {
        // Totals a hair below what Int64 cents hold: the next large order would overflow them.
        try await self.withSecondConnection { database in
            _ = try await database.write(
                "UPDATE analytics_totals SET total_orders = 1, total_revenue_cents = ?, total_quantity = 1 WHERE id = 1",
                [.int64(Int64.max - 1_000)])
        }
        let app = try await self.makeApp()
        let large = try AnalyticsStoreContract.event(amount: "99999999.99")
        let small = try AnalyticsStoreContract.event(amount: "0.01")
        try await self.publish([large.encode(), small.encode()])
        try await withRunningServices([app]) {
            let settled = try await eventually {
                let orders = try await self.store.wrapped.totals().totalOrders
                let dead = try await self.broker.broker.messageCount(queue: "analytics.orders.dlq")
                return orders == 2 && dead == 1
            }
            XCTAssertTrue(settled)
        }
        let totals = try await self.store.wrapped.totals()
        XCTAssertEqual(totals.totalRevenue, Money(cents: Int64.max - 999), "only the small order was added")
        let dead = try await self.broker.broker.peek(queue: "analytics.orders.dlq", limit: 10)
        XCTAssertEqual(dead.map { try? OrderCreatedEvent.decode($0.body).orderID }, [large.orderID])
        XCTAssertTrue(dead.first?.properties.headers[MessageHeaders.deathReason]?.contains("overflow") ?? false)
    }
}
