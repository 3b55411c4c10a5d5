/// A message broker as the services see it: the embedded broker and RabbitMQ both fill this.
///
/// The shape follows what RabbitMQ offers and what makes throughput: publishing takes a batch and reports per
/// message whether the broker confirmed it (publisher confirms); consuming hands out deliveries in batches up
/// to the prefetch window and acknowledges many at once.
///
/// Thread-safety: implementations are `Sendable` and safe to call from many tasks.
public protocol MessageBroker: Sendable {
    /// Declares exchanges, queues, retry queues, dead-letter queues and bindings; idempotent.
    func declare(_ topology: BrokerTopology) async throws

    /// Publishes `messages` in order and returns one outcome per message, in the same order.
    /// A message is `.confirmed` only once the broker has routed it to at least one queue and taken responsibility
    /// for it (persisted); one that matched no binding is `.unroutable`, never silently dropped.
    func publish(_ messages: [OutgoingMessage]) async -> [PublishOutcome]

    /// Starts consuming `queue` with at most `prefetch` unacknowledged deliveries at a time.
    func consume(queue: String, prefetch: Int) async throws -> any MessageConsumer

    /// The number of messages ready in `queue` (not counting unacknowledged ones).
    func messageCount(queue: String) async throws -> Int

    /// Throws when the broker cannot be reached; used by `/health`.
    func checkHealth() async throws
}

/// One consumer of one queue. Deliveries it hands out must be settled exactly once: acked, retried,
/// dead-lettered or requeued.
///
/// Thread-safety: `Sendable`; settle calls may come from several tasks, `next` from one task at a time.
public protocol MessageConsumer: Sendable {
    /// Waits until at least one delivery is available and returns up to `limit` of them, oldest first.
    /// Returns nil once the consumer is cancelled or closed, or when the calling task is cancelled.
    func next(limit: Int) async throws -> [Delivery]?

    /// Acknowledges deliveries: their effect is durable, the broker forgets them.
    func ack(_ deliveries: [Delivery]) async throws

    /// Whether ``retry(_:level:)`` can work on this queue: false when the queue has no retry levels (declared
    /// without delays, or its retry queues conflict with existing ones). A handler then dead-letters instead.
    var retriesAvailable: Bool { get }

    /// Sends a delivery to retry level `level` (1-based, clamped to the queue's levels), whose delay elapses
    /// before it is delivered again with ``Delivery/retryCount`` one higher; the original is acknowledged.
    func retry(_ delivery: Delivery, level: Int) async throws

    /// Moves a delivery to the queue's dead-letter queue with `reason` in the `x-death-reason` header. A delivery
    /// whose body was not handed over (``Delivery/oversizedBody``) keeps its original body there; on RabbitMQ it is
    /// rejected for the queue's own dead-lettering, so it carries RabbitMQ's `x-death` record instead of the reason.
    func deadLetter(_ delivery: Delivery, reason: String) async throws

    /// Puts deliveries back at the head of the queue, marked redelivered, without using up a retry.
    func requeue(_ deliveries: [Delivery]) async throws

    /// Stops handing out deliveries: `next` returns nil. Deliveries already handed out can still be settled.
    func cancel() async

    /// Cancels, and requeues every delivery not yet settled.
    func close() async
}

/// Properties carried beside a message body; the AMQP basic properties that the services use.
public struct MessageProperties: Sendable, Equatable {
    /// MIME type of the body, e.g. `application/json`.
    public var contentType: String?
    /// Unique id of the message (our `event_id`).
    public var messageID: String?
    /// Kind of message (our event type, e.g. `OrderCreated`).
    public var type: String?
    /// Seconds since the epoch when the message was created.
    public var timestamp: Int64?
    /// Survives a broker restart (AMQP delivery mode 2).
    public var persistent: Bool
    /// Application headers; the broker adds `x-retry-count` and `x-death-reason`.
    public var headers: [String: String]

    /// Creates properties.
    public init(
        contentType: String? = nil,
        messageID: String? = nil,
        type: String? = nil,
        timestamp: Int64? = nil,
        persistent: Bool = true,
        headers: [String: String] = [:]
    ) {
        self.contentType = contentType
        self.messageID = messageID
        self.type = type
        self.timestamp = timestamp
        self.persistent = persistent
        self.headers = headers
    }
}

/// A message to publish.
public struct OutgoingMessage: Sendable, Equatable {
    /// The exchange to publish to.
    public var exchange: String
    /// The routing key, matched against the bindings of the exchange.
    public var routingKey: String
    /// The body bytes.
    public var body: [UInt8]
    /// The properties.
    public var properties: MessageProperties

    /// Creates a message.
    public init(exchange: String, routingKey: String, body: [UInt8], properties: MessageProperties) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
    }
}

/// What became of one published message.
public enum PublishOutcome: Sendable, Equatable {
    /// The broker took responsibility for the message.
    case confirmed
    /// The broker refused this message (a nack, a channel error it caused); publishing it again is safe for
    /// idempotent consumers.
    case failed(reason: String)
    /// The broker could take no message just now (disconnected, blocking publishers during a resource alarm, no
    /// confirm within the deadline, its store failing, or the publishing task cancelled): says nothing about this
    /// message; publish it again later.
    case unavailable(reason: String)
    /// The broker took it but no binding matched, so it reached no queue (RabbitMQ's `basic.return` of a
    /// `mandatory` message): it was not delivered anywhere and must be published again once a queue is bound.
    case unroutable(reason: String)

    /// The failure's reason; nil when confirmed.
    public var failureReason: String? {
        switch self {
        case .confirmed: nil
        case .failed(let reason), .unavailable(let reason), .unroutable(let reason): reason
        }
    }
}

/// A message handed to a consumer.
public struct Delivery: Sendable {
    /// Identifies the delivery to the consumer that received it.
    public var tag: UInt64
    /// The queue it came from.
    public var queue: String
    /// The routing key it was published with.
    public var routingKey: String
    /// The body bytes.
    public var body: [UInt8]
    /// The properties.
    public var properties: MessageProperties
    /// True when the message may have been delivered before (after a requeue or a restart).
    public var redelivered: Bool
    /// Set when the body is over the consumer's limit and was not handed over (``body`` is then empty): the
    /// delivery can only be dead-lettered, which keeps the broker's copy of the body.
    public var oversizedBody: OversizedBody?

    /// Creates a delivery.
    public init(
        tag: UInt64,
        queue: String,
        routingKey: String,
        body: [UInt8],
        properties: MessageProperties,
        redelivered: Bool,
        oversizedBody: OversizedBody? = nil
    ) {
        self.tag = tag
        self.queue = queue
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.redelivered = redelivered
        self.oversizedBody = oversizedBody
    }

    /// How many times the message was already sent back for a retry: 0 on its first delivery.
    public var retryCount: Int {
        MessageHeaders.retryCount(self.properties.headers[MessageHeaders.retryCount])
    }
}

/// Header names the brokers set.
public enum MessageHeaders {
    /// How many retries a message has been through.
    public static let retryCount = "x-retry-count"
    /// Why a message was dead-lettered.
    public static let deathReason = "x-death-reason"

    /// The largest retry count a header is read as: anyone who can publish may write any text there, and a count
    /// is incremented, so it is bounded far from overflow (no queue has that many retry levels anyway).
    public static let maximumRetryCount = 1_000_000

    /// The retry count a header's text says: 0 when absent or not a non-negative integer, at most
    /// ``maximumRetryCount``.
    public static func retryCount(_ text: String?) -> Int {
        guard let text else { return 0 }
        guard let value = Int(text) else {
            // All digits but longer than Int: as large as it gets.
            return !text.isEmpty && text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
                ? Self.maximumRetryCount : 0
        }
        return min(max(value, 0), Self.maximumRetryCount)
    }
}
