import ClientTestSupport
import EmbeddedMessaging
import Messaging
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

final class QueueConsumerServiceTests: XCTestCase {
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
        let running = BackgroundService(service)
        let done = await eventually { handler.sizes.withLock { $0.reduce(0, +) } == 40 }
        await running.stop()
        await broker.close()
        let sizes = handler.sizes.withLock { $0 }
        XCTAssertTrue(done, "every message handled: \(sizes)")
        XCTAssertLessThanOrEqual(sizes.max() ?? 0, 4, "no batch above the limit: \(sizes)")
        XCTAssertGreaterThan(sizes.filter { $0 == 4 }.count, 1, "full batches while more were prefetched: \(sizes)")
    }
}
