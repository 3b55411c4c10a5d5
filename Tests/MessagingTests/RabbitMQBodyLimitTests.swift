import AMQPClient
import ClientTestSupport
import Logging
import Messaging
import RabbitMQMessaging
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// `AMQP_MAX_BODY` against the real RabbitMQ: a body over the consumer's limit is never read into memory, the
/// delivery is dead-lettered by rejecting it (RabbitMQ keeps the body and moves it to `q.dlq`), and consumption goes
/// on. The fixture is ``RabbitMQBrokerTests``'s.
extension RabbitMQBrokerTests {
    func testABodyOverTheLimitArrivesEmptyIsDeadLetteredWithItsOriginalBytesAndTheNextMessageFlows() async throws {
        let limit = 1 << 20
        try await withFixture(maximumBodySize: limit) { fixture in
            // 2 MiB in sixteen 128 kB frames, with a pattern so a body put together wrongly would show.
            let original = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 12) }
            var large = fixture.message(0)
            large.body = original
            large.properties.messageID = "m-large"
            let outcomes = await fixture.broker.publish([large, fixture.message(1)])
            XCTAssertEqual(outcomes, [.confirmed, .confirmed])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)

            let first = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(first.oversizedBody, OversizedBody(size: UInt64(original.count), limit: limit))
            XCTAssertTrue(first.body.isEmpty, "the body was dropped as it arrived, never buffered")
            XCTAssertEqual(first.properties.messageID, "m-large", "the properties still come")
            try await consumer.deadLetter(first, reason: try XCTUnwrap(first.oversizedBody).reason)

            let next = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(Self.number(next), 1)
            XCTAssertNil(next.oversizedBody)
            try await consumer.ack([next])
            let dlq = "\(fixture.analytics).dlq"
            let counts = try await fixture.waitForCounts([dlq, fixture.analytics], equal: [1, 0])
            XCTAssertEqual(counts, [1, 0])
            await consumer.close()

            // RabbitMQ moved the original through the queue's own dead-letter exchange: every byte is there (read
            // by a broker without a body limit).
            let reader = RabbitMQBroker(client: fixture.client, logger: Self.logger)
            let deadLetters = try await reader.consume(queue: dlq, prefetch: 1)
            let dead = try await Self.receive(from: deadLetters, count: 1)[0]
            await deadLetters.close()
            XCTAssertEqual(dead.body.count, original.count)
            XCTAssertTrue(dead.body == original, "the dead letter keeps the original bytes")
            XCTAssertEqual(dead.properties.messageID, "m-large")
            XCTAssertEqual(dead.properties.headers["x-first-death-reason"], "rejected")
        }
    }

    func testTheConsumerServiceDeadLettersAnOversizedDeliveryCountsAndLogsItAndKeepsConsuming() async throws {
        try await withFixture(maximumBodySize: 1 << 20) { fixture in
            var large = fixture.message(0)
            large.body = Array(repeating: UInt8(ascii: "a"), count: 2 << 20)
            let outcomes = await fixture.broker.publish([fixture.message(1), large, fixture.message(2)])
            XCTAssertEqual(outcomes, [.confirmed, .confirmed, .confirmed])
            let registry = ServiceMetrics()
            let logs = LogRecorder()
            let handler = NumberRecordingHandler()
            let service = QueueConsumerService(
                broker: fixture.broker, queue: fixture.analytics, prefetch: 10, handler: handler,
                oversizedBodies: registry.counter(
                    "events_dead_lettered_total", [("queue", fixture.analytics), ("reason", "body_too_large")]),
                logger: logs.logger("consumer"))

            let done = try await withRunning(service) {
                await eventually(timeout: .seconds(10)) { handler.numbers.withLock { $0 } == [1, 2] }
            }

            XCTAssertTrue(done, "the handler got the two others: \(handler.numbers.withLock { $0 })")
            let counts = try await fixture.waitForCounts(["\(fixture.analytics).dlq", fixture.analytics], equal: [1, 0])
            XCTAssertEqual(counts, [1, 0])
            let metrics = String(decoding: registry.render(), as: UTF8.self)
            XCTAssertTrue(
                metrics.contains(
                    "events_dead_lettered_total{queue=\"\(fixture.analytics)\",reason=\"body_too_large\"} 1"),
                metrics)
            let warnings = logs.all.filter { $0.contains("message dead-lettered") }
            XCTAssertEqual(warnings.count, 1, "\(warnings)")
            for expected in [
                "body of 2097152 bytes exceeds AMQP_MAX_BODY (1048576)", "\"size\": 2097152", "\"limit\": 1048576",
                "\"queue\": \(fixture.analytics)",
            ] {
                XCTAssertTrue(warnings.first?.contains(expected) == true, "\(expected) in \(warnings)")
            }
        }
    }

    /// A queue adopted in the conflict mode (the original's, without our dead-letter arguments) drops what is
    /// rejected: the delivery is still rejected (there is nothing else safe to do without its body), with an error
    /// naming the queue and the size.
    func testInTheConflictModeAnOversizedDeliveryIsRejectedWithAnErrorNamingTheQueue() async throws {
        let logs = CapturedLogs()
        try await withFixture(declare: false, logs: logs, maximumBodySize: 4096) { fixture in
            _ = try await fixture.client.withChannel { channel in
                try await channel.queueDeclare(name: fixture.analytics, durable: true)
            }
            do {
                try await fixture.broker.declare(fixture.topology)
                XCTFail("expected a TopologyConflict")
            } catch is TopologyConflict {}
            var large = fixture.message(0)
            large.body = Array(repeating: UInt8(ascii: "b"), count: 10_000)
            _ = await fixture.broker.publish([large, fixture.message(1)])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)

            let first = try await Self.receive(from: consumer, count: 1)[0]
            try await consumer.deadLetter(first, reason: try XCTUnwrap(first.oversizedBody).reason)
            let next = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(Self.number(next), 1)
            try await consumer.ack([next])

            let counts = try await fixture.waitForCounts(
                ["\(fixture.analytics).dlq", fixture.analytics], equal: [0, 0])
            XCTAssertEqual(counts, [0, 0], "RabbitMQ dropped it: the queue has no dead-letter exchange")
            let errors = logs.messages.filter { $0.level == .error }.map(\.message)
            XCTAssertTrue(
                errors.contains {
                    $0.contains("queue \(fixture.analytics) has no dead-letter exchange") && $0.contains("10000 bytes")
                }, "\(errors)")
            await consumer.close()
        }
    }
}

/// Records the message numbers of every batch, then acks it.
private final class NumberRecordingHandler: DeliveryBatchHandler {
    let numbers = Mutex<[Int]>([])

    func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        self.numbers.withLock { $0 += deliveries.map(MessageBrokerContract.number) }
        try? await consumer.ack(deliveries)
    }
}
