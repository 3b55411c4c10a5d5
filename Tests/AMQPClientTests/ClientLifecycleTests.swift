import AMQPClient
import ClientTestSupport
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import XCTest

/// The recovering client's own tasks: the wait before reconnecting ends on shutdown (an event, not a poll), the
/// closes at shutdown are awaited by `run()`, and a receiver gets its deliveries from the client's consumer task.
final class ClientLifecycleTests: XCTestCase {
    /// A client on a port nobody listens on, with a reconnection delay of an hour: once its first attempt failed
    /// (logged before the wait), only the shutdown can end the wait.
    private func clientWaitingToReconnect() async throws -> (AMQPClient, LogRecorder) {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        let logs = LogRecorder()
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: "amqp://guest:guest@127.0.0.1:\(port)/"),
            backoff: .init(initial: .seconds(3600), maximum: .seconds(3600)), logger: logs.logger())
        return (client, logs)
    }

    func testGracefulShutdownDuringTheReconnectionWaitEndsRunAtOnce() async throws {
        let (client, logs) = try await self.clientWaitingToReconnect()
        let group = Self.serviceGroup(client)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await logs.waitForLine(containing: "AMQP connection failed, retrying")
            await group.triggerGracefulShutdown()
            // Returns now, not in an hour.
            try await tasks.waitForAll()
        }
        XCTAssertFalse(client.isConnected)
    }

    func testCancellationDuringTheReconnectionWaitEndsRunAtOnce() async throws {
        let (client, logs) = try await self.clientWaitingToReconnect()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.run() }
            await logs.waitForLine(containing: "AMQP connection failed, retrying")
            tasks.cancelAll()
            try await tasks.waitForAll()
        }
    }

    /// A caller waiting for a connection that does not come is woken by its own cancellation, not by its hour-long
    /// timeout, and is told it was cancelled rather than timed out.
    func testWaitUntilConnectedEndsAtOnceWhenItsTaskIsCancelled() async throws {
        let (client, logs) = try await self.clientWaitingToReconnect()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.run() }
            await logs.waitForLine(containing: "AMQP connection failed, retrying")
            let waiter = Task { try await client.waitUntilConnected(timeout: .seconds(3600)) }
            waiter.cancel()
            do {
                try await waiter.value
                XCTFail("not connected: the wait must throw")
            } catch {
                XCTAssertTrue(error is CancellationError, "\(error)")
            }
            tasks.cancelAll()
            try await tasks.waitForAll()
        }
    }

    /// Waiters are woken by the connection coming up: one that started before the broker was reachable returns
    /// once the client connects (here a client whose first attempt is its only one before the wait ends).
    func testWaitersStartedBeforeTheConnectionAreWokenWhenItComesUp() async throws {
        let url = try TestEnvironment.rabbitMQURL()
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: url), logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let waiters = (0..<3).map { _ in Task { try await client.waitUntilConnected(timeout: .seconds(30)) } }
            tasks.addTask { try await client.run() }
            for waiter in waiters { try await waiter.value }
            XCTAssertTrue(client.isConnected)
            tasks.cancelAll()
            try await tasks.waitForAll()
        }
    }

    func testShutdownClosesTheConnectionBeforeRunReturnsAndFinishesTheConsumers() async throws {
        let url = try TestEnvironment.rabbitMQURL()
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: url), logger: TestEnvironment.logger)
        let queue = "lifecycle-\(UInt32.random(in: 0...UInt32.max))"
        let receiver = RecordingReceiver()
        let group = Self.serviceGroup(client)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await client.waitUntilConnected(timeout: .seconds(10))
            // Exclusive: gone with the connection, so the only thing that can finish the receiver is the shutdown.
            try await client.declareQueue(name: queue, durable: false, exclusive: true)
            client.consume(queue: queue, prefetchCount: 10, receiver: receiver)
            for index in 1...3 {
                try await client.publish(ByteBuffer(string: "\(index)"), exchange: "", routingKey: queue)
            }
            let deliveries = await receiver.waitFor(count: 3)
            XCTAssertEqual(deliveries.map { String(buffer: $0.body) }, ["1", "2", "3"])
            for delivery in deliveries { try await delivery.ack() }
            let connection = try await client.withChannel { $0.connection }

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            // Awaited by run(), not left to a task of its own: closed by the time run() returned.
            XCTAssertFalse(connection.isOpen)
        }
        XCTAssertTrue(receiver.isFinished, "the receiver was finished when the client stopped")
    }

    func testStoppedConsumerIsNotResumedAfterAReconnect() async throws {
        let url = try TestEnvironment.rabbitMQURL()
        let target = try AMQPConnectionConfiguration(url: url)
        let proxy = try await DroppingProxy.start(targetHost: target.host, targetPort: target.port)
        var configuration = target
        configuration.host = "127.0.0.1"
        configuration.port = proxy.port
        let client = AMQPClient(
            configuration: configuration, backoff: .init(initial: .milliseconds(10), maximum: .milliseconds(50)),
            logger: TestEnvironment.logger)
        let suffix = UInt32.random(in: 0...UInt32.max)
        let (stopped, kept) = ("lifecycle-stopped-\(suffix)", "lifecycle-kept-\(suffix)")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.run() }
            defer { tasks.cancelAll() }
            try await client.waitUntilConnected(timeout: .seconds(10))
            try await client.declareQueue(name: stopped, durable: false)
            try await client.declareQueue(name: kept, durable: false)
            let stoppedReceiver = RecordingReceiver()
            let keptReceiver = RecordingReceiver()
            let id = client.consume(queue: stopped, prefetchCount: 10, receiver: stoppedReceiver)
            client.consume(queue: kept, prefetchCount: 10, receiver: keptReceiver)
            try await client.publish(ByteBuffer(string: "1"), exchange: "", routingKey: stopped)
            let first = await stoppedReceiver.waitFor(count: 1)[0]
            try await first.ack()
            try await first.channel.cancel(consumerTag: first.consumerTag!)
            client.stopConsuming(id)

            let before = try await client.withChannel { $0.connection }
            proxy.dropAll()
            let reconnected = await self.eventuallyTrue {
                guard let now = try? await client.withChannel({ $0.connection }) else { return false }
                return now !== before
            }
            XCTAssertTrue(reconnected)
            // The kept consumer getting a message published on the new connection shows consumers run again.
            try await client.publish(ByteBuffer(string: "2"), exchange: "", routingKey: kept)
            _ = await keptReceiver.waitFor(count: 1)
            try await client.publish(ByteBuffer(string: "3"), exchange: "", routingKey: stopped)

            let state = try await client.withChannel { try await $0.queueDeclare(name: stopped, passive: true) }
            XCTAssertEqual(state.consumerCount, 0, "the stopped consumer came back with the reconnect")
            XCTAssertEqual(stoppedReceiver.count, 1)
            try await client.deleteQueue(name: stopped)
            try await client.deleteQueue(name: kept)
        }
        await proxy.stop()
    }

    private static func serviceGroup(_ client: AMQPClient) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: [client], logger: Logger(label: "group") { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Polls `condition` (every 20 ms, for up to 20 s) until it holds: for waiting on a reconnection.
    private func eventuallyTrue(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

/// Keeps what it receives; tests wait for a number of deliveries without sleeping.
private final class RecordingReceiver: AMQPDeliveryReceiver {
    private struct State {
        var deliveries: [AMQPDelivery] = []
        var finished = false
        var waiters: [(count: Int, continuation: CheckedContinuation<[AMQPDelivery], Never>)] = []
    }

    private let state = Mutex(State())

    var count: Int { self.state.withLock { $0.deliveries.count } }
    var isFinished: Bool { self.state.withLock { $0.finished } }

    func receive(_ delivery: AMQPDelivery) -> Bool {
        let ready = self.state.withLock { state -> [(CheckedContinuation<[AMQPDelivery], Never>, [AMQPDelivery])] in
            state.deliveries.append(delivery)
            let ready = state.waiters.filter { $0.count <= state.deliveries.count }
            state.waiters.removeAll { $0.count <= state.deliveries.count }
            return ready.map { ($0.continuation, Array(state.deliveries.prefix($0.count))) }
        }
        for (continuation, deliveries) in ready { continuation.resume(returning: deliveries) }
        return true
    }

    func finish(throwing error: (any Error)?) {
        self.state.withLock { $0.finished = true }
    }

    /// The first `count` deliveries, once they have arrived.
    func waitFor(count: Int) async -> [AMQPDelivery] {
        await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> [AMQPDelivery]? in
                if state.deliveries.count >= count { return Array(state.deliveries.prefix(count)) }
                state.waiters.append((count, continuation))
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
