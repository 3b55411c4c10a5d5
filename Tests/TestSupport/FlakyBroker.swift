import Synchronization
import ServiceRuntime

/// Wraps a real broker and makes its `publish` fail while ``isDown`` is true, to test recovery paths.
/// A unit-test double of our own protocol; the real RabbitMQ paths are tested against RabbitMQ.
public final class FlakyBroker: MessageBroker {
    private let wrapped: any MessageBroker
    private let down = Atomic<Bool>(false)
    private let publishAttempts = Atomic<Int>(0)

    /// Wraps `broker`.
    public init(wrapping broker: any MessageBroker) {
        self.wrapped = broker
    }

    /// While true, every publish fails and health checks throw.
    public var isDown: Bool {
        get { self.down.load(ordering: .relaxed) }
        set { self.down.store(newValue, ordering: .relaxed) }
    }

    /// How many publish calls were made.
    public var publishCalls: Int { self.publishAttempts.load(ordering: .relaxed) }

    public func declare(_ topology: BrokerTopology) async throws {
        try await self.wrapped.declare(topology)
    }

    public func publish(_ messages: [OutgoingMessage]) async -> [PublishOutcome] {
        self.publishAttempts.add(1, ordering: .relaxed)
        if self.isDown { return messages.map { _ in .failed(reason: "broker down (test)") } }
        return await self.wrapped.publish(messages)
    }

    public func consume(queue: String, prefetch: Int) async throws -> any MessageConsumer {
        try await self.wrapped.consume(queue: queue, prefetch: prefetch)
    }

    public func messageCount(queue: String) async throws -> Int {
        try await self.wrapped.messageCount(queue: queue)
    }

    public func checkHealth() async throws {
        if self.isDown { throw TestFailure("broker down (test)") }
        try await self.wrapped.checkHealth()
    }
}

/// A plain error with a message, for test doubles.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
