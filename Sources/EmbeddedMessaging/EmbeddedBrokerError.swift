/// Why the ``EmbeddedBroker`` refused a call: one error type with a code and a message that names the queue,
/// exchange or delivery tag involved.
public struct EmbeddedBrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure; switch on it, show ``message`` to people.
    public enum Code: Sendable, Equatable {
        /// The broker was shut down.
        case shutDown
        /// The exchange was not declared.
        case unknownExchange
        /// The queue was not declared, or cannot be used this way (retry and dead-letter queues have no consumers).
        case unknownQueue
        /// A settled delivery is not held unsettled by this consumer (settled already, or another consumer's).
        case unknownDeliveryTag
        /// An exchange was declared again with another type (RabbitMQ answers 406 PRECONDITION_FAILED).
        case exchangeTypeConflict
        /// An argument is out of range, e.g. a prefetch below 1.
        case invalidArgument
        /// `retry` on a queue that was declared without retry delays.
        case noRetryLevels
        /// `next` was called while another `next` of the same consumer was waiting.
        case concurrentNext
        /// A stored row could not be decoded: a bug or a foreign schema.
        case corruptStoredMessage
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, for logs and people.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message, prefixed with the component.
    public var description: String { "embedded broker: \(self.message)" }

    static let shutDown = EmbeddedBrokerError(.shutDown, "the broker is shut down")
}
