import AMQPClient
import ClientTestSupport
import Logging
import Messaging
import RabbitMQMessaging
import ServiceCore
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// `RabbitMQBroker` against the real RabbitMQ at `RABBITMQ_URL` (fails in CI without it, skips elsewhere). Every
/// exchange and queue has a random suffix and is deleted afterwards, so tests can share the broker. Retry delays are
/// 100 / 200 / 300 ms.
final class RabbitMQBrokerTests: XCTestCase {
    // MARK: Routing and publishing

    func testTopicExchangeFansOutToEveryMatchingQueue() async throws {
        try await withFixture { fixture in
            let outcomes = await fixture.broker.publish([fixture.message(1)])

            XCTAssertEqual(outcomes, [.confirmed])
            let counts = try await fixture.waitForCounts([fixture.analytics, fixture.notifications], equal: [1, 1])
            XCTAssertEqual(counts, [1, 1])
            let consumer = try await fixture.broker.consume(queue: fixture.notifications, prefetch: 10)
            let received = try await Self.receive(from: consumer, count: 1)
            XCTAssertEqual(received.map(\.queue), [fixture.notifications])
            XCTAssertEqual(received.map(\.routingKey), ["order.created"])
            try await consumer.ack(received)
            await consumer.close()
        }
    }

    func testPublishReturnsOneOutcomePerMessageInOrderAndOnlyTheUnknownExchangeIsUnroutable() async throws {
        try await withFixture { fixture in
            var stray = fixture.message(2)
            stray.exchange = "payments-\(fixture.suffix)"

            let outcomes = await fixture.broker.publish([fixture.message(1), stray, fixture.message(3)])

            XCTAssertEqual(outcomes.count, 3)
            XCTAssertEqual(outcomes[0], .confirmed)
            guard case .unroutable(let reason) = outcomes[1] else { return XCTFail("expected .unroutable, got \(outcomes[1])") }
            XCTAssertTrue(reason.contains(stray.exchange), reason)
            XCTAssertEqual(outcomes[2], .confirmed)
            let counts = try await fixture.waitForCounts([fixture.analytics], equal: [2])
            XCTAssertEqual(counts, [2])
            // The publishing channel survived: later publishes still confirm.
            let later = await fixture.broker.publish([fixture.message(4)])
            XCTAssertEqual(later, [.confirmed])
        }
    }

    func testPropertiesAreMappedBothWaysAndDeclareIsIdempotent() async throws {
        try await withFixture { fixture in
            try await fixture.broker.declare(fixture.topology)
            var message = fixture.message(1)
            message.properties = MessageProperties(
                contentType: "application/json", messageID: "m-1", type: "OrderCreated", timestamp: 1_700_000_000,
                persistent: true, headers: ["trace": "abc"])
            let outcomes = await fixture.broker.publish([message])
            XCTAssertEqual(outcomes, [.confirmed])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let received = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(received.properties, message.properties)
            XCTAssertEqual(received.body, message.body)
            XCTAssertFalse(received.redelivered)
            XCTAssertEqual(received.retryCount, 0)
            try await consumer.ack([received])
            await consumer.close()
        }
    }

    func testThousandConfirmedPublishesInOneBatch() async throws {
        try await withFixture { fixture in
            let outcomes = await fixture.broker.publish((1...1000).map { fixture.message($0) })

            XCTAssertEqual(outcomes.count, 1000)
            XCTAssertTrue(outcomes.allSatisfy { $0 == .confirmed })
            let counts = try await fixture.waitForCounts([fixture.analytics], equal: [1000])
            XCTAssertEqual(counts, [1000])
        }
    }

    // MARK: Consuming

    func testDeliveriesComeInPublishOrder() async throws {
        try await withFixture { try await self.contract($0).deliveriesComeInPublishOrder() }
    }

    func testNextNeverHandsOutMoreThanPrefetchUnsettledDeliveries() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...10).map { fixture.message($0) })
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 3)

            var first: [Delivery] = []
            while first.count < 3, let batch = try await Self.next(from: consumer, limit: 10) { first += batch }
            XCTAssertEqual(first.map(Self.number), [1, 2, 3])
            let whileFull = try await Self.next(from: consumer, limit: 10, within: .milliseconds(150))
            XCTAssertNil(whileFull, "the prefetch window is full")

            try await consumer.ack([first[0]])
            let afterAck = try await Self.next(from: consumer, limit: 10)
            XCTAssertEqual(afterAck?.map(Self.number), [4])
            let ready = try await fixture.broker.messageCount(queue: fixture.analytics)
            XCTAssertEqual(ready, 6, "unacknowledged deliveries are not counted")
            await consumer.close()
        }
    }

    func testCompetingConsumersGetDisjointMessagesThatTogetherAreAll() async throws {
        try await withFixture { try await self.contract($0).competingConsumersGetDisjointMessagesThatTogetherAreAll() }
    }

    func testAckOfManyDeliveriesAtOnceRemovesThemForGood() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...50).map { fixture.message($0) })
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 100)
            let received = try await Self.receive(from: consumer, count: 50)

            try await consumer.ack(Array(received[0..<20]))  // one `multiple` ack
            try await consumer.ack(Array(received[30..<50]))  // not contiguous: single acks
            try await consumer.ack(Array(received[20..<30]))
            await assertThrowsAsync(try await consumer.ack([received[0]]), "already settled")
            await consumer.close()

            let ready = try await fixture.waitForCounts([fixture.analytics], equal: [0])
            XCTAssertEqual(ready, [0])
            let again = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let nothing = try await Self.next(from: again, limit: 10, within: .milliseconds(150))
            XCTAssertNil(nothing, "acked messages are gone")
            await again.close()
        }
    }

    func testRequeuedDeliveryIsDeliveredAgainMarkedRedelivered() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish([fixture.message(1)])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let first = try await Self.receive(from: consumer, count: 1)

            try await consumer.requeue(first)

            let again = try await Self.receive(from: consumer, count: 1)
            XCTAssertEqual(again.map(Self.number), [1])
            XCTAssertEqual(again.map(\.redelivered), [true])
            XCTAssertNotEqual(again[0].tag, first[0].tag, "each delivery gets a fresh tag")
            try await consumer.ack(again)
            await consumer.close()
        }
    }

    func testRetriedMessageReturnsAfterItsDelayWithRetryCountIncremented() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish([fixture.message(1)])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let first = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(first.retryCount, 0)
            let clock = ContinuousClock()
            let retriedAt = clock.now

            try await consumer.retry(first, level: 1)

            let tooEarly = try await Self.next(from: consumer, limit: 10, within: .milliseconds(40))
            XCTAssertNil(tooEarly, "the 100 ms delay has not elapsed")
            let waiting = try await fixture.broker.messageCount(queue: "\(fixture.analytics).retry.1")
            XCTAssertEqual(waiting, 1)
            let back = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertGreaterThanOrEqual(clock.now - retriedAt, .milliseconds(90), "not before the 100 ms delay")
            XCTAssertEqual(Self.number(back), 1)
            XCTAssertEqual(back.retryCount, 1)
            XCTAssertEqual(back.queue, fixture.analytics)

            // Levels past the last are clamped to it (300 ms here).
            let again = clock.now
            try await consumer.retry(back, level: 9)
            let waitingAtLastLevel = try await fixture.broker.messageCount(queue: "\(fixture.analytics).retry.3")
            XCTAssertEqual(waitingAtLastLevel, 1)
            let twice = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertGreaterThanOrEqual(clock.now - again, .milliseconds(290))
            XCTAssertEqual(twice.retryCount, 2)
            try await consumer.ack([twice])
            await consumer.close()
        }
    }

    func testDeadLetteredMessageWaitsInTheDeadLetterQueueWithItsReason() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish([fixture.message(1)])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let delivery = try await Self.receive(from: consumer, count: 1)[0]

            try await consumer.deadLetter(delivery, reason: "malformed body")

            let dlq = "\(fixture.analytics).dlq"
            let counts = try await fixture.waitForCounts([dlq, fixture.analytics], equal: [1, 0])
            XCTAssertEqual(counts, [1, 0])
            let more = try await Self.next(from: consumer, limit: 10, within: .milliseconds(100))
            XCTAssertNil(more)
            await consumer.close()
            let dead = try await fixture.broker.consume(queue: dlq, prefetch: 1)
            let stored = try await Self.receive(from: dead, count: 1)
            XCTAssertEqual(stored.map(Self.number), [1])
            XCTAssertEqual(stored.first?.queue, dlq)
            XCTAssertEqual(stored.first?.properties.headers[MessageHeaders.deathReason], "malformed body")
            await dead.close()
        }
    }

    func testNextReturnsNilAfterCancelAndCloseRequeuesTheUnsettled() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...3).map { fixture.message($0) })
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let first = try await Self.next(from: consumer, limit: 1)
            XCTAssertEqual(first?.count, 1)

            await consumer.cancel()
            let afterCancel = try await consumer.next(limit: 10)
            XCTAssertNil(afterCancel)
            try await consumer.ack(first!)  // deliveries in hand can still be settled
            await consumer.close()

            let counts = try await fixture.waitForCounts([fixture.analytics], equal: [2])
            XCTAssertEqual(counts, [2], "the two unsettled ones are back in the queue")
        }
    }

    func testNextReturnsNilWhenTheCallingTaskIsCancelled() async throws {
        try await withFixture { fixture in
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let waiting = Task { try await consumer.next(limit: 10) }
            try await Task.sleep(for: .milliseconds(50))
            waiting.cancel()
            let result = try await waiting.value
            XCTAssertNil(result)
            await consumer.close()
        }
    }

    func testAfterAReconnectStaleTagsAreIgnoredAndTheMessagesComeAgain() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...3).map { fixture.message($0) })
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let before = try await Self.receive(from: consumer, count: 3)

            // Drop the client's connection under it: it reconnects and resumes the consumer on a new channel.
            try await fixture.client.withChannel { channel in try await channel.connection.close() }

            let after = try await Self.receive(from: consumer, count: 3)
            XCTAssertEqual(after.map(Self.number), [1, 2, 3])
            XCTAssertTrue(after.allSatisfy(\.redelivered))
            // Settling the old deliveries does nothing (RabbitMQ requeued them) and does not hurt the new channel.
            try await consumer.retry(before[0], level: 1)  // no copy: RabbitMQ already requeued it
            try await consumer.ack(Array(before[1...]))
            let retried = try await fixture.broker.messageCount(queue: "\(fixture.analytics).retry.1")
            XCTAssertEqual(retried, 0)
            try await consumer.ack(after)
            let counts = try await fixture.waitForCounts([fixture.analytics], equal: [0])
            XCTAssertEqual(counts, [0])
            let outcomes = await fixture.broker.publish([fixture.message(4)])
            XCTAssertEqual(outcomes, [.confirmed])
            let more = try await Self.receive(from: consumer, count: 1)
            XCTAssertEqual(more.map(Self.number), [4])
            XCTAssertFalse(more[0].redelivered)
            try await consumer.ack(more)
            await consumer.close()
            // The topology was re-declared by the client (recorded): a retry still finds its queue.
            try await fixture.broker.checkHealth()
        }
    }

    // MARK: Topology conflicts and health

    func testQueueWithoutDeadLetteringArgumentsIsATypedConflictAndTheConnectionStaysUsable() async throws {
        let logs = CapturedLogs()
        try await withFixture(declare: false, logs: logs) { fixture in
            // The original system's queue: durable, no arguments.
            _ = try await fixture.client.withChannel { channel in
                try await channel.queueDeclare(name: fixture.analytics, durable: true)
            }

            do {
                try await fixture.broker.declare(fixture.topology)
                XCTFail("expected a TopologyConflict")
            } catch let conflict as TopologyConflict {
                XCTAssertEqual(conflict.queues, [fixture.analytics])
                XCTAssertEqual(conflict.queue, fixture.analytics)
                XCTAssertTrue("\(conflict)".contains("migrate-queues"))
            }

            try await fixture.broker.checkHealth()
            XCTAssertTrue(fixture.client.isConnected)
            // Everything else was declared, and the conflicting queue keeps its arguments but gets the bindings:
            // both queues get their copy.
            let outcomes = await fixture.broker.publish([fixture.message(1)])
            XCTAssertEqual(outcomes, [.confirmed])
            let counts = try await fixture.waitForCounts([fixture.notifications, fixture.analytics], equal: [1, 1])
            XCTAssertEqual(counts, [1, 1])
            let errors = logs.messages.filter { $0.level == .error }.map(\.message)
            XCTAssertTrue(
                errors.contains {
                    $0.contains("queue \(fixture.analytics) exists without dead-lettering arguments")
                        && $0.contains("ordersystem migrate-queues")
                }, "\(errors)")

            // The conflicting declaration was not recorded: the client still reconnects (it re-declares its topology).
            try await fixture.client.withChannel { channel in try await channel.connection.close() }
            let reconnected = await eventually(timeout: .seconds(5), interval: .milliseconds(50)) {
                await fixture.broker.publish([fixture.message(2)]) == [.confirmed]
            }
            XCTAssertTrue(reconnected, "a publish is confirmed again after the reconnect")
        }
    }

    // MARK: Confirmed means routed

    func testAMessageNoBindingMatchesIsUnroutableNotConfirmedAndIsConfirmedOnceBoundAgain() async throws {
        try await withFixture { fixture in
            // Someone removes both queues' bindings of the routing key.
            try await fixture.client.withChannel { channel in
                try await channel.queueUnbind(
                    queue: fixture.analytics, exchange: fixture.topology.exchange, routingKey: "order.created")
                try await channel.queueUnbind(
                    queue: fixture.notifications, exchange: fixture.topology.exchange, routingKey: "order.*")
            }

            let outcomes = await fixture.broker.publish([fixture.message(1), fixture.message(2, routingKey: "other.key")])

            guard case .unroutable(let reason) = outcomes.first else {
                return XCTFail("a message that reached no queue must not be confirmed: \(outcomes)")
            }
            XCTAssertTrue(reason.contains("312"), "RabbitMQ's NO_ROUTE reply: \(reason)")
            guard case .unroutable = outcomes.last else { return XCTFail("\(outcomes)") }
            let counts = try await fixture.waitForCounts([fixture.analytics, fixture.notifications], equal: [0, 0])
            XCTAssertEqual(counts, [0, 0])

            // Declaring the topology again binds them: the same message is now confirmed, and routed.
            try await fixture.broker.declare(fixture.topology)
            let again = await fixture.broker.publish([fixture.message(1)])
            XCTAssertEqual(again, [.confirmed])
            let routed = try await fixture.waitForCounts([fixture.analytics, fixture.notifications], equal: [1, 1])
            XCTAssertEqual(routed, [1, 1])
        }
    }

    func testAnExchangeDeletedUnderThePublisherIsUnroutableAndPublishingRecoversOnceDeclaredAgain() async throws {
        try await withFixture { fixture in
            let before = await fixture.broker.publish([fixture.message(1)])
            XCTAssertEqual(before, [.confirmed])
            // Deleted behind the broker's back: it still believes the exchange exists.
            try await fixture.client.withChannel { channel in
                try await channel.exchangeDelete(name: fixture.topology.exchange)
            }

            // RabbitMQ answers 404 and closes the publishing channel: unroutable, never confirmed.
            let first = await fixture.broker.publish([fixture.message(2)])
            guard case .unroutable = first.first else { return XCTFail("\(first)") }
            // The next one is checked first (the exchange was forgotten), on a new publishing channel.
            let second = await fixture.broker.publish([fixture.message(3)])
            guard case .unroutable(let reason) = second.first else { return XCTFail("\(second)") }
            XCTAssertTrue(reason.contains("does not exist"), reason)
            XCTAssertTrue(fixture.client.isConnected, "a channel error does not cost the connection")

            try await fixture.broker.declare(fixture.topology)
            let healed = await fixture.broker.publish([fixture.message(4)])
            XCTAssertEqual(healed, [.confirmed], "the publishing channel was reopened")
            let counts = try await fixture.waitForCounts([fixture.analytics], equal: [2])
            XCTAssertEqual(counts, [2], "messages 1 and 4")
        }
    }

    func testADeadLetterWhoseQueueIsGoneFailsAndTheDeliveryStaysOursToSettle() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish([fixture.message(1)])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 1)
            let delivery = try await Self.receive(from: consumer, count: 1)[0]
            // Deleted behind the service's back (not through the client, which would forget its declaration).
            _ = try await fixture.client.withChannel { channel in
                try await channel.queueDelete(name: "\(fixture.analytics).dlq")
            }

            do {
                try await consumer.deadLetter(delivery, reason: "test")
                XCTFail("the copy reached no queue: the dead-letter must fail")
            } catch {
                XCTAssertTrue("\(error)".contains("unroutable"), "\(error)")
            }

            // The original was not acked into nowhere: it is still unsettled, and once the queue is back the
            // dead-letter works.
            try await fixture.broker.declare(fixture.topology)
            try await consumer.deadLetter(delivery, reason: "test")
            let counts = try await fixture.waitForCounts(["\(fixture.analytics).dlq", fixture.analytics], equal: [1, 0])
            XCTAssertEqual(counts, [1, 0])
            await consumer.close()
        }
    }

    func testAConsumerWhoseQueueIsDeletedDeclaresItAgainAndResumes() async throws {
        try await withFixture { fixture in
            let received = Mutex<[Int]>([])
            let service = QueueConsumerService(
                broker: fixture.broker, queue: fixture.analytics, prefetch: 10,
                handler: AckingHandler { deliveries in received.withLock { $0 += deliveries.map(Self.number) } },
                topology: fixture.topology, logger: Self.logger)
            try await withRunning(service) {
            _ = await fixture.broker.publish([fixture.message(1)])
            let first = await eventually { received.withLock { $0 } == [1] }
            XCTAssertTrue(first, "\(received.withLock { $0 })")

            // RabbitMQ cancels the consumer (basic.cancel) when its queue is deleted.
            _ = try await fixture.client.withChannel { channel in try await channel.queueDelete(name: fixture.analytics) }

            // The service declares the queue again (with its bindings) and consumes it: a new event arrives.
            let redeclared = await eventually(timeout: .seconds(10)) {
                (try? await fixture.broker.messageCount(queue: fixture.analytics)) != nil
            }
            XCTAssertTrue(redeclared, "the deleted queue was declared again")
            var outcomes: [PublishOutcome] = []
            let resumed = await eventually(timeout: .seconds(10)) {
                outcomes = await fixture.broker.publish([fixture.message(2)])
                return outcomes == [.confirmed] && received.withLock { $0.contains(2) }
            }
            XCTAssertTrue(resumed, "consumption resumed: \(received.withLock { $0 }), \(outcomes)")
            }
        }
    }

    func testStoppedConsumerServiceFinishesTheBatchInHandAndReturnsWithTheRestRequeued() async throws {
        try await withFixture { fixture in
            _ = await fixture.broker.publish((1...6).map { fixture.message($0) })
            let counts = try await fixture.waitForCounts([fixture.analytics], equal: [6])
            XCTAssertEqual(counts, [6])
            let handler = GatedHandler()
            let service = QueueConsumerService(
                broker: fixture.broker, queue: fixture.analytics, prefetch: 10, batchLimit: 2, handler: handler,
                logger: Self.logger)

            try await handler.stopWhileHoldingTheFirstBatch(of: service)

            // The first batch holds what had arrived when `next` was called: one or two deliveries.
            let batches = handler.batches.withLock { $0 }
            XCTAssertEqual(batches.count, 1, "no batch was taken after the stop: \(batches)")
            let handled = batches.first ?? []
            XCTAssertEqual(handled, Array(1...handled.count))
            // The prefetched deliveries never handed out were requeued by the close inside run().
            let left = try await fixture.waitForCounts([fixture.analytics], equal: [6 - handled.count])
            XCTAssertEqual(left, [6 - handled.count])
        }
    }

    func testCancelledConsumerIsNotResumedAfterAReconnect() async throws {
        try await withFixture { fixture in
            var consumer: (any MessageConsumer)? = try await fixture.broker.consume(
                queue: fixture.analytics, prefetch: 10)
            _ = await fixture.broker.publish([fixture.message(1)])
            let first = try await Self.receive(from: consumer!, count: 1)
            try await consumer!.ack(first)
            await consumer!.cancel()
            consumer = nil

            // Drop the connection: the client reconnects and resumes the consumers it still has.
            let dropped = try await fixture.client.withChannel { channel in
                try await channel.connection.close()
                return channel.connection
            }
            let reconnected = await eventually {
                guard let now = try? await fixture.client.withChannel({ $0.connection }) else { return false }
                return now !== dropped
            }
            XCTAssertTrue(reconnected, "the client did not reconnect")
            // A consumer of the other queue, started now, proves consumers run on the new connection.
            let other = try await fixture.broker.consume(queue: fixture.notifications, prefetch: 10)
            _ = await fixture.broker.publish([fixture.message(2)])
            let resumed = try await Self.receive(from: other, count: 2)
            try await other.ack(resumed)
            await other.close()

            let left = try await fixture.client.withChannel { channel in
                try await channel.queueDeclare(name: fixture.analytics, passive: true)
            }
            XCTAssertEqual(left.consumerCount, 0, "the cancelled consumer came back with the reconnect")
            XCTAssertEqual(left.messageCount, 1)
        }
    }

    func testInTheConflictModeARetriedMessageComesBackToItsQueue() async throws {
        try await withFixture(declare: false) { fixture in
            // The original system's queue: durable, no arguments, already bound as the original bound it.
            try await fixture.client.withChannel { channel in
                _ = try await channel.queueDeclare(name: fixture.analytics, durable: true)
            }
            do {
                try await fixture.broker.declare(fixture.topology)
                XCTFail("expected a TopologyConflict")
            } catch is TopologyConflict {}
            _ = await fixture.broker.publish([fixture.message(1)])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            XCTAssertTrue(consumer.retriesAvailable, "only the main queue conflicts: its retry queues are ours")
            let first = try await Self.receive(from: consumer, count: 1)[0]

            try await consumer.retry(first, level: 1)

            // Through analytics.retry.1 and back via the dead-letter exchange, which the conflicting queue is bound to.
            let back = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(Self.number(back), 1)
            XCTAssertEqual(back.retryCount, 1)
            try await consumer.ack([back])
            await consumer.close()
        }
    }

    func testRetriesAreOffWhenARetryQueueConflicts() async throws {
        let logs = CapturedLogs()
        try await withFixture(declare: false, logs: logs) { fixture in
            // A retry queue declared by someone else, with another delay.
            try await fixture.client.withChannel { channel in
                _ = try await channel.queueDeclare(
                    name: "\(fixture.analytics).retry.1", durable: true, arguments: ["x-message-ttl": .int64(5)])
            }
            do {
                try await fixture.broker.declare(fixture.topology)
                XCTFail("expected a TopologyConflict")
            } catch let conflict as TopologyConflict {
                XCTAssertEqual(conflict.queues, ["\(fixture.analytics).retry.1"])
            }
            let analytics = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 1)
            let notifications = try await fixture.broker.consume(queue: fixture.notifications, prefetch: 1)
            XCTAssertFalse(analytics.retriesAvailable)
            XCTAssertTrue(notifications.retriesAvailable)
            let errors = logs.messages.filter { $0.level == .error }.map(\.message)
            XCTAssertTrue(errors.contains { $0.contains("retries are off for queue \(fixture.analytics)") }, "\(errors)")
            await analytics.close()
            await notifications.close()
        }
    }

    func testAHostileRetryCountHeaderCannotOverflow() async throws {
        try await withFixture { fixture in
            var message = fixture.message(1)
            message.properties.headers[MessageHeaders.retryCount] = String(Int64.max)
            _ = await fixture.broker.publish([message])
            let consumer = try await fixture.broker.consume(queue: fixture.analytics, prefetch: 10)
            let first = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(first.retryCount, MessageHeaders.maximumRetryCount)

            try await consumer.retry(first, level: 1)

            let back = try await Self.receive(from: consumer, count: 1)[0]
            XCTAssertEqual(back.retryCount, MessageHeaders.maximumRetryCount)
            try await consumer.ack([back])
            await consumer.close()
        }
    }

    func testConsumingAMissingQueueThrowsAndHealthFollowsTheConnection() async throws {
        try await withFixture { fixture in
            try await fixture.broker.checkHealth()
            await assertThrowsAsync(
                try await fixture.broker.consume(queue: "missing-\(fixture.suffix)", prefetch: 1), "no such queue")
            try await fixture.broker.checkHealth()
        }
        // A client that never runs is not connected.
        let client = AMQPClient(configuration: try AMQPConnectionConfiguration(url: Self.url()), logger: Self.logger)
        let broker = RabbitMQBroker(client: client, logger: Self.logger)
        await assertThrowsAsync(try await broker.checkHealth(), "not connected")
        let outcomes = await broker.publish([
            OutgoingMessage(exchange: "x", routingKey: "k", body: [], properties: .init())
        ])
        // Not connected says nothing about the message: unavailable, not refused.
        guard case .unavailable = outcomes.first else { return XCTFail("expected .unavailable, got \(outcomes)") }
    }

    // MARK: Fixture

    struct Fixture: Sendable {
        let client: AMQPClient
        let broker: RabbitMQBroker
        let suffix: String
        let topology: BrokerTopology

        var analytics: String { self.topology.queues[0].name }
        var notifications: String { self.topology.queues[1].name }

        func message(_ number: Int, routingKey: String = "order.created") -> OutgoingMessage {
            OutgoingMessage(
                exchange: self.topology.exchange, routingKey: routingKey, body: Array("\(number)".utf8),
                properties: MessageProperties(contentType: "text/plain", messageID: "m-\(number)"))
        }

        /// The ready counts of `queues`, polled until they equal `expected` or two seconds passed (RabbitMQ's
        /// counts lag a little behind confirms and acks).
        func waitForCounts(_ queues: [String], equal expected: [Int]) async throws -> [Int] {
            var counts: [Int] = []
            _ = try await eventually(timeout: .seconds(2)) {
                counts = []
                for queue in queues { counts.append(try await self.broker.messageCount(queue: queue)) }
                return counts == expected
            }
            return counts
        }

        /// Deletes every queue and exchange of the topology (ignoring those that do not exist).
        func cleanUp() async {
            for queue in self.topology.queues {
                var names = [queue.name, queue.deadLetterQueueName]
                names += (1...queue.retryDelays.count).map { queue.retryQueueName(level: $0) }
                for name in names { try? await self.client.deleteQueue(name: name) }
            }
            try? await self.client.deleteExchange(name: self.topology.exchange)
            try? await self.client.deleteExchange(name: self.topology.deadLetterExchange)
        }
    }

    static var logger: Logger {
        var logger = Logger(label: "rabbitmq-broker-test")
        logger.logLevel = .critical
        return logger
    }

    static func url() throws -> String { try RealServers.require("RABBITMQ_URL") }

    /// Log records, for the test that checks what a topology conflict tells the operator.
    final class CapturedLogs: Sendable {
        struct Record: Sendable {
            var level: Logger.Level
            var message: String
        }

        private let records = Mutex<[Record]>([])
        var messages: [Record] { self.records.withLock { $0 } }
        func append(_ record: Record) { self.records.withLock { $0.append(record) } }

        var logger: Logger {
            Logger(label: "rabbitmq-broker-test") { _ in Handler(logs: self) }
        }

        struct Handler: LogHandler {
            let logs: CapturedLogs
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .debug
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { self.metadata[key] }
                set { self.metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                self.logs.append(Record(level: event.level, message: "\(event.message)"))
            }
        }
    }

    /// The broker contract on this fixture: over the network, so longer waits.
    private func contract(_ fixture: Fixture) -> MessageBrokerContract {
        MessageBrokerContract(
            broker: fixture.broker, queue: fixture.analytics, message: { fixture.message($0) }, patience: .seconds(3),
            idle: .milliseconds(500), settle: .milliseconds(100)
        )
    }

    /// Runs `body` on a fresh topology (declared unless `declare` is false) and deletes it afterwards; the broker's
    /// consumers take bodies up to `maximumBodySize`.
    func withFixture(
        declare: Bool = true, logs: CapturedLogs? = nil, maximumBodySize: Int? = nil,
        _ body: (Fixture) async throws -> Void
    ) async throws {
        let url = try Self.url()
        let client = AMQPClient(configuration: try AMQPConnectionConfiguration(url: url), logger: Self.logger)
        let running = Task { try await client.run() }
        defer { running.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        let suffix = String(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)
        let delays: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(300)]
        let topology = BrokerTopology(
            exchange: "orders-test-\(suffix)", deadLetterExchange: "orders-test-\(suffix).dlx",
            queues: [
                .init(name: "analytics-\(suffix)", bindingKeys: ["order.created"], retryDelays: delays),
                .init(name: "notifications-\(suffix)", bindingKeys: ["order.*"], retryDelays: delays),
            ])
        let fixture = Fixture(
            client: client,
            broker: RabbitMQBroker(client: client, maximumBodySize: maximumBodySize, logger: logs?.logger ?? Self.logger),
            suffix: suffix, topology: topology)
        do {
            if declare { try await fixture.broker.declare(topology) }
            try await body(fixture)
        } catch {
            await fixture.cleanUp()
            running.cancel()
            _ = try? await running.value
            throw error
        }
        await fixture.cleanUp()
        running.cancel()
        _ = try? await running.value
    }

    @Sendable static func number(_ delivery: Delivery) -> Int { MessageBrokerContract.number(delivery) }

    /// `next` within `timeout` (nil when nothing came), as the contract reads deliveries.
    static func next(
        from consumer: any MessageConsumer, limit: Int, within timeout: Duration = .seconds(3)
    ) async throws -> [Delivery]? {
        try await MessageBrokerContract.next(from: consumer, limit: limit, within: timeout)
    }

    /// Exactly `count` deliveries; fails the test when a batch does not come within 3 seconds.
    static func receive(
        from consumer: any MessageConsumer, count: Int, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> [Delivery] {
        try await MessageBrokerContract.receive(
            from: consumer, count: count, patience: .seconds(3), file: file, line: line
        )
    }

    private func assertThrowsAsync<T>(
        _ expression: @autoclosure () async throws -> T, _ message: String, file: StaticString = #filePath,
        line: UInt = #line
    ) async {
        do {
            _ = try await expression()
            XCTFail("expected an error: \(message)", file: file, line: line)
        } catch {}
    }
}

/// Acks every batch after passing it to `received`.
private struct AckingHandler: DeliveryBatchHandler {
    let received: @Sendable ([Delivery]) -> Void

    func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        self.received(deliveries)
        try? await consumer.ack(deliveries)
    }
}
