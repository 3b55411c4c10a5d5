import Messaging
import XCTest

/// What every ``MessageBroker`` must do, run against the embedded broker and RabbitMQ alike, and the helpers both
/// broker test suites read deliveries with. Each check expects `queue` declared, empty and bound to the messages
/// `message` makes; messages carry their number as the body.
struct MessageBrokerContract {
    let broker: any MessageBroker
    let queue: String
    let message: (Int) -> OutgoingMessage
    /// How long a delivery that should come is waited for before the check fails.
    let patience: Duration
    /// How long a competing consumer waits for more before it counts the stream as done.
    let idle: Duration
    /// How long consumers get to subscribe before the test publishes.
    let settle: Duration

    // MARK: Helpers

    @Sendable static func number(_ delivery: Delivery) -> Int {
        Int(String(decoding: delivery.body, as: UTF8.self)) ?? -1
    }

    /// `next`, raced against a sleep: nil when nothing came within `timeout` (the losing `next` is cancelled).
    static func next(
        from consumer: any MessageConsumer, limit: Int, within timeout: Duration
    ) async throws -> [Delivery]? {
        try await withThrowingTaskGroup(of: [Delivery]?.self) { group in
            group.addTask { try await consumer.next(limit: limit) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Exactly `count` deliveries; fails the test when a batch does not come within `patience`.
    static func receive(
        from consumer: any MessageConsumer, count: Int, patience: Duration, file: StaticString = #filePath,
        line: UInt = #line
    ) async throws -> [Delivery] {
        var received: [Delivery] = []
        while received.count < count {
            guard let batch = try await Self.next(from: consumer, limit: count - received.count, within: patience) else {
                XCTFail("received \(received.count) of \(count) deliveries", file: file, line: line)
                throw CancellationError()
            }
            received += batch
        }
        return received
    }

    // MARK: Checks

    func deliveriesComeInPublishOrder() async throws {
        _ = await self.broker.publish((1...5).map(self.message))
        _ = await self.broker.publish((6...10).map(self.message))
        let consumer = try await self.broker.consume(queue: self.queue, prefetch: 100)

        let received = try await Self.receive(from: consumer, count: 10, patience: self.patience)

        XCTAssertEqual(received.map(Self.number), Array(1...10))
        XCTAssertTrue(received.allSatisfy { !$0.redelivered })
        try await consumer.ack(received)
        await consumer.close()
    }

    func competingConsumersGetDisjointMessagesThatTogetherAreAll() async throws {
        let consumers = [
            try await self.broker.consume(queue: self.queue, prefetch: 5),
            try await self.broker.consume(queue: self.queue, prefetch: 5),
        ]
        let idle = self.idle
        let received = try await withThrowingTaskGroup(of: [Int].self) { group in
            for consumer in consumers {
                group.addTask {
                    var numbers: [Int] = []
                    while let batch = try await Self.next(from: consumer, limit: 2, within: idle) {
                        numbers += batch.map(Self.number)
                        try await consumer.ack(batch)
                    }
                    return numbers
                }
            }
            // Both consumers wait before anything is published, so both get a share.
            try await Task.sleep(for: self.settle)
            _ = await self.broker.publish((1...40).map(self.message))
            return try await group.reduce(into: []) { $0.append($1) }
        }

        XCTAssertEqual(received.count, 2)
        XCTAssertFalse(received[0].isEmpty)
        XCTAssertFalse(received[1].isEmpty)
        XCTAssertTrue(Set(received[0]).isDisjoint(with: received[1]))
        XCTAssertEqual((received[0] + received[1]).sorted(), Array(1...40))
        for consumer in consumers { await consumer.close() }
    }
}
