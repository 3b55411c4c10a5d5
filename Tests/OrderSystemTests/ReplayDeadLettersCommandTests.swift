import AMQPClient
import ArgumentParser
import Foundation
import NIOCore
import OrderSystemCLI
import RabbitMQMessaging
import TestSupport
import XCTest

/// `ordersystem replay-dlq` against the stack's RabbitMQ: dead letters go back to their queue, oldest first, without
/// the headers dead-lettering added, and nothing is lost.
final class ReplayDeadLettersCommandTests: XCTestCase, @unchecked Sendable {
    override func setUp() async throws {
        try await RabbitMQTestTopology.deleteOrderTopology()
        try await RabbitMQTestTopology.withChannel { channel in
            for queue in ["analytics.orders", "notifications.orders"] {
                _ = try await channel.queueDeclare(name: queue, durable: true)
                _ = try await channel.queueDeclare(name: "\(queue).dlq", durable: true)
            }
        }
    }

    override func tearDown() async throws {
        guard ProcessInfo.processInfo.environment["RABBITMQ_URL"] != nil else { return }
        try await RabbitMQTestTopology.deleteOrderTopology()
    }

    private func configuration() throws -> SystemConfiguration {
        try MigrateQueuesCommand.parse(["--rabbitmq-url", try RabbitMQTestTopology.url(), "--log-level", "critical"])
            .resolve(environment: [:])
    }

    /// Dead-letters `count` messages into `queue`.dlq as the broker would: our headers, RabbitMQ's, and the
    /// application's own `trace` header.
    private func deadLetter(_ count: Int, into queue: String) async throws {
        try await RabbitMQTestTopology.withChannel { channel in
            for index in 0..<count {
                let headers: AMQPFieldTable = [
                    "x-retry-count": .string("5"), "x-death-reason": .string("send failed"),
                    "x-first-death-queue": .string(queue), "trace": .string("trace-\(index)"),
                ]
                try await channel.publish(
                    Array("message-\(index)".utf8), exchange: "", routingKey: "\(queue).dlq",
                    properties: AMQPBasicProperties(contentType: "application/json", headers: headers, messageID: "id-\(index)")
                )
            }
        }
    }

    private func drain(_ queue: String) async throws -> [AMQPDelivery] {
        try await RabbitMQTestTopology.withChannel { channel in
            var deliveries: [AMQPDelivery] = []
            while let delivery = try await channel.get(queue: queue, noAck: true) { deliveries.append(delivery) }
            return deliveries
        }
    }

    func testDryRunOnlyCounts() async throws {
        try await self.deadLetter(3, into: "analytics.orders")
        let lines = try await ReplayDeadLettersCommand.replay(
            queues: ReplayDeadLettersCommand.queues, limit: .max, dryRun: true, configuration: try self.configuration()
        )
        XCTAssertEqual(lines, ["analytics.orders.dlq: 3 message(s) waiting", "notifications.orders.dlq: 0 message(s) waiting"])
        let stillDead = try await self.drain("analytics.orders.dlq")
        XCTAssertEqual(stillDead.count, 3)
    }

    func testReplayMovesOldestFirstWithoutDeathHeadersUpToTheLimit() async throws {
        try await self.deadLetter(5, into: "notifications.orders")
        let first = try await ReplayDeadLettersCommand.replay(
            queues: ["notifications.orders"], limit: 2, dryRun: false, configuration: try self.configuration()
        )
        XCTAssertEqual(first, ["notifications.orders.dlq: moved 2 message(s) back to notifications.orders"])
        let rest = try await ReplayDeadLettersCommand.replay(
            queues: ["notifications.orders"], limit: .max, dryRun: false, configuration: try self.configuration()
        )
        XCTAssertEqual(rest, ["notifications.orders.dlq: moved 3 message(s) back to notifications.orders"])

        let replayed = try await self.drain("notifications.orders")
        XCTAssertEqual(replayed.map { String(buffer: $0.body) }, (0..<5).map { "message-\($0)" }, "oldest first, none lost")
        for delivery in replayed {
            let headers = delivery.properties.headers ?? [:]
            for name in RabbitMQDeadLetters.deathHeaders {
                XCTAssertNil(headers[name], "\(name) is gone, so retries start over")
            }
            XCTAssertNotNil(headers["trace"], "the application's own headers stay")
            XCTAssertEqual(delivery.properties.contentType, "application/json")
            XCTAssertEqual(delivery.properties.deliveryMode, .persistent)
        }
        XCTAssertEqual(replayed.first?.properties.messageID, "id-0")
        let dead = try await self.drain("notifications.orders.dlq")
        XCTAssertTrue(dead.isEmpty)
    }

    func testUnknownQueueIsAUsageError() throws {
        XCTAssertThrowsError(try ReplayDeadLettersCommand.parse(["orders.everything"]))
        XCTAssertThrowsError(try ReplayDeadLettersCommand.parse(["all", "--limit", "0"]))
        XCTAssertNoThrow(try ReplayDeadLettersCommand.parse(["all", "--dry-run"]))
    }
}
