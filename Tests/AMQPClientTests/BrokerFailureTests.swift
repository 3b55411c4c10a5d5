import AMQPClient
import ClientTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Tests that pause and kill a broker: each uses its own throwaway RabbitMQ (needs the servers installed, so it
/// requires RABBITMQ_URL like the other real-server tests).
final class BrokerFailureTests: XCTestCase {
    func testMissedHeartbeatsFromAPausedBrokerMarkTheConnectionDead() async throws {
        _ = try TestEnvironment.rabbitMQURL()
        let broker = try ThrowawayBroker()
        defer { broker.down() }
        var configuration = try AMQPConnectionConfiguration(url: broker.url)
        configuration.heartbeat = 1
        let connection = try await AMQPConnection.connect(configuration: configuration, logger: TestEnvironment.logger)
        XCTAssertEqual(connection.heartbeat, 1)
        let channel = try await connection.openChannel()
        try broker.signal(SIGSTOP)
        defer { try? broker.signal(SIGCONT) }
        let started = ContinuousClock.now
        let error = await connection.closed()
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(error.code, .connectionClosed)
        XCTAssertTrue(error.message.contains("heartbeat"), error.message)
        XCTAssertLessThan(elapsed, .seconds(5))
        XCTAssertFalse(connection.isOpen)
        do {
            try await channel.basicQos(prefetchCount: 1)
            XCTFail("a dead connection's channel must refuse requests")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .connectionClosed)
        }
    }

    func testRecoveringClientReconnectsAndResumesConsumingWithoutLosingConfirmedMessages() async throws {
        _ = try TestEnvironment.rabbitMQURL()
        let broker = try ThrowawayBroker()
        defer { broker.down() }
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: broker.url),
            backoff: .init(initial: .milliseconds(100), maximum: .milliseconds(500)), logger: TestEnvironment.logger)
        let runner = Task { try await client.run() }
        defer { runner.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        try await client.declareExchange(name: "events", type: .topic, durable: true)
        try await client.declareQueue(name: "events.q", durable: true, arguments: ["x-queue-type": "classic"])
        try await client.bindQueue(queue: "events.q", exchange: "events", routingKey: "thing.#")
        // A transient queue does not survive the broker's restart: only the client's re-declaration brings it back.
        try await client.declareQueue(name: "events.transient", durable: false)
        try await client.bindQueue(queue: "events.transient", exchange: "events", routingKey: "thing.#")

        let received = Mutex(Set<String>())
        let consumer = Task {
            for try await delivery in client.consume(queue: "events.q", prefetchCount: 50) {
                received.withLock { _ = $0.insert(delivery.properties.messageID ?? "") }
                try? await delivery.ack()
            }
        }
        defer { consumer.cancel() }

        var confirmed = Set<String>()
        func publish(_ id: String) async {
            // The caller's retry loop: a publish that fails (down, or dropped before its confirm) is sent again.
            while true {
                do {
                    try await client.publish(
                        ByteBuffer(string: id), exchange: "events", routingKey: "thing.created",
                        properties: .init(deliveryMode: .persistent, messageID: id))
                    confirmed.insert(id)
                    return
                } catch {
                    // Down, or dropped before the confirm: send again once the client is back.
                    _ = await eventually(interval: .milliseconds(10)) { client.isConnected }
                }
            }
        }
        for index in 0..<100 { await publish("before-\(index)") }
        try broker.kill()
        // While the broker is down, publishes fail fast (the caller retries); start it again in the background.
        let restart = Task.detached { try broker.start() }
        for index in 0..<100 { await publish("after-\(index)") }
        try await restart.value
        try await client.waitUntilConnected(timeout: .seconds(20))

        _ = await eventually { received.withLock { confirmed.isSubset(of: $0) } }
        let missing = confirmed.subtracting(received.withLock { $0 })
        XCTAssertEqual(confirmed.count, 200)
        XCTAssertTrue(missing.isEmpty, "confirmed but never delivered: \(missing.sorted().prefix(10))")
        let transient = try await client.withChannel { channel in
            try await channel.queueDeclare(name: "events.transient", passive: true).messageCount
        }
        XCTAssertGreaterThan(transient, 0, "the transient queue was re-declared and bound after the restart")
        try await client.deleteQueue(name: "events.transient")
        try await client.deleteQueue(name: "events.q")
        try await client.deleteExchange(name: "events")
        runner.cancel()
        _ = try? await runner.value
    }

    /// A memory alarm blocks publishing: a publish already sent is answered by the confirm deadline instead of
    /// waiting for the alarm to clear, the next ones fail at once without being written (`connection.blocked`),
    /// and publishing works again once the alarm clears.
    func testAMemoryAlarmFailsPublishesByTheirDeadlineThenAtOnceAndClears() async throws {
        _ = try TestEnvironment.rabbitMQURL()
        let broker = try ThrowawayBroker()
        defer { broker.down() }
        let client = AMQPClient(configuration: try AMQPConnectionConfiguration(url: broker.url), logger: TestEnvironment.logger)
        let runner = Task { try await client.run() }
        defer { runner.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        try await client.declareQueue(name: "alarm.q", durable: true)
        let message = AMQPOutboundMessage(body: ByteBuffer(string: "x"), exchange: "", routingKey: "alarm.q", mandatory: true)
        let before = await client.publishBatch([message], confirmTimeout: .seconds(2))
        XCTAssertNoThrow(try before[0].get())

        try broker.rabbitmqctl("set_vm_memory_high_watermark", "0.0000001")
        // The broker blocks a connection when it publishes during the alarm; until then a publish is sent and its
        // confirm never comes: the deadline answers it.
        var codes: [AMQPError.Code] = []
        let blocked = await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            let started = ContinuousClock.now
            let result = await client.publishBatch([message], confirmTimeout: .seconds(2))
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "answered by the deadline")
            guard case .failure(let error) = result[0] else { return false }
            codes.append(error.code)
            return error.code == .blocked
        }
        XCTAssertTrue(blocked, "\(codes)")
        XCTAssertTrue(codes.allSatisfy { $0 == .timeout || $0 == .blocked }, "\(codes)")
        let started = ContinuousClock.now
        let refused = await client.publishBatch([message, message], confirmTimeout: .seconds(2))
        XCTAssertLessThan(ContinuousClock.now - started, .milliseconds(500), "refused at once while blocked")
        XCTAssertEqual(refused.compactMap { try? $0.get() }.count, 0)

        try broker.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
        let flows = await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            (try? await client.publishBatch([message], confirmTimeout: .seconds(2))[0].get()) != nil
        }
        XCTAssertTrue(flows, "publishing works again once the alarm clears")
    }
}
