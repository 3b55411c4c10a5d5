import ArgumentParser
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import OrderEvents
import OrderSystemCLI
import ServiceRuntime
import TestSupport
import XCTest

/// `ordersystem all` in the embedded mode (SQLite stores, embedded broker), fed what another producer with access to
/// the broker could publish: the hostile corpus shared with `scripts/faults`, and an order delivered twice together.
final class HostileInputTests: XCTestCase, @unchecked Sendable {
    private var directory: TemporaryDirectory!

    override func setUp() async throws {
        self.directory = try TemporaryDirectory(prefix: "ordersystem-hostile")
    }

    override func tearDown() async throws {
        self.directory.remove()
    }

    private func configuration() throws -> SystemConfiguration {
        var configuration = try AllCommand.parse([
            "--data-dir", self.directory.path, "--order-port", "0", "--analytics-port", "0", "--notification-port", "0",
            "--hostname", "127.0.0.1", "--retry-delays", "50ms,100ms,200ms",
        ]).resolve(environment: [:])
        configuration.logLevel = .critical
        return configuration
    }

    private func client(_ port: Int) -> TestClient {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(30)))
        client.connect()
        return client
    }

    private func json(_ response: TestClient.Response) throws -> JSONValue {
        try JSONReader.parse(Array((response.body ?? ByteBuffer()).readableBytesView))
    }

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
        try await withRunningSystem(try self.configuration()) { ports, _ in
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
