import NIOCore

/// A message as it arrived (deliver, get-ok or return), before it is tied to an ``AMQPChannel``.
struct AMQPIncomingMessage: Sendable, Equatable {
    var consumerTag: String?
    var deliveryTag: UInt64
    var redelivered: Bool
    var exchange: String
    var routingKey: String
    var properties: AMQPBasicProperties
    var body: ByteBuffer
    var messageCount: UInt32?
    /// Set when the body was over the consumer's limit and dropped as it arrived: the size the broker announced
    /// (``body`` is then empty).
    var oversizedBodySize: UInt64?
}

/// What a synchronous request got back.
enum AMQPRPCResponse: Sendable {
    case method(AMQPMethod)
    case message(AMQPIncomingMessage)
    case empty
}
