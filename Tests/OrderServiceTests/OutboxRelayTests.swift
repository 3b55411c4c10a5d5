import ClientTestSupport
import EmbeddedMessaging
import HTTPTypes
import HummingbirdTesting
import Logging
import Messaging
import NIOCore
import OrderEvents
import OrderMessaging
import OrderService
import OrderStorage
import ServiceCore
import ServiceLifecycle
import ServiceRuntime
import TestSupport
import XCTest

final class OutboxRelayTests: XCTestCase, @unchecked Sendable {
    private var fixture: OrderServiceFixture!
    private var store: SQLiteOrderStore { self.fixture.store }
    private var broker: TestBroker { self.fixture.broker }
    private var directory: TemporaryDirectory { self.fixture.directory }

    override func setUp() async throws {
        self.fixture = try await OrderServiceFixture.make()
        try await self.broker.broker.declare(OrderTopology.topology(queues: [OrderTopology.analyticsQueue]))
    }

    override func tearDown() async throws {
        await self.fixture.close()
    }

    private func storeOrders(_ count: Int) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count {
            let now = Timestamp.now()
            let order = Order(
                id: Identifier.random(), customerID: "c\(index)", productID: "p", quantity: 1,
                totalAmount: Money(cents: Int64(100 + index)), status: "pending", createdAt: now, updatedAt: now
            )
            let event = order.createdEvent(eventID: Identifier.random())
            try await self.store.create(
                order,
                event: OutboxEvent(
                    eventID: event.eventID!, aggregateID: order.id, eventType: OrderCreatedEvent.eventType,
                    routingKey: OrderTopology.orderCreatedRoutingKey, payload: event.encode(), createdAt: now
                )
            )
            ids.append(order.id)
        }
        return ids
    }

    private func makeRelay(broker: any MessageBroker, batchSize: Int = 4, retention: Duration = .seconds(86400)) -> OutboxRelay {
        var configuration = OutboxRelay.Configuration(exchange: OrderTopology.exchange)
        configuration.batchSize = batchSize
        configuration.pollInterval = .milliseconds(50)
        configuration.retention = retention
        return OutboxRelay(
            store: self.store, broker: broker, configuration: configuration,
            metrics: OrderServiceMetrics(registry: ServiceMetrics()), signal: WakeSignal(), logger: testLogger("relay")
        )
    }

    /// Runs `relay` in a service group while `body` runs, then shuts it down gracefully.
    private func withRunning(_ relay: OutboxRelay, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [relay], logger: testLogger("group")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body()
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    private func drainQueue(_ queue: String, expecting count: Int) async throws -> [OrderCreatedEvent] {
        let consumer = try await self.broker.broker.consume(queue: queue, prefetch: 1000)
        var events: [OrderCreatedEvent] = []
        while events.count < count {
            guard let deliveries = try await consumer.next(limit: 1000) else { break }
            events += try deliveries.map { try OrderCreatedEvent.decode($0.body) }
            try await consumer.ack(deliveries)
        }
        await consumer.close()
        return events
    }

    func testRelayPublishesEveryEventInCreationOrderAndMarksThemPublished() async throws {
        let ids = try await self.storeOrders(10)
        let relay = self.makeRelay(broker: self.broker.broker, batchSize: 4)
        try await self.withRunning(relay) {
            let drained = try await eventually { try await self.store.outboxBacklog().pending == 0 }
            XCTAssertTrue(drained)
        }
        let events = try await self.drainQueue(OrderTopology.analyticsQueue, expecting: 10)
        XCTAssertEqual(events.map(\.orderID), ids)
        let remaining = try await self.broker.broker.messageCount(queue: OrderTopology.analyticsQueue)
        XCTAssertEqual(remaining, 0)
    }

    func testBrokerOutageDelaysEventsAndLosesNone() async throws {
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        flaky.isDown = true
        let ids = try await self.storeOrders(5)
        let relay = self.makeRelay(broker: flaky)
        try await self.withRunning(relay) {
            let attempted = await eventually { flaky.publishCalls >= 2 }
            XCTAssertTrue(attempted)
            let pending = try await self.store.outboxBacklog().pending
            XCTAssertEqual(pending, 5, "nothing is marked published while the broker refuses")
            flaky.isDown = false
            relay.signal.signal()
            let drained = try await eventually { try await self.store.outboxBacklog().pending == 0 }
            XCTAssertTrue(drained)
        }
        let events = try await self.drainQueue(OrderTopology.analyticsQueue, expecting: 5)
        XCTAssertEqual(Set(events.map(\.orderID)), Set(ids))
        XCTAssertEqual(events.count, 5)
    }

    func testUnroutableEventsStayPendingDegradeHealthWithTheReasonAndFlowOnceBoundAgain() async throws {
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        let registry = ServiceMetrics()
        let app = try await self.fixture.makeApp(broker: flaky, metrics: registry) {
            $0.relay.pollInterval = .milliseconds(50)
        }
        let declaredAtStart = flaky.declareCalls
        flaky.isUnroutable = true
        try await app.test(.router) { client in
            for index in 0..<3 {
                let response = try await client.execute(
                    uri: "/orders", method: .post,
                    body: ByteBuffer(string: #"{"customer_id":"c\#(index)","product_id":"p","quantity":1,"total_amount":5}"#))
                XCTAssertEqual(response.status, .created, "orders are still taken")
            }
            // Counted on every attempt (the relay keeps retrying them): at least once each.
            let returned = await eventually {
                String(decoding: registry.render(), as: UTF8.self).split(separator: "\n")
                    .first { $0.hasPrefix("outbox_events_unroutable_total ") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 3 } ?? false
            }
            XCTAssertTrue(returned, String(decoding: registry.render(), as: UTF8.self))
            let pending = try await self.store.outboxBacklog().pending
            XCTAssertEqual(pending, 3, "nothing is marked published while it reaches no queue")
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok)
            let body = try JSONReader.parse(Array(health.body.readableBytesView))
            XCTAssertEqual(body["status"], .string("degraded"))
            let mq = body["checks"]?["mq"]?.stringValue ?? ""
            XCTAssertTrue(mq.contains("unroutable") && mq.contains("no queue bound (test)"), mq)
            XCTAssertGreaterThan(flaky.declareCalls, declaredAtStart, "the relay declared the topology again")

            flaky.isUnroutable = false
            let drained = try await eventually { try await self.store.outboxBacklog().pending == 0 }
            XCTAssertTrue(drained)
            let healthy = try await eventually {
                let response = try await client.execute(uri: "/health", method: .get)
                return try JSONReader.parse(Array(response.body.readableBytesView))["status"] == .string("healthy")
            }
            XCTAssertTrue(healthy)
        }
        let events = try await self.drainQueue(OrderTopology.analyticsQueue, expecting: 3)
        XCTAssertEqual(events.count, 3)
    }

    func testShutdownFlushesPendingEvents() async throws {
        let relay = self.makeRelay(broker: self.broker.broker)
        try await self.withRunning(relay) {
            _ = try await self.storeOrders(7)
            // No signal: the graceful shutdown itself must publish what is pending.
        }
        let pending = try await self.store.outboxBacklog().pending
        XCTAssertEqual(pending, 0)
        let count = try await self.broker.broker.messageCount(queue: OrderTopology.analyticsQueue)
        XCTAssertEqual(count, 7)
    }

    /// A group that stops because another service failed (the HTTP port taken, say) cancels the relay instead of
    /// shutting it down gracefully. Its flush can do no I/O then: it must give up at once, with one log line, and
    /// leave the events in the outbox, instead of retrying for the whole flush timeout (it used to write a warning
    /// in a tight loop, hundreds of thousands of lines a second, because a cancelled sleep returns at once).
    func testCancelledRelaySkipsTheFlushWithOneLineAndKeepsTheEvents() async throws {
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        flaky.isDown = true
        _ = try await self.storeOrders(3)
        let recorder = LogRecorder()
        var configuration = OutboxRelay.Configuration(exchange: OrderTopology.exchange)
        configuration.pollInterval = .milliseconds(50)
        configuration.flushTimeout = .seconds(2)
        let relay = OutboxRelay(
            store: self.store, broker: flaky, configuration: configuration,
            metrics: OrderServiceMetrics(registry: ServiceMetrics()), signal: WakeSignal(), logger: recorder.logger()
        )
        let running = Task { try await relay.run() }
        await recorder.waitForLine(containing: "could not publish")
        running.cancel()
        try await running.value
        let lines = recorder.all
        XCTAssertEqual(lines.filter { $0.contains("outbox flush at shutdown skipped") }.count, 1, "\(lines)")
        XCTAssertFalse(lines.contains { $0.contains("outbox flush at shutdown incomplete") }, "\(lines)")
        let pending = try await self.store.outboxBacklog().pending
        XCTAssertEqual(pending, 3)
    }

    func testPublishedEventsArePurgedAfterRetention() async throws {
        _ = try await self.storeOrders(3)
        _ = try await self.store.relayPendingEvents(limit: 10) { events in events.map(\.sequence) }
        let kept = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: -3600))
        XCTAssertEqual(kept, 0, "younger than the retention: kept")
        let purged = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: 1))
        XCTAssertEqual(purged, 3)
        _ = try await self.storeOrders(1)
        let unpublished = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: 1))
        XCTAssertEqual(unpublished, 0, "an unpublished event is never purged")
    }
}
