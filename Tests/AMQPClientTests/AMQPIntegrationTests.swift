import AMQPClient
import ClientTestSupport
import NIOCore
import XCTest

/// Against the shared broker (RABBITMQ_URL); every exchange and queue has a random name and is deleted.
final class AMQPIntegrationTests: XCTestCase {
    func testDeclareBindPublishConsumeRoundTripKeepsEveryProperty() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let exchange = TestEnvironment.uniqueName("x")
        let queue = TestEnvironment.uniqueName("q")
        try await channel.exchangeDeclare(name: exchange, type: .topic, durable: false, autoDelete: false)
        try await channel.queueDeclare(name: queue, durable: false, arguments: ["x-message-ttl": 60_000])
        try await channel.queueBind(queue: queue, exchange: exchange, routingKey: "thing.*")
        try await channel.confirmSelect()
        let properties = AMQPBasicProperties(
            contentType: "application/json", contentEncoding: "identity",
            headers: ["a": "b", "n": .int32(7), "nested": .table(["x": .bool(true)]), "list": [1, "two"]],
            deliveryMode: .persistent, priority: 3, correlationID: "corr", replyTo: "reply", expiration: "60000",
            messageID: "id-1", timestamp: 1_700_000_000, type: "ThingCreated", userID: "guest", appID: "tests")
        let body = ByteBuffer(string: String(repeating: "payload-", count: 40_000))  // several body frames
        try await channel.publish(body, exchange: exchange, routingKey: "thing.created", properties: properties)

        let consumer = try await channel.consume(queue: queue)
        var iterator = consumer.makeAsyncIterator()
        let next = try await iterator.next()
        let delivery = try XCTUnwrap(next)
        XCTAssertEqual(delivery.body, body)
        XCTAssertEqual(delivery.properties, properties)
        XCTAssertEqual(delivery.exchange, exchange)
        XCTAssertEqual(delivery.routingKey, "thing.created")
        XCTAssertFalse(delivery.redelivered)
        try await delivery.ack()
        try await consumer.cancel()
        let afterCancel = try await iterator.next()
        XCTAssertNil(afterCancel)

        try await channel.queueUnbind(queue: queue, exchange: exchange, routingKey: "thing.*")
        let passive = try await channel.queueDeclare(name: queue, passive: true)
        XCTAssertEqual(passive.messageCount, 0)
        try await channel.queueDelete(name: queue)
        try await channel.exchangeDelete(name: exchange)
        try await channel.close()
        try await connection.close()
    }

    func testTenThousandConfirmedPublishesAllComplete() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("q")
        try await channel.queueDeclare(name: queue, autoDelete: false)
        try await channel.confirmSelect()
        let messages = (0..<5_000).map {
            AMQPOutboundMessage(body: ByteBuffer(string: "m\($0)"), exchange: "", routingKey: queue)
        }
        let results = await channel.publishBatch(messages)
        XCTAssertEqual(results.filter { (try? $0.get()) != nil }.count, 5_000)
        // And 5,000 more from concurrent tasks, each awaiting its own confirm.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<50 {
                group.addTask {
                    for index in 0..<100 {
                        try await channel.publish(
                            ByteBuffer(string: "t\(task)-\(index)"), exchange: "", routingKey: queue)
                    }
                }
            }
            try await group.waitForAll()
        }
        let declared = try await channel.queueDeclare(name: queue, passive: true)
        XCTAssertEqual(declared.messageCount, 10_000)
        let deleted = try await channel.queueDelete(name: queue)
        XCTAssertEqual(deleted, 10_000)
        try await connection.close()
    }

    func testUnroutableMandatoryPublishIsReturnedAndFailsAsUnroutable() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let exchange = TestEnvironment.uniqueName("x")
        try await channel.exchangeDeclare(name: exchange, type: .direct)
        try await channel.confirmSelect()
        do {
            try await channel.publish(
                ByteBuffer(string: "lost"), exchange: exchange, routingKey: "nowhere", mandatory: true,
                properties: .init(messageID: "m-1"))
            XCTFail("an unroutable mandatory publish must not count as confirmed")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .unroutable)
        }
        var returns = channel.returnedMessages.makeAsyncIterator()
        let next = await returns.next()
        let returned = try XCTUnwrap(next)
        XCTAssertEqual(returned.replyCode, 312)
        XCTAssertEqual(returned.replyText, "NO_ROUTE")
        XCTAssertEqual(returned.routingKey, "nowhere")
        XCTAssertEqual(returned.properties.messageID, "m-1")
        XCTAssertEqual(String(buffer: returned.body), "lost")
        try await channel.exchangeDelete(name: exchange)
        try await connection.close()
    }

    func testMandatoryBatchSucceedsForRoutedMessagesAndFailsUnroutableOnesInOrder() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let exchange = TestEnvironment.uniqueName("x")
        let queue = TestEnvironment.uniqueName("q")
        try await channel.exchangeDeclare(name: exchange, type: .direct)
        try await channel.queueDeclare(name: queue)
        try await channel.queueBind(queue: queue, exchange: exchange, routingKey: "bound")
        try await channel.confirmSelect()
        // Equal bodies under other keys too, so only the content match tells the returned ones apart.
        let keys = ["bound", "unbound", "bound", "bound", "nowhere", "unbound", "bound", "nowhere"]
        let bodies = ["a", "a", "b", "c", "c", "d", "e", "e"]
        let messages = zip(keys, bodies).map { key, body in
            AMQPOutboundMessage(body: ByteBuffer(string: body), exchange: exchange, routingKey: key, mandatory: true)
        }
        let results = await channel.publishBatch(messages)
        XCTAssertEqual(results.count, keys.count)
        for (index, (key, result)) in zip(keys, results).enumerated() {
            switch result {
            case .success:
                XCTAssertEqual(key, "bound", "message \(index) was confirmed but had no route")
            case .failure(let error):
                XCTAssertNotEqual(key, "bound", "message \(index) was routed but failed: \(error)")
                XCTAssertEqual(error.code, .unroutable, "message \(index)")
                XCTAssertEqual(error.replyCode, 312, "message \(index)")
                XCTAssertEqual(error.replyText, "NO_ROUTE", "message \(index)")
            }
        }
        // The returns are still reported, in publish order.
        var returns = channel.returnedMessages.makeAsyncIterator()
        var returned: [String] = []
        for _ in 0..<4 {
            let next = await returns.next()
            returned.append(try XCTUnwrap(next).routingKey)
        }
        XCTAssertEqual(returned, ["unbound", "nowhere", "unbound", "nowhere"])
        let declared = try await channel.queueDeclare(name: queue, passive: true)
        XCTAssertEqual(declared.messageCount, 4)
        try await channel.queueDelete(name: queue)
        try await channel.exchangeDelete(name: exchange)
        try await connection.close()
    }

    func testClientMandatoryPublishToAnUnboundKeyThrowsUnroutableAndANonMandatoryOneSucceeds() async throws {
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: try TestEnvironment.rabbitMQURL()),
            logger: TestEnvironment.logger)
        let runner = Task { try await client.run() }
        defer { runner.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        let exchange = TestEnvironment.uniqueName("x")
        let queue = TestEnvironment.uniqueName("q")
        try await client.declareExchange(name: exchange, type: .direct, durable: false)
        try await client.declareQueue(name: queue, durable: false)
        try await client.bindQueue(queue: queue, exchange: exchange, routingKey: "bound")
        do {
            try await client.publish(
                ByteBuffer(string: "lost"), exchange: exchange, routingKey: "unbound", mandatory: true)
            XCTFail("a mandatory publish without a route must throw")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .unroutable)
            XCTAssertEqual(error.replyCode, 312)
        }
        // Without mandatory, RabbitMQ drops it and acks: the publish succeeds.
        try await client.publish(ByteBuffer(string: "dropped"), exchange: exchange, routingKey: "unbound")
        try await client.publish(ByteBuffer(string: "kept"), exchange: exchange, routingKey: "bound", mandatory: true)
        let count = try await client.withChannel { try await $0.queueDeclare(name: queue, passive: true).messageCount }
        XCTAssertEqual(count, 1)
        try await client.deleteQueue(name: queue)
        try await client.deleteExchange(name: exchange)
    }

    func testNackWithoutRequeueGoesToTheDeadLetterQueue() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let dlx = TestEnvironment.uniqueName("dlx")
        let queue = TestEnvironment.uniqueName("q")
        let dlq = queue + ".dlq"
        try await channel.exchangeDeclare(name: dlx, type: .direct)
        try await channel.queueDeclare(name: dlq)
        try await channel.queueBind(queue: dlq, exchange: dlx, routingKey: "dead")
        try await channel.queueDeclare(
            name: queue,
            arguments: ["x-dead-letter-exchange": .string(dlx), "x-dead-letter-routing-key": "dead"])
        try await channel.confirmSelect()
        try await channel.publish(ByteBuffer(string: "poison"), exchange: "", routingKey: queue)

        let consumer = try await channel.consume(queue: queue)
        for try await delivery in consumer {
            try await delivery.nack(requeue: false)
            break
        }
        var dead: AMQPDelivery?
        _ = try await eventually(timeout: .seconds(2)) {
            dead = try await channel.get(queue: dlq)
            return dead != nil
        }
        let message = try XCTUnwrap(dead)
        XCTAssertEqual(String(buffer: message.body), "poison")
        let death = message.properties.headers?["x-death"]?.arrayValue?.first?.tableValue
        XCTAssertEqual(death?["reason"]?.stringValue, "rejected")
        XCTAssertEqual(death?["queue"]?.stringValue, queue)
        try await message.ack()
        try await channel.queueDelete(name: queue)
        try await channel.queueDelete(name: dlq)
        try await channel.exchangeDelete(name: dlx)
        try await connection.close()
    }

    func testPrefetchLimitsUnacknowledgedDeliveries() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("q")
        try await channel.queueDeclare(name: queue)
        try await channel.confirmSelect()
        let results = await channel.publishBatch(
            (0..<20).map { AMQPOutboundMessage(body: ByteBuffer(string: "\($0)"), exchange: "", routingKey: queue) })
        XCTAssertTrue(results.allSatisfy { (try? $0.get()) != nil })
        try await channel.basicQos(prefetchCount: 5)
        let consumer = try await channel.consume(queue: queue)
        var iterator = consumer.makeAsyncIterator()
        var received: [AMQPDelivery] = []
        for _ in 0..<5 {
            let next = try await iterator.next()
            received.append(try XCTUnwrap(next))
        }
        try await Task.sleep(for: .milliseconds(300))
        // With 5 unacknowledged, the broker holds the other 15 back.
        let state = try await channel.queueDeclare(name: queue, passive: true)
        XCTAssertEqual(state.messageCount, 15)
        try await received.last!.ack(multiple: true)
        var more = 0
        while more < 15 {
            let next = try await iterator.next()
            let delivery = try XCTUnwrap(next)
            try await delivery.ack()
            more += 1
        }
        try await consumer.cancel()
        try await channel.queueDelete(name: queue)
        try await connection.close()
    }

    /// Closing a consuming channel while the broker streams deliveries into it: the frames it sent before it saw
    /// the close (methods, headers, bodies split over many frames) are dropped, the connection stays open, and the
    /// broker requeues every message. Run ten times, as the close lands at a different point of a delivery each time.
    func testClosingAChannelWhileDeliveriesStreamInKeepsTheConnectionAndRequeuesEverything() async throws {
        let connection = try await TestEnvironment.connect()
        let setup = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("q")
        try await setup.queueDeclare(name: queue)
        try await setup.confirmSelect()
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 300_000)  // several frames each
        let results = await setup.publishBatch(
            (0..<40).map { _ in AMQPOutboundMessage(body: body, exchange: "", routingKey: queue) })
        XCTAssertTrue(results.allSatisfy { (try? $0.get()) != nil })
        for _ in 0..<10 {
            let channel = try await connection.openChannel()
            try await channel.basicQos(prefetchCount: 40)
            let consumer = try await channel.consume(queue: queue)
            var iterator = consumer.makeAsyncIterator()
            _ = try await iterator.next()  // the rest are on their way
            try await channel.close()
            XCTAssertTrue(connection.isOpen, "frames that crossed the close must not be a protocol error")
        }
        let state = try await setup.queueDeclare(name: queue, passive: true)
        XCTAssertEqual(state.messageCount, 40, "every unacknowledged delivery is requeued")
        try await setup.queueDelete(name: queue)
        try await connection.close()
    }

    func testChannelErrorClosesOnlyThatChannel() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let other = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("q")
        try await channel.queueDeclare(name: queue, arguments: ["x-message-ttl": 1000])
        do {
            try await channel.queueDeclare(name: queue, arguments: ["x-message-ttl": 2000])
            XCTFail("a declare with other arguments must fail")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .brokerClosedChannel)
            XCTAssertEqual(error.replyCode, 406)
            XCTAssertEqual(error.classID, 50)
            XCTAssertEqual(error.methodID, 10)
            XCTAssertTrue(error.replyText?.contains("PRECONDITION_FAILED") ?? false)
        }
        do {
            try await channel.queueDeclare(name: queue, passive: true)
            XCTFail("the closed channel must refuse requests")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .brokerClosedChannel)
        }
        XCTAssertTrue(connection.isOpen)
        let passive = try await other.queueDeclare(name: queue, passive: true)
        XCTAssertEqual(passive.messageCount, 0)
        let fresh = try await connection.openChannel()
        do {
            try await fresh.queueDeclare(name: TestEnvironment.uniqueName("missing"), passive: true)
            XCTFail("passive declare of a missing queue must fail")
        } catch let error as AMQPError {
            XCTAssertEqual(error.replyCode, 404)
        }
        try await other.queueDelete(name: queue)
        try await connection.close()
    }

    func testGetReturnsMessagesThenNilWhenEmpty() async throws {
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let queue = try await channel.queueDeclare(name: "", exclusive: true, autoDelete: true).name
        XCTAssertTrue(queue.hasPrefix("amq.gen-"))
        try await channel.confirmSelect()
        try await channel.publish(ByteBuffer(string: "a"), exchange: "", routingKey: queue)
        try await channel.publish(ByteBuffer(), exchange: "", routingKey: queue)
        let first = try await channel.get(queue: queue)
        XCTAssertEqual(first.map { String(buffer: $0.body) }, "a")
        XCTAssertEqual(first?.messageCount, 1)
        let second = try await channel.get(queue: queue, noAck: true)
        XCTAssertEqual(second?.body.readableBytes, 0)
        try await first?.reject(requeue: true)
        let again = try await channel.get(queue: queue, noAck: true)
        XCTAssertEqual(again?.redelivered, true)
        let empty = try await channel.get(queue: queue)
        XCTAssertNil(empty)
        try await connection.close()
    }

    func testWrongPasswordFailsWithAuthenticationFailedAndNoPassword() async throws {
        var configuration = try AMQPConnectionConfiguration(url: try TestEnvironment.rabbitMQURL())
        configuration.password = "definitely-wrong-secret"
        do {
            _ = try await AMQPConnection.connect(configuration: configuration, logger: TestEnvironment.logger)
            XCTFail("must not connect")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .authenticationFailed)
            XCTAssertFalse("\(error)".contains("definitely-wrong-secret"))
        }
    }

    func testUnknownVirtualHostIsRefused() async throws {
        var configuration = try AMQPConnectionConfiguration(url: try TestEnvironment.rabbitMQURL())
        configuration.virtualHost = "no-such-vhost"
        do {
            _ = try await AMQPConnection.connect(configuration: configuration, logger: TestEnvironment.logger)
            XCTFail("must not connect")
        } catch let error as AMQPError {
            XCTAssertEqual(error.replyCode, 530)
        }
    }

    func testConnectToAClosedPortFailsQuickly() async throws {
        let configuration = AMQPConnectionConfiguration(host: "127.0.0.1", port: 1, connectTimeout: .seconds(2))
        do {
            _ = try await AMQPConnection.connect(configuration: configuration, logger: TestEnvironment.logger)
            XCTFail("must not connect")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .connectionClosed)
        }
    }
}
