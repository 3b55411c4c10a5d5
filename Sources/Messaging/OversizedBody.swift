/// A delivery whose body the broker did not hand over because it is larger than the consumer's limit
/// (`AMQP_MAX_BODY`): the consumer cannot decode it and dead-letters it as it is (``QueueConsumerService`` does so
/// before its handler sees the batch).
///
/// RabbitMQ's client drops such a body frame by frame as it arrives, so the process never holds it; the broker
/// keeps the message, and rejecting it moves the original body to the queue's dead-letter queue. The embedded
/// broker keeps every body in its store and applies the same limit when it hands messages out, so both behave alike.
///
/// Thread-safety: an immutable value; `Sendable`.
public struct OversizedBody: Sendable, Equatable {
    /// The body's size in bytes, as the publisher sent it.
    public var size: UInt64
    /// The largest body the consumer takes, in bytes.
    public var limit: Int

    /// Creates the marker.
    public init(size: UInt64, limit: Int) {
        self.size = size
        self.limit = limit
    }

    /// Why the message is dead-lettered, e.g. `body of 2097152 bytes exceeds AMQP_MAX_BODY (1048576)`: the setting
    /// that decides it is named, so whoever reads the reason knows what to raise.
    public var reason: String { "body of \(self.size) bytes exceeds AMQP_MAX_BODY (\(self.limit))" }
}
