import ServiceCore

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
    /// The longest `event_id` accepted (ours are UUIDs).
    public static let maxEventIDLength = 64

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
    /// When the order was created; required, as the original's events always carry it.
    public var createdAt: Timestamp

    /// Creates an event.
    public init(
        eventID: String?,
        orderID: String,
        customerID: String,
        productID: String,
        quantity: Int,
        totalAmount: Money,
        status: String,
        createdAt: Timestamp
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
        writer.key("created_at")
        writer.string(self.createdAt.rfc3339)
        writer.endObject()
        return writer.bytes
    }

    /// Decodes a body and validates it with ``OrderContract``, the rules `POST /orders` applies. Throws
    /// ``EventDecodingError`` naming every field that breaks them, or the shape that is wrong: no consumer can ever
    /// process such a message, so it goes to the dead-letter queue at once.
    public static func decode(_ bytes: [UInt8]) throws(EventDecodingError) -> OrderCreatedEvent {
        let value: JSONValue
        do {
            value = try JSONReader.parse(bytes)
        } catch {
            throw EventDecodingError(reason: "body is not JSON: \(error)")
        }
        guard case .object = value else { throw EventDecodingError(reason: "body is not a JSON object") }

        var violations: [OrderContract.Violation] = []
        if let type = value["event_type"], type != .null {
            guard case .string(let name) = type, name == Self.eventType else {
                throw EventDecodingError(reason: "event_type is not \(Self.eventType)")
            }
        }
        var eventID: String?
        if let raw = value["event_id"], raw != .null {
            if case .string(let id) = raw, !id.isEmpty, id.unicodeScalars.count <= Self.maxEventIDLength {
                eventID = id
            } else {
                violations.append(.init(field: "event_id", reason: "must be a string of 1 to \(Self.maxEventIDLength) characters"))
            }
        }
        let orderID = OrderContract.identifier(value["order_id"], field: "order_id").collecting(into: &violations)
        let customerID = OrderContract.identifier(value["customer_id"], field: "customer_id").collecting(into: &violations)
        let productID = OrderContract.identifier(value["product_id"], field: "product_id").collecting(into: &violations)
        let quantity = OrderContract.quantity(value["quantity"]).collecting(into: &violations)
        let amount = OrderContract.totalAmount(value["total_amount"]).collecting(into: &violations)
        let status = OrderContract.status(value["status"]).collecting(into: &violations)
        let createdAt = OrderContract.createdAt(value["created_at"]).collecting(into: &violations)
        guard violations.isEmpty, let orderID, let customerID, let productID, let quantity, let amount, let status,
            let createdAt
        else {
            throw EventDecodingError(reason: violations.map(\.description).joined(separator: "; "))
        }
        return OrderCreatedEvent(
            eventID: eventID,
            orderID: orderID,
            customerID: customerID,
            productID: productID,
            quantity: quantity,
            totalAmount: amount,
            status: status ?? "pending",
            createdAt: createdAt
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
