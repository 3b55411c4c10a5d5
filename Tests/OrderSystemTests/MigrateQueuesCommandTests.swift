import AMQPClient
import ArgumentParser
import ClientTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Messaging
import NIOCore
import OrderEvents
import OrderMessaging
import OrderSystemCLI
import RabbitMQMessaging
import ServiceCore
import ServiceLifecycle
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// `ordersystem migrate-queues` against the stack's RabbitMQ: the original's queues (no arguments, holding messages)
/// become our topology with every message kept.
final class MigrateQueuesCommandTests: XCTestCase, @unchecked Sendable {
    private static let queues = [OrderTopology.analyticsQueue, OrderTopology.notificationsQueue]
    private static let messageCount = 50

    override func setUp() async throws {
        try await RabbitMQTestTopology.deleteOrderTopology()
        try await Self.deleteHoldingQueues()
    }

    override func tearDown() async throws {
        // Only when the broker is configured (setUp skipped otherwise).
        guard ProcessInfo.processInfo.environment["RABBITMQ_URL"] != nil else { return }
        try await RabbitMQTestTopology.deleteOrderTopology()
        try await Self.deleteHoldingQueues()
    }

    // MARK: helpers

    private static func deleteHoldingQueues() async throws {
        try await RabbitMQTestTopology.withChannel { channel in
            for queue in Self.queues { _ = try await channel.queueDelete(name: RabbitMQQueueMigration.holdingQueueName(queue)) }
        }
    }

    /// A running `AMQPClient` for `RabbitMQBroker`.
    private static func withClient<T>(_ body: (AMQPClient) async throws -> T) async throws -> T {
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: try RabbitMQTestTopology.url()), logger: testLogger("amqp"))
        return try await withRunning(client) {
            try await client.waitUntilConnected(timeout: .seconds(10))
            return try await body(client)
        }
    }

    private static func event(_ index: Int) -> OrderCreatedEvent {
        OrderCreatedEvent(
            eventID: nil, orderID: "migrated-order-\(index)", customerID: "customer-\(index)",
            productID: "product-\(index % 7)", quantity: 1 + index % 5, totalAmount: Money(cents: Int64(100 + index)),
            status: "pending", createdAt: Timestamp(secondsSinceEpoch: 1_764_000_000 + Int64(index)))
    }

    /// The original's deployment: `orders` topic exchange, both queues durable without arguments, bound with
    /// `order.created`, holding `count` events published as the original did (persistent JSON).
    private static func declareOriginalQueues(count: Int) async throws {
        try await RabbitMQTestTopology.withChannel { channel in
            try await channel.exchangeDeclare(name: OrderTopology.exchange, type: .topic, durable: true)
            for queue in Self.queues {
                _ = try await channel.queueDeclare(name: queue, durable: true)
                try await channel.queueBind(
                    queue: queue, exchange: OrderTopology.exchange, routingKey: OrderTopology.orderCreatedRoutingKey)
            }
            try await channel.confirmSelect()
            let messages = (0..<count).map { index in
                AMQPOutboundMessage(
                    body: ByteBuffer(bytes: Self.event(index).encode()), exchange: OrderTopology.exchange,
                    routingKey: OrderTopology.orderCreatedRoutingKey,
                    properties: AMQPBasicProperties(
                        contentType: "application/json", headers: ["x-index": .int64(Int64(index))],
                        deliveryMode: .persistent, messageID: "message-\(index)", timestamp: UInt64(1_700_000_000 + index),
                        type: OrderCreatedEvent.eventType))
            }
            for result in await channel.publishBatch(messages) { try result.get() }
        }
    }

    private func configuration(_ extra: [String] = []) throws -> SystemConfiguration {
        try MigrateQueuesCommand.parse(
            ["--rabbitmq-url", try RabbitMQTestTopology.url(), "--log-level", "critical"] + extra
        ).resolve(environment: [:])
    }

    private static func exists(_ queue: String) async throws -> Bool {
        do {
            _ = try await RabbitMQTestTopology.withChannel { try await $0.queueDeclare(name: queue, passive: true) }
            return true
        } catch let error as AMQPError where error.replyCode == 404 {
            return false
        }
    }

    // MARK: tests

    func testOriginalQueuesConflictBeforeMigration() async throws {
        try await Self.declareOriginalQueues(count: 1)
        try await Self.withClient { client in
            let broker = RabbitMQBroker(client: client, logger: testLogger("broker"))
            do {
                try await broker.declare(OrderTopology.topology(queues: Self.queues))
                XCTFail("declaring over the original's queues should fail")
            } catch let conflict as TopologyConflict {
                XCTAssertEqual(conflict.queues, Self.queues)
                XCTAssertTrue(conflict.description.contains("ordersystem migrate-queues"), conflict.description)
            }
        }
    }

    func testMigratesOriginalQueuesKeepingEveryMessageThenNothingToDo() async throws {
        try await Self.declareOriginalQueues(count: Self.messageCount)
        let report = try await MigrateQueuesCommand.migrateQueues(configuration: try self.configuration())
        XCTAssertFalse(report.nothingToDo)
        for queue in Self.queues {
            XCTAssertEqual(report[queue]?.migrated, true)
            XCTAssertEqual(report[queue]?.movedOut, Self.messageCount, "\(report)")
            XCTAssertEqual(report[queue]?.movedBack, Self.messageCount, "\(report)")
            let holding = RabbitMQQueueMigration.holdingQueueName(queue)
            let holdingExists = try await Self.exists(holding)
            XCTAssertFalse(holdingExists, "\(holding) left behind")
        }
        // Our topology now declares cleanly (no 406), as the services do at start.
        try await Self.withClient { client in
            try await RabbitMQBroker(client: client, logger: testLogger("broker"))
                .declare(OrderTopology.topology(queues: Self.queues))
        }
        // Every message is there, body and properties intact.
        try await RabbitMQTestTopology.withChannel { channel in
            for queue in Self.queues {
                var seen: Set<String> = []
                while let delivery = try await channel.get(queue: queue, noAck: true) {
                    let id = try XCTUnwrap(delivery.properties.messageID)
                    let index = try XCTUnwrap(Int(id.dropFirst("message-".count)))
                    XCTAssertEqual(Array(delivery.body.readableBytesView), Self.event(index).encode())
                    XCTAssertEqual(delivery.properties.type, OrderCreatedEvent.eventType)
                    XCTAssertEqual(delivery.properties.contentType, "application/json")
                    XCTAssertEqual(delivery.properties.deliveryMode, .persistent)
                    XCTAssertEqual(delivery.properties.timestamp, UInt64(1_700_000_000 + index))
                    XCTAssertEqual(delivery.properties.headers?["x-index"]?.int64Value, Int64(index))
                    seen.insert(id)
                }
                XCTAssertEqual(seen.count, Self.messageCount, queue)
            }
        }
        // A second run finds nothing to do.
        let second = try await MigrateQueuesCommand.migrateQueues(configuration: try self.configuration())
        XCTAssertTrue(second.nothingToDo, "\(second)")
        XCTAssertTrue(second.description.contains("nothing to do"))
    }

    func testRetryQueuesWithOtherDelaysAreFixed() async throws {
        // Our topology with other delays, messages waiting in a retry queue (long TTL: they stay there).
        try await Self.withClient { client in
            try await RabbitMQBroker(client: client, logger: testLogger("broker")).declare(
                OrderTopology.topology(queues: Self.queues, retryDelays: [.seconds(600), .seconds(700), .seconds(800)]))
        }
        try await RabbitMQTestTopology.withChannel { channel in
            try await channel.confirmSelect()
            for index in 0..<5 {
                try await channel.publish(
                    Self.event(index).encode(), exchange: "", routingKey: "analytics.orders.retry.2",
                    properties: AMQPBasicProperties(deliveryMode: .persistent, messageID: "retry-\(index)"))
            }
        }
        let report = try await MigrateQueuesCommand.migrateQueues(
            configuration: try self.configuration(["--retry-delays", "1s,10s,60s"]))
        let analytics = try XCTUnwrap(report[OrderTopology.analyticsQueue], "\(report)")
        XCTAssertFalse(analytics.migrated)
        XCTAssertEqual(analytics.retryQueuesFixed, (1...3).map { "analytics.orders.retry.\($0)" })
        XCTAssertEqual(analytics.movedFromRetryQueues, 5)
        XCTAssertEqual(report[OrderTopology.notificationsQueue]?.retryQueuesFixed.count, 3)
        try await Self.withClient { client in
            let broker = RabbitMQBroker(client: client, logger: testLogger("broker"))
            try await broker.declare(OrderTopology.topology(queues: Self.queues))  // default delays: no conflict
            let inMain = try await broker.messageCount(queue: OrderTopology.analyticsQueue)
            XCTAssertEqual(inMain, 5)
            let inRetry = try await broker.messageCount(queue: "analytics.orders.retry.2")
            XCTAssertEqual(inRetry, 0)
        }
    }

    func testRefusesQueueWithConsumers() async throws {
        try await Self.declareOriginalQueues(count: 3)
        let connection = try await AMQPConnection.connect(
            configuration: try AMQPConnectionConfiguration(url: try RabbitMQTestTopology.url()), logger: testLogger("amqp"))
        let channel = try await connection.openChannel()
        try await channel.basicQos(prefetchCount: 1)
        // Kept alive until the end: a consumer dropped unread cancels itself.
        let consumer = try await channel.consume(queue: OrderTopology.analyticsQueue)
        do {
            _ = try await MigrateQueuesCommand.migrateQueues(configuration: try self.configuration())
            XCTFail("a queue with consumers must not be replaced")
        } catch let failure as RabbitMQQueueMigration.Failure {
            XCTAssertTrue(failure.description.contains("stop the services"), failure.description)
        }
        withExtendedLifetime(consumer) {}
        try await connection.close()
        // Nothing was touched: the original's messages are all still there.
        let counts = try await RabbitMQTestTopology.withChannel { channel in
            try await Self.queues.asyncMap { try await channel.queueDeclare(name: $0, passive: true).messageCount }
        }
        XCTAssertEqual(counts, [3, 3])
    }

    /// A run interrupted after the original queue was emptied and deleted (messages only in the holding queue) is
    /// finished by the next run.
    func testResumesInterruptedRun() async throws {
        let queue = OrderTopology.analyticsQueue
        let holding = RabbitMQQueueMigration.holdingQueueName(queue)
        try await RabbitMQTestTopology.withChannel { channel in
            _ = try await channel.queueDeclare(name: holding, durable: true)
            try await channel.confirmSelect()
            for index in 0..<7 {
                try await channel.publish(
                    Self.event(index).encode(), exchange: "", routingKey: holding,
                    properties: AMQPBasicProperties(deliveryMode: .persistent, messageID: "message-\(index)"))
            }
        }
        let report = try await MigrateQueuesCommand.migrateQueues(configuration: try self.configuration())
        XCTAssertEqual(report[queue]?.movedOut, 0, "\(report)")
        XCTAssertEqual(report[queue]?.movedBack, 7, "\(report)")
        XCTAssertNil(report[OrderTopology.notificationsQueue], "\(report)")
        let holdingExists = try await Self.exists(holding)
        XCTAssertFalse(holdingExists)
        let count = try await RabbitMQTestTopology.withChannel { try await $0.queueDeclare(name: queue, passive: true).messageCount }
        XCTAssertEqual(count, 7)
    }

    /// After the migration the services start on RabbitMQ and analytics counts the 50 migrated events.
    func testServicesConsumeMigratedEvents() async throws {
        try await Self.declareOriginalQueues(count: Self.messageCount)
        _ = try await MigrateQueuesCommand.migrateQueues(configuration: try self.configuration())
        let directory = try TemporaryDirectory(prefix: "ordersystem-migrate-queues")
        defer { directory.remove() }
        var configuration = try AllCommand.parse([
            "--data-dir", directory.path, "--order-port", "0", "--analytics-port", "0", "--notification-port", "0",
            "--hostname", "127.0.0.1", "--broker", "rabbitmq", "--rabbitmq-url", try RabbitMQTestTopology.url(),
        ]).resolve(environment: [:])
        configuration.logLevel = .critical
        let analyticsPort = Mutex(0)
        let services = try await EmbeddedSystem.makeServices(configuration: configuration) { name, port in
            if name == .analytics { analyticsPort.withLock { $0 = port } }
        }
        let group = ServiceGroup(configuration: .init(services: services, logger: testLogger("system")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let started = await eventually { analyticsPort.withLock { $0 } != 0 }
                XCTAssertTrue(started)
                let client = TestClient(
                    host: "127.0.0.1", port: analyticsPort.withLock { $0 }, configuration: .init(timeout: .seconds(10)))
                client.connect()
                let counted = try await eventually {
                    let response = try await client.get("/analytics/summary")
                    let summary = try JSONReader.parse(Array((response.body ?? ByteBuffer()).readableBytesView))
                    return summary["total_orders"] == .number("\(Self.messageCount)")
                }
                XCTAssertTrue(counted, "analytics did not count the migrated events")
                try await client.shutdown()
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Before the migration a 406 does not stop the services: they start on the original's queues, say what to do in
    /// `/health` (the order service `degraded`, the consumers `unhealthy` on `mq`), keep taking orders, and analytics
    /// still consumes the original queue.
    func testServicesKeepRunningOnTheOriginalQueuesAndSayWhatToDo() async throws {
        try await Self.declareOriginalQueues(count: Self.messageCount)
        let directory = try TemporaryDirectory(prefix: "ordersystem-conflict")
        defer { directory.remove() }
        var configuration = try AllCommand.parse([
            "--data-dir", directory.path, "--order-port", "0", "--analytics-port", "0", "--notification-port", "0",
            "--hostname", "127.0.0.1", "--broker", "rabbitmq", "--rabbitmq-url", try RabbitMQTestTopology.url(),
        ]).resolve(environment: [:])
        configuration.logLevel = .critical
        try await withRunningSystem(configuration) { ports, _ in
            let orders = TestClient(host: "127.0.0.1", port: ports[.order], configuration: .init(timeout: .seconds(10)))
            let analytics = TestClient(host: "127.0.0.1", port: ports[.analytics], configuration: .init(timeout: .seconds(10)))
            orders.connect()
            analytics.connect()
            func json(_ response: TestClient.Response) throws -> JSONValue {
                try JSONReader.parse(Array((response.body ?? ByteBuffer()).readableBytesView))
            }
            let orderHealth = try await orders.get("/health")
            XCTAssertEqual(orderHealth.status, .ok)
            XCTAssertEqual(try json(orderHealth)["status"], .string("degraded"))
            XCTAssertTrue(try json(orderHealth)["checks"]?["mq"]?.stringValue?.contains("migrate-queues") ?? false)
            let analyticsHealth = try await analytics.get("/health")
            XCTAssertEqual(analyticsHealth.status, .serviceUnavailable)
            XCTAssertTrue(try json(analyticsHealth)["checks"]?["mq"]?.stringValue?.contains("migrate-queues") ?? false)

            let created = try await orders.post(
                "/orders", body: ByteBuffer(string: #"{"customer_id":"c","product_id":"p","quantity":1,"total_amount":1}"#)
            )
            XCTAssertEqual(created.status, .created)
            let counted = try await eventually {
                let summary = try json(try await analytics.get("/analytics/summary"))
                return summary["total_orders"] == .number("\(Self.messageCount + 1)")
            }
            XCTAssertTrue(counted, "the original queue's events and the new order are counted")
            try await orders.shutdown()
            try await analytics.shutdown()
        }
    }
}

extension Array where Element: Sendable {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
