import NIOCore

/// An exchange type.
public struct AMQPExchangeType: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The type name sent to the broker.
    public let name: String
    /// Creates a type from its name (e.g. `x-delayed-message` for a plugin's type).
    public init(_ name: String) { self.name = name }
    /// Creates a type from a string literal.
    public init(stringLiteral value: String) { self.name = value }
    /// Routes by exact routing key.
    public static let direct = AMQPExchangeType("direct")
    /// Routes to every bound queue.
    public static let fanout = AMQPExchangeType("fanout")
    /// Routes by routing-key pattern (`*`, `#`).
    public static let topic = AMQPExchangeType("topic")
    /// Routes by headers.
    public static let headers = AMQPExchangeType("headers")
    /// The type name.
    public var description: String { self.name }
}

/// What `queue.declare` answered.
public struct AMQPQueueDeclareResult: Sendable, Hashable {
    /// The queue's name (the broker's generated name when declared with an empty name).
    public var name: String
    /// Messages ready in the queue.
    public var messageCount: UInt32
    /// Active consumers of the queue.
    public var consumerCount: UInt32
}

/// A message to publish, for ``AMQPChannel/publishBatch(_:)``.
public struct AMQPOutboundMessage: Sendable {
    /// The body.
    public var body: ByteBuffer
    /// The exchange (`""` is the default exchange).
    public var exchange: String
    /// The routing key.
    public var routingKey: String
    /// Whether an unroutable message comes back as ``AMQPReturnedMessage`` instead of being dropped (and, in confirm
    /// mode, fails with ``AMQPError/Code/unroutable``).
    public var mandatory: Bool
    /// The message properties.
    public var properties: AMQPBasicProperties

    /// Creates a message to publish.
    public init(
        body: ByteBuffer, exchange: String, routingKey: String, mandatory: Bool = false,
        properties: AMQPBasicProperties = .init()
    ) {
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.properties = properties
    }
}

/// A mandatory message the broker could not route (`basic.return`), read from ``AMQPChannel/returnedMessages``.
public struct AMQPReturnedMessage: Sendable, Hashable {
    /// Why, e.g. 312 NO_ROUTE.
    public var replyCode: UInt16
    /// The broker's text, e.g. `NO_ROUTE`.
    public var replyText: String
    /// The exchange it was published to.
    public var exchange: String
    /// The routing key it was published with.
    public var routingKey: String
    /// Its properties.
    public var properties: AMQPBasicProperties
    /// Its body.
    public var body: ByteBuffer
}

/// A message delivered to a consumer, or fetched with ``AMQPChannel/get(queue:noAck:)``.
///
/// Settle it once with ``ack(multiple:)``, ``nack(multiple:requeue:)`` or ``reject(requeue:)`` (unless consumed with
/// `noAck`). A value type, `Sendable`: it may be settled from any task.
public struct AMQPDelivery: Sendable {
    /// The consumer it was delivered to (`nil` for `basic.get`).
    public var consumerTag: String?
    /// The channel-scoped tag that settles it.
    public var deliveryTag: UInt64
    /// Whether the broker delivered it before (to this or another consumer) without an ack.
    public var redelivered: Bool
    /// The exchange it was published to.
    public var exchange: String
    /// The routing key it was published with.
    public var routingKey: String
    /// Its properties.
    public var properties: AMQPBasicProperties
    /// Its body.
    public var body: ByteBuffer
    /// For `basic.get`: how many messages remained in the queue.
    public var messageCount: UInt32?
    /// Set when the body was larger than the consumer's `maxBodySize`: the size the broker announced. The body
    /// was dropped frame by frame as it arrived (``body`` is empty); the broker still holds the message, so settle
    /// it as usual, e.g. ``reject(requeue:)`` with `requeue: false` to dead-letter it with its body intact.
    public var oversizedBodySize: UInt64?
    /// The channel it arrived on; settling it there is the only valid way.
    public let channel: AMQPChannel

    init(_ message: AMQPIncomingMessage, channel: AMQPChannel) {
        self.consumerTag = message.consumerTag
        self.deliveryTag = message.deliveryTag
        self.redelivered = message.redelivered
        self.exchange = message.exchange
        self.routingKey = message.routingKey
        self.properties = message.properties
        self.body = message.body
        self.messageCount = message.messageCount
        self.oversizedBodySize = message.oversizedBodySize
        self.channel = channel
    }

    /// Acknowledges this delivery (and, with `multiple`, every earlier unsettled one on the channel).
    public func ack(multiple: Bool = false) async throws {
        try await self.channel.ack(deliveryTag: self.deliveryTag, multiple: multiple)
    }

    /// Negatively acknowledges it: requeued, or dead-lettered / dropped with `requeue: false`.
    public func nack(multiple: Bool = false, requeue: Bool = false) async throws {
        try await self.channel.nack(deliveryTag: self.deliveryTag, multiple: multiple, requeue: requeue)
    }

    /// Rejects it: requeued, or dead-lettered / dropped with `requeue: false`.
    public func reject(requeue: Bool = false) async throws {
        try await self.channel.reject(deliveryTag: self.deliveryTag, requeue: requeue)
    }
}

/// The deliveries of one consumer, as an `AsyncSequence`. It ends normally when the consumer is cancelled or the
/// channel is closed by the client, and throws ``AMQPError`` when the broker cancels it or the channel or
/// connection fails. Ending the iteration early (e.g. the task is cancelled) cancels the consumer on the broker.
///
/// The broker sends at most the channel's prefetch (``AMQPChannel/basicQos(prefetchCount:prefetchSize:global:)``)
/// unacknowledged deliveries, which bounds the buffer. `Sendable`; iterate it from one task.
public struct AMQPConsumer: AsyncSequence, Sendable {
    /// Each element is a delivery.
    public typealias Element = AMQPDelivery

    /// The consumer tag.
    public let consumerTag: String
    /// The channel the consumer runs on.
    public let channel: AMQPChannel
    let stream: AsyncThrowingStream<AMQPIncomingMessage, any Error>

    /// Iterates the deliveries.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<AMQPIncomingMessage, any Error>.AsyncIterator
        let channel: AMQPChannel

        /// The next delivery, `nil` when the consumer ended normally.
        public mutating func next() async throws -> AMQPDelivery? {
            guard let message = try await self.base.next() else { return nil }
            return AMQPDelivery(message, channel: self.channel)
        }
    }

    /// Makes the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.stream.makeAsyncIterator(), channel: self.channel)
    }

    /// Cancels the consumer on the broker; the sequence then ends after the deliveries already received.
    public func cancel() async throws {
        try await self.channel.cancel(consumerTag: self.consumerTag)
    }
}
