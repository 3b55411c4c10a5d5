import OrderEvents
import ServiceCore

/// An order. Immutable once created, which is what lets every cache keep it without invalidation.
public struct Order: Sendable, Equatable {
    /// The order's id: a lowercase UUID.
    public var id: String
    /// The customer's id, at most 36 characters.
    public var customerID: String
    /// The product's id, at most 36 characters.
    public var productID: String
    /// Units ordered.
    public var quantity: Int
    /// The exact total.
    public var totalAmount: Money
    /// `pending` when created.
    public var status: String
    /// When the order was created, microsecond precision.
    public var createdAt: Timestamp
    /// When the order last changed (equal to `createdAt`: orders do not change yet).
    public var updatedAt: Timestamp

    /// The status of a new order.
    public static let initialStatus = "pending"

    /// Creates an order.
    public init(
        id: String,
        customerID: String,
        productID: String,
        quantity: Int,
        totalAmount: Money,
        status: String,
        createdAt: Timestamp,
        updatedAt: Timestamp
    ) {
        self.id = id
        self.customerID = customerID
        self.productID = productID
        self.quantity = quantity
        self.totalAmount = totalAmount
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Writes the order's JSON: the same bytes from POST, GET, the cache and every backend.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("id")
        writer.string(self.id)
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
        writer.key("updated_at")
        writer.string(self.updatedAt.rfc3339)
        writer.endObject()
    }

    /// The order's JSON.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter(capacity: 256)
        self.write(to: &writer)
        return writer.bytes
    }

    /// The `OrderCreated` event for this order.
    public func createdEvent(eventID: String) -> OrderCreatedEvent {
        OrderCreatedEvent(
            eventID: eventID,
            orderID: self.id,
            customerID: self.customerID,
            productID: self.productID,
            quantity: self.quantity,
            totalAmount: self.totalAmount,
            status: self.status,
            createdAt: self.createdAt
        )
    }
}
