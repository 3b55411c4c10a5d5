import ClientTestSupport
import EmbeddedMessaging
import Messaging
import ServiceCore
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// Records the size of each batch it is handed and acks it.
private final class RecordingHandler: DeliveryBatchHandler {
    let sizes = Mutex<[Int]>([])

    func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        self.sizes.withLock { $0.append(deliveries.count) }
        try? await Task.sleep(for: .milliseconds(20))  // the next batch arrives meanwhile
        try? await consumer.ack(deliveries)
    }
}

/// Holds the first batch it is handed until ``gate`` opens, then acks it; acks later batches at once.
final class GatedHandler: DeliveryBatchHandler {
    /// The message numbers of each batch handed over.
    let batches = Mutex<[[Int]]>([])
    /// Open once the first batch is in hand.
    let holding = Latch()
    let gate = Latch()

    func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        self.batches.withLock { $0.append(deliveries.map(MessageBrokerContract.number)) }
        self.holding.open()
        await self.gate.wait()
        try? await consumer.ack(deliveries)
    }

    /// Runs `service` (which must use this handler) until its first batch is in hand, stops it, lets the batch
    /// finish, and returns once `run()` has: the consumer is cancelled and closed inside `run()`, so nothing of it
    /// is left when `run()` returns.
    func stopWhileHoldingTheFirstBatch(of service: QueueConsumerService) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            await self.holding.wait()
            service.stop()
            self.gate.open()
            try await group.waitForAll()
        }
    }
}

final class QueueConsumerServiceTests: XCTestCase {
    func testStopFinishesTheBatchInHandTakesNoOtherAndRunReturnsWithTheRestBackInTheQueue() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let broker = try await TestBroker.open(path: directory.file("broker.sqlite"))
        try await broker.broker.declare(BrokerTopology(
            exchange: "orders", deadLetterExchange: "orders.dlx",
            queues: [.init(name: "work", bindingKeys: ["order.created"], retryDelays: [])]
        ))
        let messages = (1...6).map { index in
            OutgoingMessage(
                exchange: "orders", routingKey: "order.created", body: Array("\(index)".utf8),
                properties: MessageProperties(contentType: "text/plain", messageID: "m-\(index)")
            )
        }
        _ = await broker.broker.publish(messages)
        let handler = GatedHandler()
        let service = QueueConsumerService(
            broker: broker.broker, queue: "work", prefetch: 10, batchLimit: 2, handler: handler,
            logger: testLogger("consumer")
        )

        try await handler.stopWhileHoldingTheFirstBatch(of: service)

        XCTAssertEqual(handler.batches.withLock { $0 }, [[1, 2]], "no batch was taken after the stop")
        let left = try await broker.broker.messageCount(queue: "work")
        XCTAssertEqual(left, 4, "what the consumer held unsettled went back to the queue when run() closed it")
        await broker.close()
    }

    func testBatchesStayWithinTheBatchLimitWhileThePrefetchIsLarger() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let broker = try await TestBroker.open(path: directory.file("broker.sqlite"))
        try await broker.broker.declare(BrokerTopology(
            exchange: "orders", deadLetterExchange: "orders.dlx",
            queues: [.init(name: "work", bindingKeys: ["order.created"], retryDelays: [])]
        ))
        let messages = (0..<40).map { index in
            OutgoingMessage(
                exchange: "orders", routingKey: "order.created", body: Array("\(index)".utf8),
                properties: MessageProperties(contentType: "text/plain", messageID: "m-\(index)")
            )
        }
        let outcomes = await broker.broker.publish(messages)
        XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: 40))
        let handler = RecordingHandler()
        let service = QueueConsumerService(
            broker: broker.broker, queue: "work", prefetch: 10, batchLimit: 4, handler: handler, logger: testLogger("consumer")
        )
        let done = try await withRunning(service) {
            await eventually { handler.sizes.withLock { $0.reduce(0, +) } == 40 }
        }
        await broker.close()
        let sizes = handler.sizes.withLock { $0 }
        XCTAssertTrue(done, "every message handled: \(sizes)")
        XCTAssertLessThanOrEqual(sizes.max() ?? 0, 4, "no batch above the limit: \(sizes)")
        XCTAssertGreaterThan(sizes.filter { $0 == 4 }.count, 1, "full batches while more were prefetched: \(sizes)")
    }

    /// The embedded broker applies `AMQP_MAX_BODY` when it hands messages out, as RabbitMQ's client does: the
    /// oversized delivery comes without its body, never reaches the handler, and is dead-lettered with the reason,
    /// its stored body intact; one warning and one count each.
    func testADeliveryOverTheBodyLimitIsDeadLetteredWithItsReasonAndNeverReachesTheHandler() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let broker = try await TestBroker.open(path: directory.file("broker.sqlite"), maximumBodySize: 16)
        try await broker.broker.declare(BrokerTopology(
            exchange: "orders", deadLetterExchange: "orders.dlx",
            queues: [.init(name: "work", bindingKeys: ["order.created"], retryDelays: [])]
        ))
        let bodies = ["1", String(repeating: "x", count: 100), "2"]
        let outcomes = await broker.broker.publish(bodies.enumerated().map { index, body in
            OutgoingMessage(
                exchange: "orders", routingKey: "order.created", body: Array(body.utf8),
                properties: MessageProperties(contentType: "text/plain", messageID: "m-\(index)")
            )
        })
        XCTAssertEqual(outcomes, [.confirmed, .confirmed, .confirmed])
        let handler = GatedHandler()
        handler.gate.open()
        let registry = ServiceMetrics()
        let logs = LogRecorder()
        let service = QueueConsumerService(
            broker: broker.broker, queue: "work", prefetch: 10, handler: handler,
            oversizedBodies: registry.counter("events_dead_lettered_total", [("queue", "work"), ("reason", "body_too_large")]),
            logger: logs.logger("consumer")
        )

        let done = try await withRunning(service) {
            await eventually { handler.batches.withLock { $0.flatMap { $0 } } == [1, 2] }
        }

        XCTAssertTrue(done, "the handler got the others: \(handler.batches.withLock { $0 })")
        let dead = try await broker.broker.peek(queue: "work.dlq", limit: 10)
        await broker.close()
        XCTAssertEqual(dead.map { String(decoding: $0.body, as: UTF8.self) }, [bodies[1]], "stored body kept")
        XCTAssertEqual(dead.first?.properties.headers[MessageHeaders.deathReason], "body of 100 bytes exceeds AMQP_MAX_BODY (16)")
        XCTAssertTrue(
            String(decoding: registry.render(), as: UTF8.self)
                .contains("events_dead_lettered_total{queue=\"work\",reason=\"body_too_large\"} 1"))
        let warnings = logs.all.filter { $0.contains("message dead-lettered") }
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        XCTAssertTrue(warnings.first?.contains("\"size\": 100") == true && warnings.first?.contains("\"limit\": 16") == true, "\(warnings)")
    }
}
