/// Takes the deliveries of a consumer started with
/// ``AMQPClient/consume(queue:prefetchCount:noAck:exclusive:arguments:maxBodySize:receiver:)``.
///
/// The client calls it from its own task for that consumer (a child of ``AMQPClient/run()``), one delivery at a
/// time and in order, so whoever consumes needs no task of its own to receive: a receiver typically appends to a
/// buffer that a pull-style `next` hands out from.
///
/// Thread-safety: `Sendable`; the client's consumer task calls it while other tasks read what it received.
public protocol AMQPDeliveryReceiver: Sendable {
    /// Takes one delivery; must return at once (it runs on the client's consumer task). Returns `false` when the
    /// receiver takes no more deliveries: the client then rejects this one (requeued) and closes the consumer's
    /// channel, so the broker requeues what else it sent there.
    func receive(_ delivery: AMQPDelivery) -> Bool

    /// The consumer ended for good: `error` is `nil` when the client stopped, or the reason the broker refused the
    /// consumer (e.g. the queue was deleted). Called at most once, and not after ``AMQPClient/stopConsuming(_:)``.
    func finish(throwing error: (any Error)?)
}
