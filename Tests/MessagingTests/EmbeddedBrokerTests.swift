import EmbeddedMessaging
import Foundation
import Logging
import Messaging
import SQLiteStorage
import ServiceRuntime
import TestSupport
import XCTest

/// The embedded broker against a real SQLite file per test, in a fresh temporary directory removed afterwards.
/// Retry delays are milliseconds, so the whole file runs in about a second.
final class EmbeddedBrokerTests: XCTestCase {
    // MARK: Routing and publishing

    func testTopicExchangeFansOutToEveryMatchingQueue() async throws {
        try await withFixture { fixture in
            let outcomes = await fixture.broker.publish([Self.message(1)])

            XCTAssertEqual(outcomes, [.confirmed])
            let analytics = try await fixture.broker.messageCount(queue: Self.analytics)
            let notifications = try await fixture.broker.messageCount(queue: Self.notifications)
            XCTAssertEqual(analytics, 1)
            XCTAssertEqual(notifications, 1)
            let consumer = try await fixture.broker.consume(queue: Self.notifications, prefetch: 10)
            let received = try await Self.receive(from: consumer, count: 1)
            XCTAssertEqual(received.map(\.queue), [Self.notifications])
            XCTAssertEqual(received.map(\.routingKey), ["order.created"])
        }
    }

    func testMessageMatchingNoBindingIsUnroutableAndNotStored() async throws {
        try await withFixture { fixture in
            // notifications binds `order.*`: one word only, so `order.created.v2` matches nothing.
            let outcomes = await fixture.broker.publish([Self.message(1, routingKey: "order.created.v2"), Self.message(2)])

            guard case .unroutable(let reason) = outcomes.first else {
                return XCTFail("a message that reached no queue must not be confirmed: \(outcomes)")
            }
            XCTAssertTrue(reason.contains("order.created.v2"), reason)
            XCTAssertEqual(outcomes.last, .confirmed, "the routable message of the same batch is confirmed")
            let analytics = try await fixture.broker.messageCount(queue: Self.analytics)
            let notifications = try await fixture.broker.messageCount(queue: Self.notifications)
            XCTAssertEqual(analytics + notifications, 2, "only the routable message is stored")
        }
    }

    func testNothingIsStoredForABatchOfUnroutableMessages() async throws {
        try await withFixture { fixture in
            let outcomes = await fixture.broker.publish([Self.message(1, routingKey: "order.created.v2")])

            XCTAssertEqual(outcomes.map(\.failureReason?.isEmpty), [false])
            let analytics = try await fixture.broker.messageCount(queue: Self.analytics)
            let notifications = try await fixture.broker.messageCount(queue: Self.notifications)
            XCTAssertEqual(analytics + notifications, 0)
        }
    }

    func testPublishReturnsOneOutcomePerMessageInOrderAndOnlyTheUnknownExchangeIsUnroutable() async throws {
        try await withFixture { fixture in
            var stray = Self.message(2)
            stray.exchange = "payments"

            let outcomes = await fixture.broker.publish([Self.message(1), stray, Self.message(3)])

            XCTAssertEqual(outcomes.count, 3)
            XCTAssertEqual(outcomes[0], .confirmed)
            guard case .unroutable(let reason) = outcomes[1] else { return XCTFail("expected .unroutable, got \(outcomes[1])") }
            XCTAssertTrue(reason.contains("payments"), reason)
            XCTAssertEqual(outcomes[2], .confirmed)
            let count = try await fixture.broker.messageCount(queue: Self.analytics)
            XCTAssertEqual(count, 2)
        }
    }

    func testDeclareIsAdditiveAcrossServicesAndIdempotent() async throws {
        try await withFixture(declare: false) { fixture in
            let exchangeOnly = BrokerTopology(exchange: "orders", deadLetterExchange: "orders.dlx", queues: [])
            let analyticsOnly = BrokerTopology(
                exchange: "orders",
                deadLetterExchange: "orders.dlx",
                queues: [Self.topology.queues[0]]
            )
            let notificationsOnly = BrokerTopology(
                exchange: "orders",
                deadLetterExchange: "orders.dlx",
                queues: [Self.topology.queues[1]]
            )
            for topology in [exchangeOnly, analyticsOnly, notificationsOnly, analyticsOnly, Self.topology] {
                try await fixture.broker.declare(topology)
            }

            let outcomes = await fixture.broker.publish([Self.message(1)])

            XCTAssertEqual(outcomes, [.confirmed])
            let analytics = try await fixture.broker.messageCount(queue: Self.analytics)
            let notifications = try await fixture.broker.messageCount(queue: Self.notifications)
            XCTAssertEqual([analytics, notifications], [1, 1], "one copy per queue, however often it was declared")
        }
    }

    func testDeadLetterExchangeRoutesByQueueName() async throws {
        try await withFixture { fixture in
            let toRetry = Self.message(1, exchange: "orders.dlx", routingKey: "\(Self.analytics).retry.1")
            let toDead = Self.message(2, exchange: "orders.dlx", routingKey: "\(Self.analytics).dlq")
            let toMain = Self.message(3, exchange: "orders.dlx", routingKey: Self.analytics)
            let nowhere = Self.message(4, exchange: "orders.dlx", routingKey: "order.created")

            let outcomes = await fixture.broker.publish([toRetry, toDead, toMain, nowhere])

            XCTAssertEqual(Array(outcomes.prefix(3)), [.confirmed, .confirmed, .confirmed])
            guard case .unroutable = outcomes.last else { return XCTFail("no queue has key order.created on the dlx") }
            let ready = try await fixture.broker.messageCount(queue: Self.analytics)
            let delayed = try await fixture.broker.messageCount(queue: "\(Self.analytics).retry.1")
            let dead = try await fixture.broker.messageCount(queue: "\(Self.analytics).dlq")
            XCTAssertEqual([ready, delayed, dead], [1, 1, 1])
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let received = try await Self.receive(from: consumer, count: 2)
            XCTAssertEqual(received.map(Self.number), [3, 1], "the retry-queue copy comes after its delay")
        }
    }

    func testRedeclaringAnExchangeWithAnotherTypeThrows() async throws {
        try await withFixture { fixture in
            let swapped = BrokerTopology(exchange: "orders.dlx", deadLetterExchange: "orders", queues: [])
            await XCTAssertThrowsErrorAsync(try await fixture.broker.declare(swapped)) { error in
                XCTAssertEqual((error as? EmbeddedBrokerError)?.code, .exchangeTypeConflict)
            }
        }
    }

    func testPropertiesAndEmptyBodySurviveStorage() async throws {
        try await withFixture { fixture in
            let properties = MessageProperties(
                contentType: "application/json",
                messageID: "e-1",
                type: "OrderCreated",
                timestamp: 1_700_000_000,
                persistent: true,
                headers: ["trace": "abc", "x-empty": ""]
            )
            let message = OutgoingMessage(
                exchange: "orders",
                routingKey: "order.created",
                body: [],
                properties: properties
            )
            _ = await fixture.broker.publish([message])

            let stored = try await fixture.broker.peek(queue: Self.analytics, limit: 10)

            XCTAssertEqual(stored.count, 1)
            XCTAssertEqual(stored.first?.properties, properties)
            XCTAssertEqual(stored.first?.body, [])
        }
    }

    // MARK: Consuming

    func testDeliveriesComeInPublishOrder() async throws {
        try await withFixture { try await self.contract($0).deliveriesComeInPublishOrder() }
    }

    func testNextNeverHandsOutMoreThanPrefetchUnsettledDeliveries() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...10).map { Self.message($0) })
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 3)

            let first = try await Self.next(from: consumer, limit: 10)
            XCTAssertEqual(first?.map(Self.number), [1, 2, 3])
            let whileFull = try await Self.next(from: consumer, limit: 10, within: .milliseconds(30))
            XCTAssertNil(whileFull, "the prefetch window is full")

            try await consumer.ack([first![0]])
            let afterAck = try await Self.next(from: consumer, limit: 10)
            XCTAssertEqual(afterAck?.map(Self.number), [4])
            let ready = try await fixture.broker.messageCount(queue: Self.analytics)
            XCTAssertEqual(ready, 6, "unacknowledged deliveries are not counted")
        }
    }

    func testCompetingConsumersGetDisjointMessagesThatTogetherAreAll() async throws {
        try await withFixture { try await self.contract($0).competingConsumersGetDisjointMessagesThatTogetherAreAll() }
    }

    func testConcurrentPublishersAndConsumersDeliverEveryMessageExactlyOnce() async throws {
        try await self.concurrentPublishersAndConsumersDeliverEveryMessageExactlyOnce(readyWindow: 4096)
    }

    /// The same with a ready window of 8: most messages wait on disk and are read back while publishers write more.
    func testConcurrentPublishersAndConsumersDeliverEveryMessageExactlyOnceThroughPages() async throws {
        try await self.concurrentPublishersAndConsumersDeliverEveryMessageExactlyOnce(readyWindow: 8)
    }

    private func concurrentPublishersAndConsumersDeliverEveryMessageExactlyOnce(readyWindow: Int) async throws {
        try await withFixture(readyWindow: readyWindow) { fixture in
            var consumers: [any MessageConsumer] = []
            for _ in 0..<4 { consumers.append(try await fixture.broker.consume(queue: Self.analytics, prefetch: 8)) }
            let broker = fixture.broker
            let received = try await withThrowingTaskGroup(of: [Int].self) { group in
                for consumer in consumers {
                    group.addTask {
                        var numbers: [Int] = []
                        while let batch = try await Self.next(from: consumer, limit: 3, within: .milliseconds(300)) {
                            numbers += batch.map(Self.number)
                            try await consumer.ack(batch)
                        }
                        return numbers
                    }
                }
                for batch in 0..<20 {
                    group.addTask {
                        let outcomes = await broker.publish((1...10).map { Self.message(batch * 10 + $0) })
                        XCTAssertEqual(outcomes, Array(repeating: .confirmed, count: 10))
                        return []
                    }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }

            XCTAssertEqual(received.sorted(), Array(1...200))
            let stored = try await fixture.broker.peek(queue: Self.analytics, limit: 10)
            XCTAssertTrue(stored.isEmpty)
        }
    }

    func testAckOfManyDeliveriesAtOnceDeletesThemForGood() async throws {
        try await withFixture { fixture in
            // More than one DELETE chunk (500 ids).
            _ = await fixture.broker.publish((1...600).map { Self.message($0) })
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 1000)
            let received = try await Self.receive(from: consumer, count: 600)

            try await consumer.ack(received)

            let stored = try await fixture.broker.peek(queue: Self.analytics, limit: 10)
            XCTAssertTrue(stored.isEmpty)
            try await fixture.restart()
            let afterRestart = try await fixture.broker.messageCount(queue: Self.analytics)
            XCTAssertEqual(afterRestart, 0)
        }
    }

    func testRequeuedDeliveryIsDeliveredAgainFirstMarkedRedelivered() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...3).map { Self.message($0) })
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let first = try await Self.next(from: consumer, limit: 1)

            try await consumer.requeue(first!)

            let again = try await Self.receive(from: consumer, count: 3)
            XCTAssertEqual(again.map(Self.number), [1, 2, 3])
            XCTAssertEqual(again.map(\.redelivered), [true, false, false])
            XCTAssertNotEqual(again[0].tag, first![0].tag, "each delivery gets a fresh tag")
        }
    }

    func testRetriedMessageReturnsAfterItsDelayWithRetryCountIncremented() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish([Self.message(1)])
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let first = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(first.retryCount, 0)
            let clock = ContinuousClock()
            let retriedAt = clock.now

            try await consumer.retry(first, level: 1)

            let tooEarly = try await Self.next(from: consumer, limit: 10, within: .milliseconds(20))
            XCTAssertNil(tooEarly, "the 100 ms delay has not elapsed")
            let waiting = try await fixture.broker.messageCount(queue: "\(Self.analytics).retry.1")
            XCTAssertEqual(waiting, 1)
            let back = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertGreaterThanOrEqual(clock.now - retriedAt, .milliseconds(90))
            XCTAssertEqual(Self.number(back), 1)
            XCTAssertEqual(back.retryCount, 1)
            XCTAssertEqual(back.queue, Self.analytics)
            let left = try await fixture.broker.messageCount(queue: "\(Self.analytics).retry.1")
            XCTAssertEqual(left, 0)

            // Levels past the last are clamped to it (150 ms here).
            try await consumer.retry(back, level: 9)
            let waitingAtLastLevel = try await fixture.broker.messageCount(queue: "\(Self.analytics).retry.2")
            XCTAssertEqual(waitingAtLastLevel, 1)
            let twice = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(twice.retryCount, 2)
        }
    }

    func testDeadLetteredMessageWaitsInTheDeadLetterQueueWithItsReason() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish([Self.message(1)])
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let delivery = try await Self.receive(from: consumer, count: 1)[0]

            try await consumer.deadLetter(delivery, reason: "malformed body")

            let dead = try await fixture.broker.messageCount(queue: "\(Self.analytics).dlq")
            let ready = try await fixture.broker.messageCount(queue: Self.analytics)
            XCTAssertEqual(dead, 1)
            XCTAssertEqual(ready, 0)
            let stored = try await fixture.broker.peek(queue: "\(Self.analytics).dlq", limit: 10)
            XCTAssertEqual(stored.map(Self.number), [1])
            XCTAssertEqual(stored.first?.queue, "\(Self.analytics).dlq")
            XCTAssertEqual(stored.first?.properties.headers[MessageHeaders.deathReason], "malformed body")
            let more = try await Self.next(from: consumer, limit: 10, within: .milliseconds(20))
            XCTAssertNil(more)
            let deadLetterQueue = "\(Self.analytics).dlq"
            await XCTAssertThrowsErrorAsync(try await fixture.broker.consume(queue: deadLetterQueue, prefetch: 1))
        }
    }

    // MARK: Paging

    /// A backlog beyond the ready window waits on disk: memory holds at most the window, the count is the whole
    /// backlog, and every message comes out once, in publish order, as consumers take them.
    func testABacklogBeyondTheReadyWindowWaitsOnDiskAndComesBackInOrder() async throws {
        try await withFixture(readyWindow: 10) { fixture in
            _ = await fixture.broker.publish((1...35).map { Self.message($0) })
            let count = try await fixture.broker.messageCount(queue: Self.analytics)
            XCTAssertEqual(count, 35)
            XCTAssertEqual(fixture.broker.readyInMemory(queue: Self.analytics), 10)
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 4)
            var numbers: [Int] = []
            while numbers.count < 35 {
                let batch = try await Self.receive(from: consumer, count: min(4, 35 - numbers.count))
                numbers += batch.map(Self.number)
                try await consumer.ack(batch)
                XCTAssertLessThanOrEqual(fixture.broker.readyInMemory(queue: Self.analytics) ?? 0, 10)
            }
            XCTAssertEqual(numbers, Array(1...35))
            let left = try await fixture.broker.messageCount(queue: Self.analytics)
            XCTAssertEqual(left, 0)
            let stored = try await fixture.broker.peek(queue: Self.analytics, limit: 10)
            XCTAssertTrue(stored.isEmpty)
        }
    }

    /// Messages waiting on disk survive a restart unread and in order; those that were in memory come back
    /// marked redelivered, the paged ones not (they were never handed out), and retries still return.
    func testPagedMessagesSurviveARestartInOrder() async throws {
        try await withFixture(readyWindow: 10) { fixture in
            _ = await fixture.broker.publish((1...25).map { Self.message($0) })
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 1)
            let first = try await Self.receive(from: consumer, count: 1)[0]
            try await consumer.retry(first, level: 1)
            try await fixture.restart()
            XCTAssertLessThanOrEqual(fixture.broker.readyInMemory(queue: Self.analytics) ?? 0, 10)
            let after = try await fixture.broker.consume(queue: Self.analytics, prefetch: 5)
            var deliveries: [Delivery] = []
            while deliveries.count < 25 {
                let batch = try await Self.receive(from: after, count: 1)
                deliveries += batch
                try await after.ack(batch)
            }
            let numbers = deliveries.map(Self.number)
            XCTAssertEqual(Array(numbers.filter { $0 != 1 }), Array(2...25), "the backlog in order")
            XCTAssertEqual(numbers.filter { $0 == 1 }.count, 1, "the retried message returned once")
            XCTAssertTrue(deliveries.filter { Self.number($0) >= 11 }.allSatisfy { !$0.redelivered }, "paged: never handed out")
        }
    }

    // MARK: Crash and restart

    func testRestartBringsBackEverythingNotAckedOrDeadLettered() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...6).map { Self.message($0) })
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 4)
            let handedOut = try await Self.receive(from: consumer, count: 4)
            XCTAssertEqual(handedOut.map(Self.number), [1, 2, 3, 4])
            try await consumer.ack([handedOut[0]])
            // 2 stays unacked; 3 waits in retry level 2 (150 ms); 4 is dead; 5 and 6 were never delivered.
            try await consumer.retry(handedOut[2], level: 2)
            try await consumer.deadLetter(handedOut[3], reason: "poison")

            try await fixture.restart()

            let after = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let ready = try await Self.receive(from: after, count: 3)
            XCTAssertEqual(ready.map(Self.number), [2, 5, 6])
            XCTAssertTrue(ready.allSatisfy(\.redelivered), "they may have been delivered before the restart")
            let retried = try await Self.receive(from: after, count: 1)[0]
            XCTAssertEqual(Self.number(retried), 3)
            XCTAssertEqual(retried.retryCount, 1)
            let dead = try await fixture.broker.peek(queue: "\(Self.analytics).dlq", limit: 10)
            XCTAssertEqual(dead.map(Self.number), [4])
            let nothingElse = try await Self.next(from: after, limit: 10, within: .milliseconds(20))
            XCTAssertNil(nothingElse, "message 1 was acked")
            // The other queue got its own copies and consumed none of them.
            let notifications = try await fixture.broker.messageCount(queue: Self.notifications)
            XCTAssertEqual(notifications, 6)
        }
    }

    func testRetryWhoseDelayElapsedDuringDowntimeReturnsAtOnceAfterRestart() async throws {
        try await withFixture { fixture in
            // notifications.orders: one retry level of 50 ms.
            _ = await fixture.broker.publish([Self.message(1)])
            let consumer = try await fixture.broker.consume(queue: Self.notifications, prefetch: 10)
            try await consumer.retry(try await Self.receive(from: consumer, count: 1)[0], level: 1)
            await fixture.broker.shutdown()
            try await Task.sleep(for: .milliseconds(60))

            try await fixture.restart()

            let after = try await fixture.broker.consume(queue: Self.notifications, prefetch: 10)
            let back = try await Self.next(from: after, limit: 10, within: .milliseconds(40))
            XCTAssertEqual(back?.map(\.retryCount), [1])
        }
    }

    // MARK: Cancellation and settlement errors

    func testNextReturnsNilAfterCancel() async throws {
        try await withFixture { fixture in
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let waiting = Task { try await consumer.next(limit: 10) }
            try await Task.sleep(for: .milliseconds(20))

            await consumer.cancel()

            let woken = try await waiting.value
            XCTAssertNil(woken)
            _ = await fixture.broker.publish([Self.message(1)])
            let later = try await consumer.next(limit: 10)
            XCTAssertNil(later, "a cancelled consumer hands out nothing")
        }
    }

    func testNextReturnsNilWhenTheCallingTaskIsCancelled() async throws {
        try await withFixture { fixture in
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let waiting = Task { try await consumer.next(limit: 10) }
            try await Task.sleep(for: .milliseconds(20))

            waiting.cancel()

            let woken = try await waiting.value
            XCTAssertNil(woken)
            let cancelledBeforeAsking = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await consumer.next(limit: 10)
            }
            let immediately = try await cancelledBeforeAsking.value
            XCTAssertNil(immediately)
            // The consumer itself is still usable.
            _ = await fixture.broker.publish([Self.message(1)])
            let received = try await Self.receive(from: consumer, count: 1)
            XCTAssertEqual(received.map(Self.number), [1])
        }
    }

    func testSettlingAnUnknownOrAlreadySettledTagThrowsAndChangesNothing() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...2).map { Self.message($0) })
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let other = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let deliveries = try await Self.receive(from: consumer, count: 2)
            try await consumer.ack([deliveries[0]])
            let bogus = Delivery(
                tag: 999_999,
                queue: Self.analytics,
                routingKey: "order.created",
                body: [],
                properties: MessageProperties(),
                redelivered: false
            )

            for attempt in [
                { try await consumer.ack([deliveries[0]]) },
                { try await consumer.ack([deliveries[1], bogus]) },
                { try await consumer.requeue([deliveries[1], deliveries[1]]) },
                { try await consumer.retry(deliveries[0], level: 1) },
                { try await consumer.deadLetter(bogus, reason: "x") },
                { try await other.ack([deliveries[1]]) },
            ] as [@Sendable () async throws -> Void] {
                await XCTAssertThrowsErrorAsync(try await attempt()) { error in
                    XCTAssertEqual((error as? EmbeddedBrokerError)?.code, .unknownDeliveryTag, "\(error)")
                }
            }

            // Delivery 2 is still held, and settles normally.
            try await consumer.ack([deliveries[1]])
            let stored = try await fixture.broker.peek(queue: Self.analytics, limit: 10)
            XCTAssertTrue(stored.isEmpty)
        }
    }

    func testClosingAConsumerRequeuesItsUnsettledDeliveriesToAnotherConsumer() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...3).map { Self.message($0) })
            let closing = try await fixture.broker.consume(queue: Self.analytics, prefetch: 2)
            let held = try await Self.receive(from: closing, count: 2)
            let other = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)

            await closing.close()

            let received = try await Self.receive(from: other, count: 3)
            XCTAssertEqual(received.map(Self.number), [1, 2, 3])
            XCTAssertEqual(received.map(\.redelivered), [true, true, false])
            let closed = try await closing.next(limit: 1)
            XCTAssertNil(closed)
            await XCTAssertThrowsErrorAsync(try await closing.ack(held))
        }
    }

    func testShutdownWakesWaitingConsumersAndRefusesLaterWork() async throws {
        try await withFixture { fixture in
            let consumer = try await fixture.broker.consume(queue: Self.analytics, prefetch: 10)
            let waiting = Task { try await consumer.next(limit: 10) }
            try await Task.sleep(for: .milliseconds(20))
            try await fixture.broker.checkHealth()

            await fixture.broker.shutdown()

            let woken = try await waiting.value
            XCTAssertNil(woken)
            let outcomes = await fixture.broker.publish([Self.message(1)])
            XCTAssertEqual(outcomes.count, 1)
            XCTAssertNotEqual(outcomes.first, .confirmed)
            await XCTAssertThrowsErrorAsync(try await fixture.broker.checkHealth())
        }
    }

    func testConsumingAnUndeclaredQueueThrows() async throws {
        try await withFixture { fixture in
            await XCTAssertThrowsErrorAsync(try await fixture.broker.consume(queue: "billing.orders", prefetch: 1)) {
                error in
                XCTAssertEqual((error as? EmbeddedBrokerError)?.code, .unknownQueue)
            }
            await XCTAssertThrowsErrorAsync(try await fixture.broker.messageCount(queue: "billing.orders"))
        }
    }

    // MARK: Helpers

    static let analytics = "analytics.orders"
    static let notifications = "notifications.orders"
    static let topology = BrokerTopology(
        exchange: "orders",
        deadLetterExchange: "orders.dlx",
        queues: [
            .init(
                name: analytics,
                bindingKeys: ["order.created"],
                retryDelays: [.milliseconds(100), .milliseconds(150)]
            ),
            .init(name: notifications, bindingKeys: ["order.*"], retryDelays: [.milliseconds(50)]),
        ]
    )

    /// Message `number`, whose body is the number in decimal.
    static func message(
        _ number: Int,
        exchange: String = "orders",
        routingKey: String = "order.created"
    ) -> OutgoingMessage {
        OutgoingMessage(
            exchange: exchange,
            routingKey: routingKey,
            body: Array("\(number)".utf8),
            properties: MessageProperties(contentType: "text/plain", messageID: "m-\(number)")
        )
    }

    @Sendable static func number(_ delivery: Delivery) -> Int { MessageBrokerContract.number(delivery) }

    /// `next` within `timeout` (nil when nothing came), as the contract reads deliveries.
    static func next(
        from consumer: any MessageConsumer, limit: Int, within timeout: Duration = .seconds(2)
    ) async throws -> [Delivery]? {
        try await MessageBrokerContract.next(from: consumer, limit: limit, within: timeout)
    }

    /// Exactly `count` deliveries; fails the test when a batch does not come within 2 seconds.
    static func receive(
        from consumer: any MessageConsumer, count: Int, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> [Delivery] {
        try await MessageBrokerContract.receive(
            from: consumer, count: count, patience: .seconds(2), file: file, line: line
        )
    }

    /// The broker contract on this fixture: in-process, so short waits.
    private func contract(_ fixture: BrokerFixture) -> MessageBrokerContract {
        MessageBrokerContract(
            broker: fixture.broker, queue: Self.analytics, message: { Self.message($0) }, patience: .seconds(2),
            idle: .milliseconds(200), settle: .milliseconds(20)
        )
    }

    private func withFixture(
        declare: Bool = true,
        readyWindow: Int = 4096,
        _ body: (BrokerFixture) async throws -> Void
    ) async throws {
        let fixture = try await BrokerFixture.make(declare: declare ? Self.topology : nil, readyWindow: readyWindow)
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }
}

/// A broker on a database file in a temporary directory of its own, running (its `run()` returns retries).
private final class BrokerFixture {
    let directory: URL
    let topology: BrokerTopology?
    let readyWindow: Int
    private(set) var database: SQLiteFileDatabase
    private(set) var broker: EmbeddedBroker
    private var running: FixtureService
    static let logger = Logger(label: "embedded-broker-tests") { _ in SwiftLogNoOpLogHandler() }

    private init(
        directory: URL, topology: BrokerTopology?, readyWindow: Int, database: SQLiteFileDatabase, broker: EmbeddedBroker,
        running: FixtureService
    ) {
        self.directory = directory
        self.topology = topology
        self.readyWindow = readyWindow
        self.database = database
        self.broker = broker
        self.running = running
    }

    static func make(declare topology: BrokerTopology?, readyWindow: Int = 4096) async throws -> BrokerFixture {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("embedded-broker-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (database, broker) = try await Self.open(directory: directory, topology: topology, readyWindow: readyWindow)
        return BrokerFixture(
            directory: directory, topology: topology, readyWindow: readyWindow, database: database, broker: broker,
            running: FixtureService(broker))
    }

    /// What a crash and a new start do to the broker: memory lost, the file kept. The topology is declared after
    /// `open`, as the services do.
    func restart() async throws {
        await self.stop()
        (self.database, self.broker) = try await Self.open(
            directory: self.directory, topology: self.topology, readyWindow: self.readyWindow)
        self.running = FixtureService(self.broker)
    }

    func tearDown() async {
        await self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func stop() async {
        await self.broker.shutdown()
        await self.running.stop()
        await self.database.close()
    }

    static func open(
        directory: URL,
        topology: BrokerTopology?,
        readyWindow: Int = 4096
    ) async throws -> (SQLiteFileDatabase, EmbeddedBroker) {
        let database = try await SQLiteFileDatabase.open(
            path: directory.appendingPathComponent("broker.sqlite").path,
            logger: Self.logger
        )
        let broker = try await EmbeddedBroker.open(database: database, readyWindow: readyWindow, logger: Self.logger)
        if let topology { try await broker.declare(topology) }
        return (database, broker)
    }
}

/// XCTAssertThrowsError for async expressions.
private func XCTAssertThrowsErrorAsync<T>(
    _ expression: @autoclosure () async throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ handler: (any Error) -> Void = { _ in }
) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {
        handler(error)
    }
}
