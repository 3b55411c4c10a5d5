import ArgumentParser
import ClientTestSupport
import EmbeddedMessaging
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Messaging
import MySQLClient
import NIOCore
import OrderEvents
import OrderMessaging
import OrderService
import OrderStorage
import OrderSystemCLI
import SQLiteStorage
import ServiceCore
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// The whole system in one process, on ephemeral ports, through real HTTP.
final class EndToEndTests: XCTestCase, @unchecked Sendable {
    private var directory: TemporaryDirectory!

    override func setUp() async throws {
        self.directory = try TemporaryDirectory(prefix: "ordersystem-e2e")
    }

    override func tearDown() async throws {
        self.directory.remove()
    }

    /// Arguments added to every `all` this test starts (e.g. `--store mysql`).
    private var extraArguments: [String] = []

    private func configuration() throws -> SystemConfiguration {
        var configuration = try AllCommand.parse([
            "--data-dir", self.directory.path, "--order-port", "0", "--analytics-port", "0", "--notification-port", "0",
            "--hostname", "127.0.0.1", "--retry-delays", "50ms,100ms,200ms",
        ] + self.extraArguments).resolve(environment: [:])
        configuration.logLevel = .critical
        return configuration
    }

    /// Runs the system while `body` runs; `body` gets the ports and the group (to shut it down early).
    private func withSystem<T: Sendable>(_ body: (SystemPorts, ServiceGroup) async throws -> T) async throws -> T {
        try await withRunningSystem(try self.configuration(), body)
    }

    private func client(_ port: Int) -> TestClient {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(30)))
        client.connect()
        return client
    }

    private func json(_ response: TestClient.Response) throws -> JSONValue {
        try JSONReader.parse(Array((response.body ?? ByteBuffer()).readableBytesView))
    }

    private static func orderBody(_ index: Int) -> ByteBuffer {
        let cents = 1 + index % 997
        let amount = "\(cents / 100).\(cents % 100 < 10 ? "0" : "")\(cents % 100)"
        return ByteBuffer(string: #"{"customer_id":"customer-\#(index)","product_id":"product-\#(index % 7)","quantity":\#(1 + index % 5),"total_amount":\#(amount)}"#)
    }

    private static func cents(_ index: Int) -> Int64 { Int64(1 + index % 997) }

    private func summary(_ client: TestClient) async throws -> JSONValue {
        try self.json(try await client.get("/analytics/summary"))
    }

    func testOrdersFlowFromPostToAnalyticsAndNotifications() async throws {
        try await self.runOrderFlow(count: 60)
    }

    /// The same flow with both services on the stack's MariaDB (`order_db` and `analytics_db`, each with its own user),
    /// as `ordersystem all --store mysql`.
    func testOrdersFlowOnMySQLStores() async throws {
        self.extraArguments = try MySQLTestDatabase.systemArguments()
        try await MySQLTestDatabase.order.withClient { _ in }
        try await MySQLTestDatabase.analytics.withClient { _ in }
        try await self.runOrderFlow(count: 60)
        // Every order the POSTs created is in MySQL, field for field as the API returned it.
        try await MySQLTestDatabase.order.withClient(empty: false) { client in
            let count = try await client.query("SELECT COUNT(*) AS n FROM orders").rows.first?.decode(Int64.self, column: "n")
            XCTAssertEqual(count, 60)
            let pending = try await client.query("SELECT COUNT(*) AS n FROM outbox_events WHERE published_at IS NULL").rows
                .first?.decode(Int64.self, column: "n")
            XCTAssertEqual(pending, 0)
        }
    }

    /// The same flow through the stack's RabbitMQ (`ordersystem all --broker rabbitmq`): the topology of
    /// docs/CONTRACTS.md, confirmed publishes from the outbox, both consumers on their queues.
    func testOrdersFlowThroughRabbitMQ() async throws {
        try await RabbitMQTestTopology.deleteOrderTopology()
        self.extraArguments = ["--broker", "rabbitmq", "--rabbitmq-url", try RabbitMQTestTopology.url()]
        try await self.runOrderFlow(count: 60)
        // The test's short retry delays must not stay declared on the shared broker.
        try await RabbitMQTestTopology.deleteOrderTopology()
    }

    /// Everything on the real servers at once: MariaDB stores, Redis caches and record, RabbitMQ.
    func testOrdersFlowOnAllRealServers() async throws {
        try await RabbitMQTestTopology.deleteOrderTopology()
        try await MySQLTestDatabase.order.withClient { _ in }
        try await MySQLTestDatabase.analytics.withClient { _ in }
        let redis = try RealServers.redis()
        self.extraArguments = try MySQLTestDatabase.systemArguments() + [
            "--cache", "redis", "--redis-host", redis.host, "--redis-port", "\(redis.port)",
            "--broker", "rabbitmq", "--rabbitmq-url", try RabbitMQTestTopology.url(),
        ]
        try await self.runOrderFlow(count: 60)
        try await RabbitMQTestTopology.deleteOrderTopology()
    }

    /// The same flow with the order and summary caches and the worker's dedupe record on the stack's Redis.
    func testOrdersFlowWithRedisCache() async throws {
        let server = try RealServers.redis()
        self.extraArguments = ["--cache", "redis", "--redis-host", server.host, "--redis-port", "\(server.port)"]
        try await self.runOrderFlow(count: 60)
    }

    /// Redis dies while orders are read: every read still answers 200 from the store, `/health` says `degraded`
    /// (200) with the reason; Redis comes back: `healthy` again and cache hits resume, with no restart.
    func testRedisOutageDegradesAndRecoversWithoutRestart() async throws {
        let redis = try ThrowawayServer.start(.redis)
        defer { redis.down() }
        self.extraArguments = [
            "--cache", "redis", "--redis-host", "127.0.0.1", "--redis-port", "\(redis.port)", "--cache-timeout", "100ms",
            "--near-cache-capacity", "0",  // every read goes to Redis: this test is about Redis
        ]
        try await self.withSystem { ports, _ in
            let orders = self.client(ports[.order])
            let created = try await orders.post("/orders", body: Self.orderBody(1))
            let id = try XCTUnwrap(try self.json(created)["id"]?.stringValue)
            func hits() async throws -> Int {
                let metrics = String(buffer: try await orders.get("/metrics").body ?? ByteBuffer())
                let line = metrics.split(separator: "\n").first { $0.hasPrefix(#"cache_requests_total{cache="order",result="hit"}"#) }
                return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            }
            let healthy = try await eventually { try self.json(try await orders.get("/health"))["status"] == .string("healthy") }
            XCTAssertTrue(healthy)

            try redis.kill()
            for _ in 0..<20 {
                let response = try await orders.get("/orders/\(id)")
                XCTAssertEqual(response.status, .ok, "reads are served from the store while Redis is down")
            }
            let health = try await orders.get("/health")
            XCTAssertEqual(health.status, .ok, "a cache outage degrades, it does not take the instance out")
            let body = try self.json(health)
            XCTAssertEqual(body["status"], .string("degraded"))
            XCTAssertTrue(body["checks"]?["cache"]?.stringValue?.hasPrefix("unhealthy") ?? false, "\(body)")
            XCTAssertEqual(body["checks"]?["database"], .string("healthy"))

            try redis.startAgain()
            let recovered = try await eventually { try self.json(try await orders.get("/health"))["status"] == .string("healthy") }
            XCTAssertTrue(recovered, "back to healthy without a restart")
            _ = try await orders.get("/orders/\(id)")  // refills the cache
            let before = try await hits()
            let hitAgain = try await eventually {
                _ = try await orders.get("/orders/\(id)")
                return try await hits() > before
            }
            XCTAssertTrue(hitAgain, "cache hits resume")
            try await orders.shutdown()
        }
    }

    private func runOrderFlow(count: Int) async throws {
        try await self.withSystem { ports, _ in
            let orders = self.client(ports[.order])
            let analytics = self.client(ports[.analytics])
            let worker = self.client(ports[.notification])
            var ids: [String] = []
            var expectedCents: Int64 = 0
            for index in 0..<count {
                let response = try await orders.post("/orders", headers: [.contentType: "application/json"], body: Self.orderBody(index))
                XCTAssertEqual(response.status, .created)
                let body = try self.json(response)
                ids.append(try XCTUnwrap(body["id"]?.stringValue))
                XCTAssertEqual(response.headers[.location], "/orders/\(ids.last!)")
                expectedCents += Self.cents(index)
            }
            for id in ids {
                let response = try await orders.get("/orders/\(id)")
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(try self.json(response)["id"]?.stringValue, id)
            }
            let counted = try await eventually {
                try await self.summary(analytics)["total_orders"] == .number("\(count)")
            }
            XCTAssertTrue(counted)
            let summary = try await self.summary(analytics)
            XCTAssertEqual(summary["total_revenue"], .number(Money(cents: expectedCents).description))
            let notified = try await eventually {
                try self.json(try await worker.get("/health"))["stats"]?["events_processed"] == .number("\(count)")
            }
            XCTAssertTrue(notified)
            let health = try self.json(try await worker.get("/health"))
            XCTAssertEqual(health["stats"]?["email_sent"], .number("\(count)"))
            XCTAssertEqual(health["stats"]?["sms_sent"], .number("\(count)"))
            for (client, name) in [(orders, "order-service"), (analytics, "analytics-service"), (worker, "notification-worker")] {
                let health = try await client.get("/health")
                XCTAssertEqual(health.status, .ok)
                XCTAssertEqual(try self.json(health)["service"], .string(name))
                XCTAssertEqual(try self.json(health)["status"], .string("healthy"))
            }
            let metrics = String(buffer: try await worker.get("/metrics").body ?? ByteBuffer())
            XCTAssertTrue(metrics.contains(#"notifications_sent_total{channel="email"} \#(count)"#), metrics)
            for client in [orders, analytics, worker] { try await client.shutdown() }
        }
    }

    func testRestartCountsEveryOrderExactlyOnce() async throws {
        // Run 1: orders flow normally.
        let firstRun = try await self.withSystem { ports, _ -> [String] in
            let orders = self.client(ports[.order])
            var ids: [String] = []
            for index in 0..<20 {
                let response = try await orders.post("/orders", body: Self.orderBody(index))
                ids.append(try XCTUnwrap(try self.json(response)["id"]?.stringValue))
            }
            let analytics = self.client(ports[.analytics])
            let counted = try await eventually { try await self.summary(analytics)["total_orders"] == .number("20") }
            XCTAssertTrue(counted)
            try await orders.shutdown()
            try await analytics.shutdown()
            return ids
        }

        // Between runs, as after a crash: 10 orders committed whose events never left the outbox, and 5 events of
        // run 1 delivered again (applied and notified before the crash, not acknowledged).
        let logger = testLogger("offline")
        let store = try await SQLiteOrderStore.open(path: self.directory.file("orders.sqlite"), durability: .normal, logger: logger)
        var expectedCents: Int64 = (0..<20).reduce(0) { $0 + Self.cents($1) }
        for index in 100..<110 {
            let now = Timestamp.now()
            let order = Order(
                id: Identifier.random(), customerID: "c", productID: "p", quantity: 1,
                totalAmount: Money(cents: Self.cents(index)), status: "pending", createdAt: now, updatedAt: now
            )
            let event = order.createdEvent(eventID: Identifier.random())
            try await store.create(order, event: OutboxEvent(
                eventID: event.eventID!, aggregateID: order.id, eventType: OrderCreatedEvent.eventType,
                routingKey: OrderTopology.orderCreatedRoutingKey, payload: event.encode(), createdAt: now
            ))
            expectedCents += Self.cents(index)
        }
        var replays: [OutgoingMessage] = []
        for id in firstRun.prefix(5) {
            let order = try await XCTUnwrapAsync(try await store.order(id: id))
            replays.append(order.createdEvent(eventID: Identifier.random()).message())
        }
        await store.close()
        let broker = try await TestBroker.open(path: self.directory.file("broker.sqlite"))
        try await broker.broker.declare(OrderTopology.topology(queues: [OrderTopology.analyticsQueue, OrderTopology.notificationsQueue]))
        let outcomes = await broker.broker.publish(replays)
        XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: 5))
        await broker.close()

        // Run 2 on the same data directory.
        try await self.withSystem { ports, _ in
            let analytics = self.client(ports[.analytics])
            let worker = self.client(ports[.notification])
            let counted = try await eventually { try await self.summary(analytics)["total_orders"] == .number("30") }
            XCTAssertTrue(counted)
            let drained = try await eventually {
                let stats = try self.json(try await worker.get("/health"))["stats"]
                return stats?["events_processed"] == .number("15")
            }
            XCTAssertTrue(drained, "10 new events and 5 replays reach the worker")
            let stats = try self.json(try await worker.get("/health"))["stats"]
            XCTAssertEqual(stats?["email_sent"], .number("10"), "replayed events are not notified again")
            XCTAssertEqual(stats?["duplicates_skipped"], .number("10"))
            let summary = try await self.summary(analytics)
            XCTAssertEqual(summary["total_orders"], .number("30"))
            XCTAssertEqual(summary["total_revenue"], .number(Money(cents: expectedCents).description))
            try await analytics.shutdown()
            try await worker.shutdown()
        }
    }

    func testGracefulShutdownDuringConcurrentPostsLosesNoAcknowledgedOrder() async throws {
        let acknowledged = try await self.withSystem { ports, group -> [String] in
            let created = Collected()
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for worker in 0..<4 {
                    clients.addTask {
                        let client = self.client(ports[.order])
                        var index = worker * 10_000
                        // Posts until the server goes away; bounded so the test always ends.
                        while index < worker * 10_000 + 2_000 {
                            guard let response = try? await client.post("/orders", body: Self.orderBody(index)) else { break }
                            if response.status == .created, let id = try? self.json(response)["id"]?.stringValue {
                                created.append(id)
                            }
                            index += 1
                        }
                        try? await client.shutdown()
                    }
                }
                clients.addTask {
                    _ = await eventually { created.count >= 100 }
                    await group.triggerGracefulShutdown()
                }
                try await clients.waitForAll()
            }
            return created.values
        }
        XCTAssertGreaterThanOrEqual(acknowledged.count, 100)

        try await self.withSystem { ports, _ in
            let orders = self.client(ports[.order])
            for id in acknowledged {
                let response = try await orders.get("/orders/\(id)")
                XCTAssertEqual(response.status, .ok, "order \(id) got a 201 and must exist")
            }
            try await orders.shutdown()
        }
        // Every stored order (including any committed whose answer was cut off) is counted exactly once.
        let store = try await SQLiteOrderStore.open(path: self.directory.file("orders.sqlite"), durability: .normal, logger: testLogger("check"))
        let stored = try await store.orders(limit: 100_000, offset: 0).count
        await store.close()
        XCTAssertGreaterThanOrEqual(stored, acknowledged.count)
        try await self.withSystem { ports, _ in
            let analytics = self.client(ports[.analytics])
            let counted = try await eventually { try await self.summary(analytics)["total_orders"] == .number("\(stored)") }
            XCTAssertTrue(counted, "analytics counts each stored order once")
            try await analytics.shutdown()
        }
    }

    // MARK: Hostile input

    /// In the embedded mode, fed what another producer with access to the broker could publish: the hostile corpus
    /// shared with `scripts/faults`, and orders delivered twice side by side.
    private static func message(_ body: [UInt8], id: String) -> OutgoingMessage {
        OutgoingMessage(
            exchange: OrderTopology.exchange, routingKey: OrderTopology.orderCreatedRoutingKey, body: body,
            properties: MessageProperties(contentType: "application/json", messageID: id))
    }

    func testHostileEventsAreDeadLetteredByBothConsumersAndTheValidOnesCountedOnceEach() async throws {
        let corpus = try HostileEvent.load(tag: "embedded")
        let hostile = corpus.filter { !$0.isValid }
        let valid = corpus.filter(\.isValid)
        // Three orders each delivered twice side by side: a redelivery beside its original.
        let doubled = (0..<3).map { index in
            OrderCreatedEvent(
                eventID: Identifier.random(), orderID: Identifier.random(), customerID: "embedded-d\(index)",
                productID: "product", quantity: 2, totalAmount: Money(cents: 250), status: "pending", createdAt: .now())
        }
        try await self.withSystem { ports, _ in
            let broker = try ports.broker
            let embedded = try XCTUnwrap(broker as? EmbeddedBroker)
            var messages = corpus.enumerated().map { Self.message($1.body, id: "corpus-\($0)") }
            for event in doubled { messages += [event.message(), event.message()] }
            let outcomes = await broker.publish(messages)
            XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: messages.count))

            let analytics = self.client(ports[.analytics])
            let worker = self.client(ports[.notification])
            let orders = self.client(ports[.order])
            let expectedOrders = valid.count + doubled.count
            let counted = try await eventually {
                try self.json(try await analytics.get("/analytics/summary"))["total_orders"] == .number("\(expectedOrders)")
            }
            XCTAssertTrue(counted)
            let notified = try await eventually {
                try self.json(try await worker.get("/health"))["stats"]?["events_processed"] == .number("\(expectedOrders)")
            }
            XCTAssertTrue(notified)
            let deadLettered = try await eventually {
                let analyticsDead = try await broker.messageCount(queue: "analytics.orders.dlq")
                let workerDead = try await broker.messageCount(queue: "notifications.orders.dlq")
                return analyticsDead == hostile.count && workerDead == hostile.count
            }
            XCTAssertTrue(deadLettered)

            // Every hostile event is in both dead-letter queues, once, with its reason.
            for queue in ["analytics.orders.dlq", "notifications.orders.dlq"] {
                let dead = try await embedded.peek(queue: queue, limit: 1000)
                for entry in hostile {
                    let reasons = dead.filter { $0.body == entry.body }.compactMap {
                        $0.properties.headers[MessageHeaders.deathReason]
                    }
                    XCTAssertEqual(reasons.count, 1, "\(queue): \(entry.name)")
                    XCTAssertTrue(reasons.first?.contains(entry.reason ?? "") ?? false, "\(queue): \(entry.name): \(reasons)")
                }
            }
            // Totals exact: the valid corpus events and each doubled order once.
            let summary = try self.json(try await analytics.get("/analytics/summary"))
            let revenue = try valid.reduce(Money(cents: 250 * Int64(doubled.count))) {
                $0 + (try Money(jsonNumber: $1.totalAmount ?? ""))
            }
            XCTAssertEqual(summary["total_revenue"], .number(revenue.description))
            // One email and one SMS per order, the doubled ones included.
            let health = try self.json(try await worker.get("/health"))
            XCTAssertEqual(health["stats"]?["email_sent"], .number("\(expectedOrders)"))
            XCTAssertEqual(health["stats"]?["sms_sent"], .number("\(expectedOrders)"))
            // Nothing stopped: every service still answers healthy.
            for client in [orders, analytics, worker] {
                let response = try await client.get("/health")
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(try self.json(response)["status"], .string("healthy"))
                try await client.shutdown()
            }
        }
    }
}

/// Strings gathered from concurrent tasks.
final class Collected: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ value: String) { self.storage.withLock { $0.append(value) } }
    var count: Int { self.storage.withLock { $0.count } }
    var values: [String] { self.storage.withLock { $0 } }
}

func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
    try XCTUnwrap(value, file: file, line: line)
}
