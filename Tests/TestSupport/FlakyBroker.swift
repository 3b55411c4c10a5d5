import Messaging
import Synchronization

/// Wraps a real broker and makes its `publish` fail while ``isDown`` is true (or come back unroutable while
/// ``isUnroutable`` is), and its consumers' dead-letter and retry forwards fail ``forwardFailures`` times, to test
/// recovery paths. A unit-test double of our own protocol; the real RabbitMQ paths are tested against RabbitMQ.
public final class FlakyBroker: MessageBroker {
    private let wrapped: any MessageBroker
    private let down = Atomic<Bool>(false)
    private let unroutable = Atomic<Bool>(false)
    private let publishAttempts = Atomic<Int>(0)
    private let declarations = Atomic<Int>(0)
    fileprivate let failingForwards = Atomic<Int>(0)
    private let refused = Mutex<Set<String>>([])

    /// Wraps `broker`.
    public init(wrapping broker: any MessageBroker) {
        self.wrapped = broker
    }

    /// While true, every publish fails and health checks throw.
    public var isDown: Bool {
        get { self.down.load(ordering: .relaxed) }
        set { self.down.store(newValue, ordering: .relaxed) }
    }

    /// While true, every publish comes back `.unroutable`, as when someone removed the bindings.
    public var isUnroutable: Bool {
        get { self.unroutable.load(ordering: .relaxed) }
        set { self.unroutable.store(newValue, ordering: .relaxed) }
    }

    /// Messages (by message id) this broker fails every time while it confirms the others, as a broker that
    /// nacks one message would.
    public var refusedMessageIDs: Set<String> {
        get { self.refused.withLock { $0 } }
        set { self.refused.withLock { $0 = newValue } }
    }

    /// How many of the consumers' next dead-letter or retry forwards fail (as a broker refusing the copy would).
    public var forwardFailures: Int {
        get { self.failingForwards.load(ordering: .relaxed) }
        set { self.failingForwards.store(newValue, ordering: .relaxed) }
    }

    /// How many publish calls were made.
    public var publishCalls: Int { self.publishAttempts.load(ordering: .relaxed) }

    /// How many times a topology was declared.
    public var declareCalls: Int { self.declarations.load(ordering: .relaxed) }

    public func declare(_ topology: BrokerTopology) async throws {
        self.declarations.add(1, ordering: .relaxed)
        try await self.wrapped.declare(topology)
    }

    public func publish(_ messages: [OutgoingMessage]) async -> [PublishOutcome] {
        self.publishAttempts.add(1, ordering: .relaxed)
        if self.isDown { return messages.map { _ in .unavailable(reason: "broker down (test)") } }
        if self.isUnroutable { return messages.map { _ in .unroutable(reason: "no queue bound (test)") } }
        let refused = self.refusedMessageIDs
        guard !refused.isEmpty else { return await self.wrapped.publish(messages) }
        let passed = messages.filter { !refused.contains($0.properties.messageID ?? "") }
        var outcomes = await self.wrapped.publish(passed)[...]
        return messages.map { message in
            refused.contains(message.properties.messageID ?? "") ? .failed(reason: "nacked (test)") : outcomes.popFirst()!
        }
    }

    public func consume(queue: String, prefetch: Int) async throws -> any MessageConsumer {
        FlakyConsumer(wrapped: try await self.wrapped.consume(queue: queue, prefetch: prefetch), broker: self)
    }

    public func messageCount(queue: String) async throws -> Int {
        try await self.wrapped.messageCount(queue: queue)
    }

    public func checkHealth() async throws {
        if self.isDown { throw TestFailure("broker down (test)") }
        try await self.wrapped.checkHealth()
    }
}

/// A consumer of a ``FlakyBroker``: forwards fail while the broker says so.
private struct FlakyConsumer: MessageConsumer {
    let wrapped: any MessageConsumer
    let broker: FlakyBroker

    var retriesAvailable: Bool { self.wrapped.retriesAvailable }

    private func failForward() throws {
        let failing = self.broker.failingForwards.wrappingSubtract(1, ordering: .relaxed).oldValue
        if failing > 0 { throw TestFailure("the broker refused the forward (test)") }
        self.broker.failingForwards.store(0, ordering: .relaxed)
    }

    func next(limit: Int) async throws -> [Delivery]? { try await self.wrapped.next(limit: limit) }
    func ack(_ deliveries: [Delivery]) async throws { try await self.wrapped.ack(deliveries) }
    func retry(_ delivery: Delivery, level: Int) async throws {
        try self.failForward()
        try await self.wrapped.retry(delivery, level: level)
    }
    func deadLetter(_ delivery: Delivery, reason: String) async throws {
        try self.failForward()
        try await self.wrapped.deadLetter(delivery, reason: reason)
    }
    func requeue(_ deliveries: [Delivery]) async throws { try await self.wrapped.requeue(deliveries) }
    func cancel() async { await self.wrapped.cancel() }
    func close() async { await self.wrapped.close() }
}

/// A plain error with a message, for test doubles.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
