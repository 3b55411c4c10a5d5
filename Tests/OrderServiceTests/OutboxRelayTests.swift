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

    /// A relay whose poll claims every stored event at once (no hand-off window: these tests store events
    /// directly, not through `POST /orders`).
    private func makeRelay(
        broker: any MessageBroker, batchSize: Int = 4, maxAttempts: Int = 10, metrics: ServiceMetrics = ServiceMetrics()
    ) -> OutboxRelay {
        var configuration = OutboxRelay.Configuration(exchange: OrderTopology.exchange)
        configuration.batchSize = batchSize
        configuration.pollInterval = .milliseconds(50)
        configuration.handoffWindow = .zero
        configuration.maxAttempts = maxAttempts
        return OutboxRelay(
            store: self.store, broker: broker, configuration: configuration,
            metrics: OrderServiceMetrics(registry: metrics), logger: testLogger("relay")
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
        configuration.handoffWindow = .zero
        let relay = OutboxRelay(
            store: self.store, broker: flaky, configuration: configuration,
            metrics: OrderServiceMetrics(registry: ServiceMetrics()), logger: recorder.logger()
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
        let claimed = try await self.store.claimDueEvents(
            limit: 10, createdBefore: .now(), now: .now(), leaseUntil: Timestamp.now().adding(seconds: 60))
        try await self.store.markPublished(eventIDs: claimed.map(\.eventID), at: .now())
        let kept = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: -3600))
        XCTAssertEqual(kept, 0, "younger than the retention: kept")
        let purged = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: 1))
        XCTAssertEqual(purged, 3)
        _ = try await self.storeOrders(1)
        let unpublished = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: 1))
        XCTAssertEqual(unpublished, 0, "an unpublished event is never purged")
    }

    /// New orders are published from memory: with a poll that would not claim them for an hour, every event still
    /// reaches the queue and is marked published.
    func testEventsOfNewOrdersArePublishedFromMemoryWithoutThePoll() async throws {
        let app = try await self.fixture.makeApp(broker: self.broker.broker) {
            $0.relay.pollInterval = .seconds(3600)
            $0.relay.handoffWindow = .seconds(3600)
        }
        try await app.test(.router) { client in
            // The relay's first poll runs at start; wait until it has found nothing, so only memory is left.
            try await Task.sleep(for: .milliseconds(200))
            for index in 0..<5 {
                let response = try await client.execute(
                    uri: "/orders", method: .post,
                    body: ByteBuffer(string: #"{"customer_id":"c\#(index)","product_id":"p","quantity":1,"total_amount":5}"#))
                XCTAssertEqual(response.status, .created)
            }
            let drained = try await eventually { try await self.store.outboxBacklog().pending == 0 }
            XCTAssertTrue(drained, "published and marked without the poll")
        }
        let events = try await self.drainQueue(OrderTopology.analyticsQueue, expecting: 5)
        XCTAssertEqual(events.count, 5)
    }

    /// New events whose publish from memory failed (the broker was down) are published once it is back, after the
    /// relay's backoff, not after the hand-off window: the failed round releases them.
    func testNewEventsTheBrokerFailedAreRetriedWithoutWaitingForTheWindow() async throws {
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        let app = try await self.fixture.makeApp(broker: flaky) {
            $0.relay.pollInterval = .milliseconds(50)
            $0.relay.handoffWindow = .seconds(3600)
        }
        try await app.test(.router) { client in
            try await Task.sleep(for: .milliseconds(200))
            flaky.isDown = true
            for index in 0..<3 {
                let response = try await client.execute(
                    uri: "/orders", method: .post,
                    body: ByteBuffer(string: #"{"customer_id":"c\#(index)","product_id":"p","quantity":1,"total_amount":5}"#))
                XCTAssertEqual(response.status, .created)
            }
            let attempted = await eventually { flaky.publishCalls >= 2 }
            XCTAssertTrue(attempted)
            flaky.isDown = false
            let drained = try await eventually(timeout: .seconds(15)) { try await self.store.outboxBacklog().pending == 0 }
            XCTAssertTrue(drained, "published within the backoff, not after the hour-long window")
        }
        let events = try await self.drainQueue(OrderTopology.analyticsQueue, expecting: 3)
        XCTAssertEqual(events.count, 3)
    }

    /// An event the broker fails while it confirms the others does not hold them up: it is set aside, retried,
    /// parked after `maxAttempts`, counted and reported; unparked, it flows.
    func testAnEventFailedAloneIsSetAsideThenParkedWhileTheOthersFlow() async throws {
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        let registry = ServiceMetrics()
        let ids = try await self.storeOrders(6)
        let poisoned = try await self.store.claimDueEvents(
            limit: 1, createdBefore: .now(), now: .now(), leaseUntil: .now()
        )[0]
        XCTAssertEqual(poisoned.aggregateID, ids[0])
        flaky.refusedMessageIDs = [poisoned.eventID]
        let relay = self.makeRelay(broker: flaky, batchSize: 100, maxAttempts: 2, metrics: registry)
        try await self.withRunning(relay) {
            let othersFlowed = try await eventually { try await self.store.outboxBacklog().pending <= 1 }
            XCTAssertTrue(othersFlowed, "the five others are published at once")
            // The first failure sets it aside for a second; the second parks it (maxAttempts 2).
            let parked = try await eventually(timeout: .seconds(10)) { try await self.store.outboxBacklog().parked == 1 }
            XCTAssertTrue(parked)
            let reported = await eventually {
                do {
                    try relay.checkParked()
                    return false
                } catch {
                    return true
                }
            }
            XCTAssertTrue(reported)
            XCTAssertThrowsError(try relay.checkParked()) { error in
                XCTAssertTrue("\(error)".contains("1 outbox event(s) parked"), "\(error)")
            }
            let metrics = String(decoding: registry.render(), as: UTF8.self)
            XCTAssertTrue(metrics.contains("outbox_events_parked_total 1"), metrics)
            XCTAssertTrue(metrics.contains("outbox_parked_events 1"), metrics)

            flaky.refusedMessageIDs = []
            let unparked = try await self.store.unparkEvents()
            XCTAssertEqual(unparked, 1)
            relay.signal.signal()
            let drained = try await eventually {
                let backlog = try await self.store.outboxBacklog()
                return backlog.pending == 0 && backlog.parked == 0
            }
            XCTAssertTrue(drained)
        }
        let events = try await self.drainQueue(OrderTopology.analyticsQueue, expecting: 6)
        XCTAssertEqual(Set(events.map(\.orderID)), Set(ids))
    }

    /// A broker that fails everything (an outage) counts against no event: nothing is parked however long it lasts.
    func testAnOutageParksNothing() async throws {
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        flaky.isDown = true
        _ = try await self.storeOrders(3)
        let relay = self.makeRelay(broker: flaky, maxAttempts: 1)
        try await self.withRunning(relay) {
            let attempted = await eventually { flaky.publishCalls >= 3 }
            XCTAssertTrue(attempted)
            let backlog = try await self.store.outboxBacklog()
            XCTAssertEqual(backlog.parked, 0, "an outage is not the events' fault")
            XCTAssertEqual(backlog.pending, 3)
            flaky.isDown = false
            let drained = try await eventually { try await self.store.outboxBacklog().pending == 0 }
            XCTAssertTrue(drained)
        }
    }
}
