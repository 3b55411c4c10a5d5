import ServiceRuntime

/// The `OrderCreated` event: the original's flat JSON body plus `event_id`.
///
/// `{"event_type":"OrderCreated","event_id":"…","order_id":"…","customer_id":"…","product_id":"…",
///   "quantity":2,"total_amount":99.99,"status":"pending","created_at":"2026-11-25T13:47:39.123456Z"}`
///
/// The original Go system's events carry no `event_id`; consumers deduplicate by `order_id` (one such event per
/// order), so both kinds agree.
public struct OrderCreatedEvent: Sendable, Equatable {
    /// The `event_type` value and the AMQP `type` property.
    public static let eventType = "OrderCreated"
    /// The longest id the original's `VARCHAR(36)` columns hold.
    public static let maxIdentifierLength = 36

    /// Unique id of this event (a UUID); nil in events from the original system.
    public var eventID: String?
    /// The order's id: the deduplication key.
    public var orderID: String
    /// The customer's id.
    public var customerID: String
    /// The product's id.
    public var productID: String
    /// Units ordered, at least 1.
    public var quantity: Int
    /// The order's total, exact.
    public var totalAmount: Money
    /// The order's status when created (`pending`).
    public var status: String
    /// When the order was created; optional in foreign events.
    public var createdAt: Timestamp?

    /// Creates an event.
    public init(
        eventID: String?,
        orderID: String,
        customerID: String,
        productID: String,
        quantity: Int,
        totalAmount: Money,
        status: String,
        createdAt: Timestamp?
    ) {
        self.eventID = eventID
        self.orderID = orderID
        self.customerID = customerID
        self.productID = productID
        self.quantity = quantity
        self.totalAmount = totalAmount
        self.status = status
        self.createdAt = createdAt
    }

    /// The JSON body.
    public func encode() -> [UInt8] {
        var writer = JSONWriter(capacity: 320)
        writer.beginObject()
        writer.key("event_type")
        writer.string(Self.eventType)
        if let eventID = self.eventID {
            writer.key("event_id")
            writer.string(eventID)
        }
        writer.key("order_id")
        writer.string(self.orderID)
        writer.key("customer_id")
        writer.string(self.customerID)
        writer.key("product_id")
        writer.string(self.productID)
        writer.key("quantity")
        writer.int(self.quantity)
        writer.key("total_amount")
        writer.rawNumber(self.totalAmount.description)
        writer.key("status")
        writer.string(self.status)
        if let createdAt = self.createdAt {
            writer.key("created_at")
            writer.string(createdAt.rfc3339)
        }
        writer.endObject()
        return writer.bytes
    }

    /// Decodes and validates a body. Throws ``EventDecodingError`` for anything a consumer can never process:
    /// such a message goes to the dead-letter queue at once.
    public static func decode(_ bytes: [UInt8]) throws(EventDecodingError) -> OrderCreatedEvent {
        let value: JSONValue
        do {
            value = try JSONReader.parse(bytes)
        } catch {
            throw EventDecodingError(reason: "body is not JSON: \(error)")
        }
        guard case .object = value else { throw EventDecodingError(reason: "body is not a JSON object") }

        if let type = value["event_type"] {
            guard case .string(let name) = type, name == Self.eventType else {
                throw EventDecodingError(reason: "event_type is not \(Self.eventType)")
            }
        }
        var eventID: String?
        if let raw = value["event_id"], raw != .null {
            guard case .string(let id) = raw, !id.isEmpty, id.utf8.count <= 64 else {
                throw EventDecodingError(reason: "event_id must be a string")
            }
            eventID = id
        }
        let orderID = try Self.identifier(value, "order_id")
        let customerID = try Self.identifier(value, "customer_id")
        let productID = try Self.identifier(value, "product_id")

        guard case .number(let quantityText) = value["quantity"], let quantity = Int(quantityText), quantity >= 1 else {
            throw EventDecodingError(reason: "quantity must be an integer of at least 1")
        }
        guard case .number(let amountText) = value["total_amount"] else {
            throw EventDecodingError(reason: "total_amount must be a number")
        }
        let amount: Money
        do {
            amount = try Money(jsonNumber: amountText)
        } catch {
            throw EventDecodingError(reason: "total_amount is not an exact amount with at most two decimals")
        }
        guard amount > .zero, amount <= Money.maximumOrderTotal else {
            throw EventDecodingError(reason: "total_amount must be greater than 0 and at most 99999999.99")
        }
        var status = "pending"
        if let raw = value["status"], raw != .null {
            guard case .string(let text) = raw, !text.isEmpty, text.utf8.count <= 20 else {
                throw EventDecodingError(reason: "status must be a string of at most 20 characters")
            }
            status = text
        }
        var createdAt: Timestamp?
        if let raw = value["created_at"], raw != .null {
            guard case .string(let text) = raw, let parsed = Timestamp(rfc3339: text) else {
                throw EventDecodingError(reason: "created_at must be an RFC 3339 timestamp")
            }
            createdAt = parsed
        }
        return OrderCreatedEvent(
            eventID: eventID,
            orderID: orderID,
            customerID: customerID,
            productID: productID,
            quantity: quantity,
            totalAmount: amount,
            status: status,
            createdAt: createdAt
        )
    }

    private static func identifier(_ object: JSONValue, _ key: String) throws(EventDecodingError) -> String {
        guard case .string(let text) = object[key], !text.isEmpty, text.count <= Self.maxIdentifierLength else {
            throw EventDecodingError(reason: "\(key) must be a non-empty string of at most 36 characters")
        }
        return text
    }

    /// The message to publish, with the AMQP properties DESIGN.md lists.
    public func message(exchange: String = OrderTopology.exchange) -> OutgoingMessage {
        OutgoingMessage(
            exchange: exchange,
            routingKey: OrderTopology.orderCreatedRoutingKey,
            body: self.encode(),
            properties: MessageProperties(
                contentType: "application/json",
                messageID: self.eventID,
                type: Self.eventType,
                timestamp: self.createdAt?.secondsSinceEpoch,
                persistent: true
            )
        )
    }
}

/// A message body that is not a valid `OrderCreated` event.
public struct EventDecodingError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong, for the log line and the dead-letter header.
    public var reason: String
    /// Creates the error.
    public init(reason: String) { self.reason = reason }
    public var description: String { self.reason }
}

extension Money {
    /// The largest total a `DECIMAL(10,2)` column holds: 99999999.99.
    public static let maximumOrderTotal = Money(cents: 9_999_999_999)
}
