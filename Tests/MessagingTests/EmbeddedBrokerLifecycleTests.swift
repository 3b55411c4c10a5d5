import EmbeddedMessaging
import Logging
import Messaging
import SQLiteStorage
import TestSupport
import XCTest

/// The embedded broker as a Service: its `run()` owns the scheduler that returns retried messages, `shutdown()`
/// ends it, and so does a graceful shutdown of its service group, which then shuts the broker down.
final class EmbeddedBrokerLifecycleTests: XCTestCase {
    private static let queue = "work"
    private static let topology = BrokerTopology(
        exchange: "orders", deadLetterExchange: "orders.dlx",
        queues: [.init(name: queue, bindingKeys: ["order.created"], retryDelays: [.milliseconds(10)])]
    )

    /// A declared broker on a fresh file, not running; closed (and its folder removed) after `body`.
    private func withBroker(_ body: (EmbeddedBroker) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try await SQLiteFileDatabase.open(path: directory.file("broker.sqlite"), logger: testLogger())
        let broker = try await EmbeddedBroker.open(database: database, logger: testLogger())
        do {
            try await broker.declare(Self.topology)
            try await body(broker)
        } catch {
            await broker.shutdown()
            await database.close()
            throw error
        }
        await broker.shutdown()
        await database.close()
    }

    private static func message(_ number: Int) -> OutgoingMessage {
        OutgoingMessage(
            exchange: "orders", routingKey: "order.created", body: Array("\(number)".utf8),
            properties: MessageProperties(contentType: "text/plain", messageID: "m-\(number)"))
    }

    func testRetryMadeBeforeRunStartsComesBackOnceRunRuns() async throws {
        try await withBroker { broker in
            _ = await broker.publish([Self.message(1)])
            let consumer = try await broker.consume(queue: Self.queue, prefetch: 10)
            let first = try await MessageBrokerContract.receive(from: consumer, count: 1, patience: .seconds(10))
            try await consumer.retry(first[0], level: 1)

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await broker.run() }
                let back = try await MessageBrokerContract.receive(from: consumer, count: 1, patience: .seconds(10))
                XCTAssertEqual(back.first?.retryCount, 1)
                try await consumer.ack(back)
                await broker.shutdown()
                // run() returns once shut down: the group ends instead of waiting for it forever.
                try await group.waitForAll()
            }
        }
    }

    func testShutdownEndsRunAndWakesWaitingConsumers() async throws {
        try await withBroker { broker in
            let consumer = try await broker.consume(queue: Self.queue, prefetch: 10)
            let woken = try await withThrowingTaskGroup(of: [Delivery]?.self) { group in
                group.addTask {
                    await broker.run()
                    return []
                }
                group.addTask { try await consumer.next(limit: 10) }
                await broker.shutdown()
                return try await group.reduce(into: [[Delivery]?]()) { $0.append($1) }
            }
            XCTAssertEqual(woken.count, 2, "both run() and next() returned")
            XCTAssertTrue(woken.contains { $0 == nil }, "next() returned nil")
        }
    }

    func testGracefulShutdownOfItsServiceGroupShutsTheBrokerDown() async throws {
        try await withBroker { broker in
            try await withRunningServices([broker]) {
                let outcomes = await broker.publish([Self.message(1)])
                XCTAssertEqual(outcomes, [.confirmed])
            }
            let afterwards = await broker.publish([Self.message(2)])
            XCTAssertNotEqual(afterwards, [.confirmed], "the broker still took work after its service group ended")
            await XCTAssertThrowsErrorAsync { try await broker.checkHealth() }
        }
    }

    func testRunReturnsAtOnceWhenTheBrokerIsShutDownAlready() async throws {
        try await withBroker { broker in
            await broker.shutdown()
            await broker.run()
        }
    }

    /// A publish whose task is cancelled while it writes leaves the file usable: the transaction is rolled back
    /// even though the task is cancelled, and the next publish is stored (it used to fail for good with "cannot
    /// start a transaction within a transaction").
    func testAPublishCancelledWhileWritingLeavesTheBrokerUsable() async throws {
        try await self.withBroker { broker in
            for round in 0..<20 {
                let publishing = Task { await broker.publish((0..<50).map { Self.message(round * 100 + $0) }) }
                try await Task.sleep(for: .microseconds(200 * (round % 5)))
                publishing.cancel()
                _ = await publishing.value
            }
            let outcomes = await broker.publish([Self.message(9999)])
            XCTAssertEqual(outcomes, [.confirmed], "the broker still stores after cancelled writes")
        }
    }
}

private func XCTAssertThrowsErrorAsync(
    _ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        try await body()
        XCTFail("expected an error", file: file, line: line)
    } catch {}
}
