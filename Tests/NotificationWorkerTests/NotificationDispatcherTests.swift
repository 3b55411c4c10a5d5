import ClientTestSupport
import EmbeddedMessaging
import Logging
import Messaging
import NotificationStorage
import NotificationWorker
import OrderEvents
import OrderMessaging
import SQLiteStorage
import ServiceCore
import ServiceLifecycle
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// A provider that records every send and fails according to a script.
final class ScriptedSender: NotificationSender {
    enum Behaviour: Sendable {
        case succeed
        /// Fails the first `count` sends of each (order, channel), then succeeds.
        case failFirst(Int)
        case alwaysFail
        case refusePermanently
    }

    private let behaviour: Behaviour
    private let latency: Duration
    private let attempts = Mutex<[String: Int]>([:])
    private let delivered = Mutex<[String]>([])

    init(_ behaviour: Behaviour, latency: Duration = .zero) {
        self.behaviour = behaviour
        self.latency = latency
    }

    var sent: [String] { self.delivered.withLock { $0 } }

    func attempts(orderID: String, channel: NotificationChannel) -> Int {
        self.attempts.withLock { $0["\(orderID)/\(channel.rawValue)"] ?? 0 }
    }

    func send(_ notification: NotificationMessage) async throws {
        let key = "\(notification.orderID)/\(notification.channel.rawValue)"
        let attempt = self.attempts.withLock { attempts -> Int in
            attempts[key, default: 0] += 1
            return attempts[key]!
        }
        if self.latency > .zero { try await Task.sleep(for: self.latency) }
        switch self.behaviour {
        case .succeed:
            break
        case .failFirst(let count) where attempt <= count:
            throw NotificationSendError(reason: "provider busy (test)")
        case .failFirst:
            break
        case .alwaysFail:
            throw NotificationSendError(reason: "provider down (test)")
        case .refusePermanently:
            throw NotificationSendError(reason: "invalid address (test)", isPermanent: true)
        }
        self.delivered.withLock { $0.append(key) }
    }
}

final class NotificationDispatcherTests: XCTestCase, @unchecked Sendable {
    private var directory: TemporaryDirectory!
    private var broker: TestBroker!
    private var record: SQLiteNotificationRecord?

    override func setUp() async throws {
        self.directory = try TemporaryDirectory()
        self.broker = try await TestBroker.open(path: self.directory.file("broker.sqlite"))
    }

    override func tearDown() async throws {
        await self.record?.close()
        await self.broker.close()
        self.directory.remove()
    }

    private func makeWorker(
        sender: any NotificationSender,
        maxAttempts: Int = 3,
        broker: (any MessageBroker)? = nil
    ) async throws -> (service: any Service, statistics: WorkerStatistics) {
        var configuration = NotificationWorkerConfiguration()
        configuration.port = 0
        configuration.maxAttempts = maxAttempts
        configuration.retryDelays = [.milliseconds(20), .milliseconds(40), .milliseconds(60)]
        let record = try await SQLiteNotificationRecord.open(
            path: self.directory.file("notifications.sqlite"), durability: .normal, logger: testLogger("record")
        )
        self.record = record
        let registry = ServiceMetrics()
        let statistics = WorkerStatistics(registry: registry, queue: OrderTopology.notificationsQueue)
        let app = try await buildNotificationWorker(
            configuration: configuration,
            backends: NotificationWorkerBackends(record: record, sender: sender, broker: broker ?? self.broker.broker),
            metrics: registry,
            statistics: statistics,
            logger: testLogger("worker")
        )
        return (app, statistics)
    }

    private func publish(_ events: [OrderCreatedEvent]) async throws {
        let outcomes = await self.broker.broker.publish(events.map { $0.message() })
        XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: events.count))
    }

    private func event() -> OrderCreatedEvent {
        OrderCreatedEvent(
            eventID: Identifier.random(), orderID: Identifier.random(), customerID: "customer", productID: "product",
            quantity: 1, totalAmount: Money(cents: 500), status: "pending", createdAt: .now()
        )
    }

    func testEachEventSendsOneEmailAndOneSMS() async throws {
        let sender = ScriptedSender(.succeed)
        let (worker, statistics) = try await self.makeWorker(sender: sender)
        let events = (0..<20).map { _ in self.event() }
        try await withRunningServices([worker]) {
            try await self.publish(events)
            let done = await eventually { statistics.eventsProcessed == 20 }
            XCTAssertTrue(done)
        }
        XCTAssertEqual(sender.sent.count, 40)
        XCTAssertEqual(statistics.sent(.email), 20)
        XCTAssertEqual(statistics.sent(.sms), 20)
        let left = try await self.broker.broker.messageCount(queue: OrderTopology.notificationsQueue)
        XCTAssertEqual(left, 0)
    }

    func testRedeliveredEventDoesNotNotifyTwice() async throws {
        let sender = ScriptedSender(.succeed)
        let (worker, statistics) = try await self.makeWorker(sender: sender)
        let event = self.event()
        try await withRunningServices([worker]) {
            try await self.publish([event])
            let first = await eventually { statistics.eventsProcessed == 1 }
            XCTAssertTrue(first)
            try await self.publish([event])
            let second = await eventually { statistics.eventsProcessed == 2 }
            XCTAssertTrue(second)
        }
        XCTAssertEqual(sender.sent.count, 2, "one email and one SMS, not four")
        XCTAssertEqual(statistics.duplicatesSkipped, 2)
    }

    func testTransientFailureIsRetriedThenSucceeds() async throws {
        let sender = ScriptedSender(.failFirst(1))
        let (worker, statistics) = try await self.makeWorker(sender: sender, maxAttempts: 3)
        let event = self.event()
        try await withRunningServices([worker]) {
            try await self.publish([event])
            let done = await eventually { statistics.eventsProcessed == 1 }
            XCTAssertTrue(done)
        }
        XCTAssertEqual(sender.attempts(orderID: event.orderID, channel: .email), 2)
        XCTAssertEqual(sender.attempts(orderID: event.orderID, channel: .sms), 2)
        XCTAssertEqual(Set(sender.sent), ["\(event.orderID)/email", "\(event.orderID)/sms"])
        XCTAssertEqual(statistics.retries, 2, "one retry for the email failure, one for the SMS failure")
        XCTAssertEqual(statistics.deadLetters, 0)
    }

    func testPersistentFailureIsDeadLetteredAfterMaxAttempts() async throws {
        let sender = ScriptedSender(.alwaysFail)
        let (worker, statistics) = try await self.makeWorker(sender: sender, maxAttempts: 3)
        let event = self.event()
        try await withRunningServices([worker]) {
            try await self.publish([event])
            let dead = try await eventually {
                try await self.broker.broker.messageCount(queue: "notifications.orders.dlq") == 1
            }
            XCTAssertTrue(dead)
        }
        XCTAssertEqual(sender.attempts(orderID: event.orderID, channel: .email), 3)
        XCTAssertEqual(statistics.retries, 2)
        XCTAssertEqual(statistics.deadLetters, 1)
        let dead = try await self.broker.broker.peek(queue: "notifications.orders.dlq", limit: 1)
        XCTAssertEqual(dead.first.map { try? OrderCreatedEvent.decode($0.body) }??.orderID, event.orderID)
        XCTAssertTrue(dead.first?.properties.headers[MessageHeaders.deathReason]?.contains("after 3 attempts") ?? false)
    }

    func testPermanentRefusalIsDeadLetteredAtOnce() async throws {
        let sender = ScriptedSender(.refusePermanently)
        let (worker, statistics) = try await self.makeWorker(sender: sender, maxAttempts: 5)
        try await withRunningServices([worker]) {
            try await self.publish([self.event()])
            let dead = await eventually { statistics.deadLetters == 1 }
            XCTAssertTrue(dead)
        }
        XCTAssertEqual(statistics.retries, 0)
    }

    func testPoisonMessageIsDeadLetteredAndTheWorkerGoesOn() async throws {
        let sender = ScriptedSender(.succeed)
        let (worker, statistics) = try await self.makeWorker(sender: sender)
        try await withRunningServices([worker]) {
            _ = await self.broker.broker.publish([
                OutgoingMessage(
                    exchange: OrderTopology.exchange, routingKey: OrderTopology.orderCreatedRoutingKey,
                    body: Array("{broken".utf8), properties: MessageProperties()
                )
            ])
            try await self.publish([self.event()])
            let done = await eventually { statistics.eventsProcessed == 1 && statistics.deadLetters == 1 }
            XCTAssertTrue(done)
        }
        let dead = try await self.broker.broker.messageCount(queue: "notifications.orders.dlq")
        XCTAssertEqual(dead, 1)
    }

    func testARedeliveryBesideItsOriginalInOneBatchSendsOneEmailAndOneSMS() async throws {
        // The provider takes a while: processed side by side, both copies would find nothing recorded and both send.
        let sender = ScriptedSender(.succeed, latency: .milliseconds(30))
        let (worker, statistics) = try await self.makeWorker(sender: sender)
        let events = (0..<5).map { _ in self.event() }
        // Published before the worker starts, so each original and its copy arrive in the same batch.
        try await self.publish(events + events)
        try await withRunningServices([worker]) {
            let done = await eventually { statistics.eventsProcessed == 5 }
            XCTAssertTrue(done)
            let settled = try await eventually {
                try await self.broker.broker.messageCount(queue: OrderTopology.notificationsQueue) == 0
            }
            XCTAssertTrue(settled)
        }
        XCTAssertEqual(sender.sent.count, 10, "one email and one SMS per order: \(sender.sent)")
        XCTAssertEqual(Set(sender.sent).count, 10)
        XCTAssertEqual(statistics.duplicatesSkipped, 10, "both channels of each copy counted as skipped")
    }

    func testHostileEventsAreDeadLetteredWithTheirReasonAndTheOthersSent() async throws {
        let sender = ScriptedSender(.succeed)
        let (worker, statistics) = try await self.makeWorker(sender: sender)
        let corpus = try HostileEvent.load(tag: "worker")
        let hostile = corpus.filter { !$0.isValid }
        let valid = corpus.filter(\.isValid)
        let outcomes = await self.broker.broker.publish(corpus.map {
            OutgoingMessage(
                exchange: OrderTopology.exchange, routingKey: OrderTopology.orderCreatedRoutingKey, body: $0.body,
                properties: MessageProperties(contentType: "application/json"))
        })
        XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: corpus.count))
        try await withRunningServices([worker]) {
            let done = await eventually { statistics.eventsProcessed == valid.count && statistics.deadLetters == hostile.count }
            XCTAssertTrue(done, "processed \(statistics.eventsProcessed), dead-lettered \(statistics.deadLetters)")
        }
        XCTAssertEqual(sender.sent.count, 2 * valid.count)
        let dead = try await self.broker.broker.peek(queue: "notifications.orders.dlq", limit: 100)
        XCTAssertEqual(dead.count, hostile.count)
        for entry in hostile {
            let reasons = dead.filter { $0.body == entry.body }.compactMap { $0.properties.headers[MessageHeaders.deathReason] }
            XCTAssertEqual(reasons.count, 1, entry.name)
            XCTAssertTrue(reasons.first?.contains(entry.reason ?? "") ?? false, "\(entry.name): \(reasons)")
        }
    }

    func testAFailedDeadLetterForwardIsRetriedWithoutLeakingThePrefetchSlot() async throws {
        let sender = ScriptedSender(.succeed)
        let flaky = FlakyBroker(wrapping: self.broker.broker)
        flaky.forwardFailures = 2
        var configuration = NotificationWorkerConfiguration()
        configuration.port = 0
        configuration.prefetch = 1
        let record = try await SQLiteNotificationRecord.open(
            path: self.directory.file("notifications.sqlite"), durability: .normal, logger: testLogger("record"))
        self.record = record
        let registry = ServiceMetrics()
        let statistics = WorkerStatistics(registry: registry, queue: OrderTopology.notificationsQueue)
        let worker = try await buildNotificationWorker(
            configuration: configuration,
            backends: NotificationWorkerBackends(record: record, sender: sender, broker: flaky),
            metrics: registry, statistics: statistics, logger: testLogger("worker"))
        // A poison message first, then a valid event: with one prefetch slot, the event can only come once the poison
        // message is settled.
        _ = await self.broker.broker.publish([
            OutgoingMessage(
                exchange: OrderTopology.exchange, routingKey: OrderTopology.orderCreatedRoutingKey,
                body: Array("{broken".utf8), properties: MessageProperties())
        ])
        try await self.publish([self.event()])
        try await withRunningServices([worker]) {
            let done = await eventually { statistics.eventsProcessed == 1 && statistics.deadLetters == 1 }
            XCTAssertTrue(done, "processed \(statistics.eventsProcessed), dead-lettered \(statistics.deadLetters)")
        }
        XCTAssertEqual(flaky.forwardFailures, 0, "both refused forwards were tried again")
        let dead = try await self.broker.broker.messageCount(queue: "notifications.orders.dlq")
        XCTAssertEqual(dead, 1)
        let metrics = String(decoding: registry.render(), as: UTF8.self)
        XCTAssertTrue(metrics.contains("broker_errors_total 2"), metrics)
    }
}
