import NIOCore

/// The properties of a message (the `basic` class content header), all optional.
///
/// A value type, `Sendable`. Example: `.init(contentType: "application/json", deliveryMode: .persistent,
/// messageID: id, type: "OrderCreated", timestamp: seconds)`.
public struct AMQPBasicProperties: Sendable, Hashable {
    /// Whether the broker writes a message to disk.
    public enum DeliveryMode: UInt8, Sendable, Hashable {
        /// Kept in memory only (1).
        case transient = 1
        /// Written to disk by durable queues (2).
        case persistent = 2
    }

    /// MIME content type, e.g. `application/json`.
    public var contentType: String?
    /// MIME content encoding, e.g. `gzip`.
    public var contentEncoding: String?
    /// Application headers.
    public var headers: AMQPFieldTable?
    /// Transient or persistent.
    public var deliveryMode: DeliveryMode?
    /// Priority, 0 to 9.
    public var priority: UInt8?
    /// Correlates a reply with its request.
    public var correlationID: String?
    /// The queue to reply to.
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (e.g. `"60000"`).
    public var expiration: String?
    /// The application's message id.
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    /// The application's message type name.
    public var type: String?
    /// The publishing user; RabbitMQ checks it against the connection's user.
    public var userID: String?
    /// The publishing application.
    public var appID: String?
    /// Deprecated by AMQP 0-9-1 (`cluster-id`); kept so every property round-trips.
    public var clusterID: String?

    /// Creates properties; every one defaults to absent.
    public init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: AMQPFieldTable? = nil,
        deliveryMode: DeliveryMode? = nil, priority: UInt8? = nil, correlationID: String? = nil,
        replyTo: String? = nil, expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil,
        type: String? = nil, userID: String? = nil, appID: String? = nil, clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }

    func encode(into buffer: inout ByteBuffer) throws {
        var flags: UInt16 = 0
        let flagsIndex = buffer.writerIndex
        buffer.writeInteger(flags)
        func shortString(_ value: String?, _ bit: UInt16) throws {
            guard let value else { return }
            flags |= 1 << bit
            try buffer.writeAMQPShortString(value)
        }
        try shortString(self.contentType, 15)
        try shortString(self.contentEncoding, 14)
        if let headers {
            flags |= 1 << 13
            try buffer.writeAMQPFieldTable(headers)
        }
        if let deliveryMode {
            flags |= 1 << 12
            buffer.writeInteger(deliveryMode.rawValue)
        }
        if let priority {
            flags |= 1 << 11
            buffer.writeInteger(priority)
        }
        try shortString(self.correlationID, 10)
        try shortString(self.replyTo, 9)
        try shortString(self.expiration, 8)
        try shortString(self.messageID, 7)
        if let timestamp {
            flags |= 1 << 6
            buffer.writeInteger(timestamp)
        }
        try shortString(self.type, 5)
        try shortString(self.userID, 4)
        try shortString(self.appID, 3)
        try shortString(self.clusterID, 2)
        buffer.setInteger(flags, at: flagsIndex)
    }

    static func decode(from buffer: inout ByteBuffer) throws -> AMQPBasicProperties {
        let flags: UInt16 = try buffer.readAMQPInteger()
        // Bit 0 would announce a continuation flags word, which basic never uses.
        guard flags & 0b11 == 0 else { throw AMQPError.protocolError("unsupported property flags \(flags)") }
        func has(_ bit: UInt16) -> Bool { flags & (1 << bit) != 0 }
        func shortString(_ bit: UInt16) throws -> String? { has(bit) ? try buffer.readAMQPShortString() : nil }
        var properties = AMQPBasicProperties()
        properties.contentType = try shortString(15)
        properties.contentEncoding = try shortString(14)
        if has(13) { properties.headers = try buffer.readAMQPFieldTable() }
        if has(12) {
            let mode: UInt8 = try buffer.readAMQPInteger()
            // Brokers only send 1 or 2; anything else is read as transient rather than refused.
            properties.deliveryMode = DeliveryMode(rawValue: mode) ?? .transient
        }
        if has(11) { properties.priority = try buffer.readAMQPInteger() }
        properties.correlationID = try shortString(10)
        properties.replyTo = try shortString(9)
        properties.expiration = try shortString(8)
        properties.messageID = try shortString(7)
        if has(6) { properties.timestamp = try buffer.readAMQPInteger() }
        properties.type = try shortString(5)
        properties.userID = try shortString(4)
        properties.appID = try shortString(3)
        properties.clusterID = try shortString(2)
        return properties
    }
}
