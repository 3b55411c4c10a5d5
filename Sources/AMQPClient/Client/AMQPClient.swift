import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Timing

/// A recovering AMQP client: a swift-service-lifecycle `Service` that owns one connection and, when it drops,
/// reconnects with backoff, re-declares the recorded topology, reopens its publishing channel and resumes consumers.
///
/// ```swift
/// let client = AMQPClient(configuration: try .init(url: "amqp://guest:guest@127.0.0.1:5672/"), logger: logger)
/// // Run it in a ServiceGroup (or `Task { try await client.run() }`).
/// try await client.declareExchange(name: "events", type: .topic, durable: true)      // recorded, re-declared
/// try await client.declareQueue(name: "q", durable: true)
/// try await client.bindQueue(queue: "q", exchange: "events", routingKey: "thing.*")
/// try await client.publish(ByteBuffer(string: "hi"), exchange: "events", routingKey: "thing.created")
/// for try await delivery in client.consume(queue: "q", prefetchCount: 100) {     // survives reconnects
///     try await delivery.ack()
/// }
/// ```
///
/// Publishes go through a confirm-mode channel: ``publish(_:exchange:routingKey:mandatory:properties:)`` returns when
/// the broker confirmed, and throws when the connection is down or drops before the confirm, so the caller retries
/// (a retried message may then arrive twice: consumers should be idempotent). A `mandatory` publish that no queue
/// takes throws ``AMQPError/Code/unroutable``: confirmed means routed. Deliveries received before a drop cannot be
/// acked afterwards (their ack throws); the broker redelivers them, flagged `redelivered`.
///
/// Thread-safety: `Sendable`; every method may be called from any task.
public final class AMQPClient: Service, Sendable {
    /// How long to wait between reconnection attempts: the settings of the package's one backoff
    /// (`Timing.Backoff`), which doubles the delay up to the maximum and draws each one between half and all of it.
    public struct Backoff: Sendable {
        /// The first delay (at most; at least half of it).
        public var initial: Duration
        /// The largest delay; delays double up to it.
        public var maximum: Duration
        /// Creates a backoff policy.
        public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
            self.initial = initial
            self.maximum = maximum
        }
    }

    private enum TopologyItem: Sendable {
        case exchange(name: String, type: AMQPExchangeType, durable: Bool, autoDelete: Bool, arguments: AMQPFieldTable)
        case queue(name: String, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: AMQPFieldTable)
        case binding(queue: String, exchange: String, routingKey: String, arguments: AMQPFieldTable)

        func apply(on channel: AMQPChannel) async throws {
            switch self {
            case .exchange(let name, let type, let durable, let autoDelete, let arguments):
                try await channel.exchangeDeclare(
                    name: name, type: type, durable: durable, autoDelete: autoDelete, arguments: arguments)
            case .queue(let name, let durable, let exclusive, let autoDelete, let arguments):
                try await channel.queueDeclare(
                    name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments)
            case .binding(let queue, let exchange, let routingKey, let arguments):
                try await channel.queueBind(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
            }
        }

        var key: String {
            switch self {
            case .exchange(let name, _, _, _, _): "e:\(name)"
            case .queue(let name, _, _, _, _): "q:\(name)"
            case .binding(let queue, let exchange, let routingKey, let arguments): "b:\(queue)|\(exchange)|\(routingKey)|\(arguments.hashValue)"
            }
        }
    }

    private struct ConsumerSpec: Sendable {
        var queue: String
        var prefetchCount: UInt16
        var noAck: Bool
        var exclusive: Bool
        var arguments: AMQPFieldTable
        var maxBodySize: UInt64?
        var receiver: any AMQPDeliveryReceiver
    }

    /// A consumer started with ``consume(queue:prefetchCount:noAck:exclusive:arguments:maxBodySize:receiver:)``,
    /// to stop it with ``stopConsuming(_:)``.
    public struct ConsumerID: Hashable, Sendable {
        let value: Int
    }

    /// What the connection loop reacts to, in the order it happened.
    private enum Event: Sendable {
        case consumerAdded(Int)
        case connectionClosed(ObjectIdentifier)
        case shutdown
        /// The delay before the next connection attempt has passed.
        case reconnectDue
    }

    private struct State {
        var connection: AMQPConnection?
        var publishChannel: AMQPChannel?
        var topology: [TopologyItem] = []
        var consumers: [Int: ConsumerSpec] = [:]
        var nextConsumerID = 0
        var shuttingDown = false
        var running = false
        /// Why the latest connection attempt failed, until one succeeds: told by ``waitUntilConnected(timeout:)``
        /// instead of a bare timeout (e.g. a certificate that does not verify).
        var lastConnectError: (any Error)?
        /// Callers of ``waitUntilConnected(timeout:)``, resumed when a connection is up and restored.
        var connectedWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waiters cancelled before they registered, so they do not register at all.
        var cancelledWaiters: Set<Int> = []
        var nextWaiterID = 0
    }

    private let configuration: AMQPConnectionConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let backoff: Backoff
    private let state = Mutex(State())
    private let events: AsyncStream<Event>
    private let eventContinuation: AsyncStream<Event>.Continuation

    /// Creates a client; nothing connects until ``run()``.
    public init(
        configuration: AMQPConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        backoff: Backoff = .init(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.backoff = backoff
        self.logger = logger
        (self.events, self.eventContinuation) = AsyncStream.makeStream()
    }

    /// Whether a connection is up and restored.
    public var isConnected: Bool { self.state.withLock { $0.publishChannel != nil } }

    /// The broker's `host:port` as configured, for messages (never the credentials).
    public var address: String { "\(self.configuration.host):\(self.configuration.port)" }

    /// Waits until the client is connected, or throws ``AMQPError/Code/timeout`` with the reason the latest attempt
    /// failed, if any. Woken by the connection loop when a connection is restored (no polling); a timer child bounds
    /// the wait.
    public func waitUntilConnected(timeout: Duration = .seconds(30)) async throws {
        if self.isConnected { return }
        let connected = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.connectedSignal()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        try Task.checkCancellation()
        if connected && self.isConnected { return }
        let lastError = self.state.withLock { $0.lastConnectError }
        throw AMQPError(
            code: .timeout,
            message: "not connected to \(self.configuration) after \(timeout)"
                + (lastError.map { "; last attempt: \($0)" } ?? ""))
    }

    /// Returns once a connection is up and restored, or when the calling task is cancelled.
    private func connectedSignal() async {
        let id = self.state.withLock { state -> Int? in
            guard state.publishChannel == nil else { return nil }
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.publishChannel != nil || state.cancelledWaiters.remove(id) != nil { return true }
                    state.connectedWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.connectedWaiters.removeValue(forKey: id) { return waiter }
                state.cancelledWaiters.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }

    // MARK: Service

    /// Connects and keeps reconnecting until the task is cancelled or graceful shutdown is triggered; then closes
    /// the connection and ends every consumer sequence.
    public func run() async throws {
        let alreadyRunning = self.state.withLock { state in
            defer { state.running = true }
            return state.running
        }
        guard !alreadyRunning else { throw AMQPError.invalidArgument("AMQPClient.run() called twice") }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await self.connectionLoop()
            } onCancel: {
                self.shutdown()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        let (connection, consumers) = self.state.withLock { state in
            let result = (state.connection, Array(state.consumers.values))
            state.connection = nil
            state.publishChannel = nil
            state.consumers.removeAll()
            return result
        }
        try? await connection?.close()
        for consumer in consumers { consumer.receiver.finish(throwing: nil) }
    }

    /// Tells the connection loop to stop; the loop closes the connection itself (awaited) and returns.
    private func shutdown() {
        self.state.withLock { $0.shuttingDown = true }
        self.eventContinuation.yield(.shutdown)
    }

    private var isShuttingDown: Bool { self.state.withLock { $0.shuttingDown } }

    private func connectionLoop() async {
        var attempt = 0
        var backoff = Timing.Backoff(initial: self.backoff.initial, maximum: self.backoff.maximum)
        var events = self.events.makeAsyncIterator()
        // Cancellation also shuts down (run()'s handler), but the events may end before that handler has run.
        while !self.isShuttingDown && !Task.isCancelled {
            do {
                let connection = try await AMQPConnection.connect(
                    configuration: self.configuration, eventLoopGroup: self.eventLoopGroup, logger: self.logger)
                do {
                    try await self.restore(on: connection)
                } catch {
                    try? await connection.close()
                    throw error
                }
                if attempt > 0 { self.logger.info("AMQP connection recovered", metadata: ["attempts": "\(attempt)"]) }
                attempt = 0
                backoff.reset()
                self.state.withLock { $0.lastConnectError = nil }
                await self.serve(connection, events: &events)
            } catch {
                self.state.withLock { $0.lastConnectError = error }
                attempt += 1
                if attempt == 1 || attempt % 10 == 0 {
                    self.logger.warning(
                        "AMQP connection failed, retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
            }
            guard !self.isShuttingDown && !Task.isCancelled else { break }
            await self.waitBeforeReconnecting(backoff.nextDelay(), events: &events)
        }
    }

    /// Waits `delay`, or less when shutdown begins: a timer child posts ``Event/reconnectDue`` to the events the loop
    /// reads anyway, so whichever of the two comes first wakes it, with no polling. A shutdown cancels the timer
    /// (its event is then never posted).
    private func waitBeforeReconnecting(_ delay: Duration, events: inout AsyncStream<Event>.AsyncIterator) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return
                }
                self.eventContinuation.yield(.reconnectDue)
            }
            // Nil once the task is cancelled, which also shuts the client down.
            waiting: while let event = await events.next() {
                switch event {
                case .reconnectDue, .shutdown:
                    break waiting
                case .consumerAdded, .connectionClosed:
                    // The next connection starts every registered consumer; a closed connection is already gone.
                    continue
                }
            }
            group.cancelAll()
        }
    }

    /// Re-declares the topology and opens the publishing channel; then the client counts as connected.
    private func restore(on connection: AMQPConnection) async throws {
        let topology = self.state.withLock { $0.topology }
        if !topology.isEmpty {
            let channel = try await connection.openChannel()
            for item in topology { try await item.apply(on: channel) }
            try await channel.close()
        }
        let publishChannel = try await connection.openChannel()
        try await publishChannel.confirmSelect()
        let (shuttingDown, waiters) = self.state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard !state.shuttingDown else { return (true, []) }
            state.connection = connection
            state.publishChannel = publishChannel
            defer { state.connectedWaiters.removeAll() }
            return (false, Array(state.connectedWaiters.values))
        }
        for waiter in waiters { waiter.resume() }
        if shuttingDown { throw AMQPError.connectionClosed("the client is shutting down") }
    }

    /// Runs the consumers on `connection` until it closes.
    private func serve(_ connection: AMQPConnection, events: inout AsyncStream<Event>.AsyncIterator) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = await connection.closed()
                self.eventContinuation.yield(.connectionClosed(ObjectIdentifier(connection)))
            }
            // A consumer added before this connection also has a queued event: start each one once.
            var started = Set<Int>()
            for id in self.state.withLock({ Array($0.consumers.keys) }) {
                started.insert(id)
                group.addTask { await self.runConsumer(id, on: connection) }
            }
            var closed = false
            // Nil once the task is cancelled, which also shuts the client down.
            loop: while let event = await events.next() {
                switch event {
                case .consumerAdded(let id):
                    guard started.insert(id).inserted else { continue }
                    group.addTask { await self.runConsumer(id, on: connection) }
                case .connectionClosed(let identifier) where identifier == ObjectIdentifier(connection):
                    closed = true
                    break loop
                case .connectionClosed, .reconnectDue:
                    continue
                case .shutdown:
                    break loop
                }
            }
            // Shutting down: close here, awaited, before the children are cancelled, so that the consumers' channels
            // are already closed when they end.
            if !closed { try? await connection.close() }
            group.cancelAll()
        }
        self.state.withLock { state in
            if state.connection === connection {
                state.connection = nil
                state.publishChannel = nil
            }
        }
        if !self.isShuttingDown {
            self.logger.warning("AMQP connection lost, reconnecting", metadata: ["error": "\(connection.closeError ?? .connectionClosed())"])
        }
    }

    private func runConsumer(_ id: Int, on connection: AMQPConnection) async {
        guard let spec = self.state.withLock({ $0.consumers[id] }) else { return }
        do {
            let channel = try await connection.openChannel()
            if spec.prefetchCount > 0 { try await channel.basicQos(prefetchCount: spec.prefetchCount) }
            let consumer = try await channel.consume(
                queue: spec.queue, noAck: spec.noAck, exclusive: spec.exclusive, arguments: spec.arguments,
                maxBodySize: spec.maxBodySize)
            // Cancellation (by `serve`, after it closed the connection) ends this loop.
            for try await delivery in consumer {
                if !spec.receiver.receive(delivery) {
                    try? await delivery.reject(requeue: true)
                    try? await channel.close()
                    return
                }
            }
            // Answered at once when the connection is closed already; awaited, so nothing of it outlives `serve`.
            if Task.isCancelled { try? await channel.close() }
        } catch {
            // A lost connection is recovered by the loop; a channel error (e.g. the queue was deleted) ends the
            // consumer with the reason.
            if connection.isOpen && !Task.isCancelled {
                let spec = self.state.withLock { $0.consumers.removeValue(forKey: id) }
                spec?.receiver.finish(throwing: error)
            }
        }
    }

    // MARK: topology (recorded)

    private func record(_ item: TopologyItem) async throws {
        self.state.withLock { state in
            state.topology.removeAll { $0.key == item.key }
            state.topology.append(item)
        }
        guard let connection = self.state.withLock({ $0.connection }) else { return }
        do {
            let channel = try await connection.openChannel()
            try await item.apply(on: channel)
            try await channel.close()
        } catch let error as AMQPError where error.code == .brokerClosedChannel {
            self.state.withLock { state in state.topology.removeAll { $0.key == item.key } }
            throw error
        }
    }

    /// Declares an exchange now (when connected) and after every reconnection.
    public func declareExchange(
        name: String, type: AMQPExchangeType, durable: Bool = true, autoDelete: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws {
        try await self.record(.exchange(name: name, type: type, durable: durable, autoDelete: autoDelete, arguments: arguments))
    }

    /// Declares a named queue now (when connected) and after every reconnection.
    public func declareQueue(
        name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws {
        try await self.record(
            .queue(name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments))
    }

    /// Binds a queue now (when connected) and after every reconnection.
    public func bindQueue(
        queue: String, exchange: String, routingKey: String = "", arguments: AMQPFieldTable = [:]
    ) async throws {
        try await self.record(.binding(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments))
    }

    /// Deletes a queue and forgets its declaration.
    public func deleteQueue(name: String) async throws {
        self.state.withLock { state in
            state.topology.removeAll {
                if case .binding(let queue, _, _, _) = $0, queue == name { return true }
                return $0.key == "q:\(name)"
            }
        }
        _ = try await self.withChannel { try await $0.queueDelete(name: name) }
    }

    /// Deletes an exchange and forgets its declaration.
    public func deleteExchange(name: String) async throws {
        self.state.withLock { state in
            state.topology.removeAll {
                if case .binding(_, let exchange, _, _) = $0, exchange == name { return true }
                return $0.key == "e:\(name)"
            }
        }
        try await self.withChannel { try await $0.exchangeDelete(name: name) }
    }

    /// Runs `body` on a fresh channel of the current connection (closed afterwards); nothing is recorded. Throws
    /// ``AMQPError/Code/connectionClosed`` while disconnected.
    public func withChannel<T: Sendable>(_ body: (AMQPChannel) async throws -> T) async throws -> T {
        guard let connection = self.state.withLock({ $0.connection }) else {
            throw AMQPError.connectionClosed("not connected to the broker (reconnecting)")
        }
        let channel = try await connection.openChannel()
        do {
            let result = try await body(channel)
            try? await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    // MARK: publishing

    /// Publishes and returns once the broker confirmed. Throws ``AMQPError`` when not connected, when the broker
    /// nacked, or when the connection dropped first: retry then. With `mandatory`, a message the broker could not
    /// route to any queue throws ``AMQPError/Code/unroutable`` (reply code 312 NO_ROUTE) instead: confirmed means
    /// routed.
    public func publish(
        _ body: ByteBuffer, exchange: String, routingKey: String, mandatory: Bool = false,
        properties: AMQPBasicProperties = .init()
    ) async throws {
        let channel = try await self.openPublishChannel()
        try await channel.publish(
            body, exchange: exchange, routingKey: routingKey, mandatory: mandatory, properties: properties)
    }

    /// Publishes many messages with all confirms in flight; each result says whether that one was confirmed. A
    /// `mandatory` message the broker could not route to any queue fails with ``AMQPError/Code/unroutable``.
    public func publishBatch(
        _ messages: [AMQPOutboundMessage], confirmTimeout: Duration? = nil
    ) async -> [Result<Void, AMQPError>] {
        let channel: AMQPChannel
        do {
            channel = try await self.openPublishChannel()
        } catch {
            let error = (error as? AMQPError) ?? .connectionClosed("\(error)")
            return messages.map { _ in .failure(error) }
        }
        // A blocked connection is not read by the broker: what we wrote would pile up unconfirmed in our buffers.
        if channel.connection.isBlocked {
            let error = AMQPError.blocked(channel.connection.blockedReason)
            return messages.map { _ in .failure(error) }
        }
        return await channel.publishBatch(messages, confirmTimeout: confirmTimeout)
    }

    /// The confirm-mode publishing channel. A channel error (e.g. 404 for a publish to an exchange someone deleted)
    /// closes that channel but not the connection, so the connection would stay up with no way to publish: a closed
    /// publishing channel is replaced by a new one on the same connection. Throws while disconnected.
    private func openPublishChannel() async throws -> AMQPChannel {
        let (current, connection) = self.state.withLock { ($0.publishChannel, $0.connection) }
        guard let current, let connection else {
            throw AMQPError.connectionClosed("not connected to the broker (reconnecting): retry the publish")
        }
        if current.isOpen { return current }
        let replacement = try await connection.openChannel()
        try await replacement.confirmSelect()
        let (installed, loser) = self.state.withLock { state -> (AMQPChannel?, AMQPChannel?) in
            guard state.connection === connection, let now = state.publishChannel else { return (nil, replacement) }
            guard now === current else { return (now, replacement) }  // another publisher replaced it first
            state.publishChannel = replacement
            return (replacement, nil)
        }
        if let loser { try? await loser.close() }
        guard let installed else {
            throw AMQPError.connectionClosed("the connection was replaced while reopening the publishing channel")
        }
        if installed === replacement {
            self.logger.info("AMQP publishing channel reopened after a channel error", metadata: ["error": "\(current.closeError.map { "\($0)" } ?? "closed")"])
        }
        return installed
    }

    // MARK: consuming

    /// Consumes `queue` on its own channel with `prefetchCount`, resuming after every reconnection. The sequence
    /// ends when the client stops, and throws when the broker refuses the consumer (e.g. the queue is gone).
    /// Ending the iteration (e.g. cancelling the iterating task) stops the consumer. `maxBodySize` is
    /// ``AMQPChannel/consume(queue:consumerTag:noAck:exclusive:arguments:maxBodySize:)``'s.
    public func consume(
        queue: String, prefetchCount: UInt16 = 100, noAck: Bool = false, exclusive: Bool = false,
        arguments: AMQPFieldTable = [:], maxBodySize: UInt64? = nil
    ) -> AsyncThrowingStream<AMQPDelivery, any Error> {
        let (stream, continuation) = AsyncThrowingStream<AMQPDelivery, any Error>.makeStream()
        let id = self.consume(
            queue: queue, prefetchCount: prefetchCount, noAck: noAck, exclusive: exclusive, arguments: arguments,
            maxBodySize: maxBodySize, receiver: StreamReceiver(continuation: continuation))
        continuation.onTermination = { _ in
            self.stopConsuming(id)
        }
        return stream
    }

    /// Consumes `queue` on its own channel with `prefetchCount`, resuming after every reconnection, and hands every
    /// delivery to `receiver` from the client's own task for this consumer, a child of ``run()``: the caller needs
    /// no task of its own to receive (e.g. a consumer that buffers deliveries for a pull-style `next`).
    /// `receiver` is finished when the client stops, or when the broker refuses the consumer (e.g. the queue is
    /// gone). Stop it with ``stopConsuming(_:)``. A delivery whose body is over `maxBodySize` comes without it
    /// (``AMQPDelivery/oversizedBodySize``; see
    /// ``AMQPChannel/consume(queue:consumerTag:noAck:exclusive:arguments:maxBodySize:)``).
    @discardableResult
    public func consume(
        queue: String, prefetchCount: UInt16 = 100, noAck: Bool = false, exclusive: Bool = false,
        arguments: AMQPFieldTable = [:], maxBodySize: UInt64? = nil, receiver: some AMQPDeliveryReceiver
    ) -> ConsumerID {
        let id = self.state.withLock { state in
            defer { state.nextConsumerID += 1 }
            state.consumers[state.nextConsumerID] = ConsumerSpec(
                queue: queue, prefetchCount: prefetchCount, noAck: noAck, exclusive: exclusive, arguments: arguments,
                maxBodySize: maxBodySize, receiver: receiver)
            return state.nextConsumerID
        }
        self.eventContinuation.yield(.consumerAdded(id))
        return ConsumerID(value: id)
    }

    /// Forgets a consumer: it is not resumed after a reconnection. Deliveries still arriving on its channel go to
    /// its receiver until the broker's side of the consumer ends (cancel it on its channel first, e.g. with
    /// ``AMQPChannel/cancel(consumerTag:)``, for none to come); a receiver that declines them gets them requeued.
    /// Its receiver is not finished.
    public func stopConsuming(_ id: ConsumerID) {
        _ = self.state.withLock { $0.consumers.removeValue(forKey: id.value) }
    }

    /// ``consume(queue:prefetchCount:noAck:exclusive:arguments:maxBodySize:)``'s sequence, fed by the consumer's
    /// task.
    private struct StreamReceiver: AMQPDeliveryReceiver {
        let continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation

        func receive(_ delivery: AMQPDelivery) -> Bool {
            if case .terminated = self.continuation.yield(delivery) { return false }
            return true
        }

        func finish(throwing error: (any Error)?) {
            self.continuation.finish(throwing: error)
        }
    }
}
