import OrderEvents
import ServiceCore
import ServiceRuntime

/// The validated body of `POST /orders`.
///
/// The rules are ``OrderContract``'s, the same every consumer of `OrderCreated` events applies (documented in
/// README.md): `customer_id` and `product_id` are non-empty strings of at most 36 characters (code points, as the
/// database counts); `quantity` is an integer from 1 to 1,000,000; `total_amount` is a number greater than 0 with at
/// most two decimals and at most 99999999.99 (`DECIMAL(10,2)`), read from the number's exact text. Unknown fields are
/// ignored. Every failing field is reported in `details`, not just the first.
public struct CreateOrderRequest: Sendable, Equatable {
    /// The customer's id.
    public var customerID: String
    /// The product's id.
    public var productID: String
    /// Units ordered.
    public var quantity: Int
    /// The exact total.
    public var totalAmount: Money

    /// Parses and validates a request body; throws a 400 ``APIError`` naming each bad field.
    public static func parse(_ body: [UInt8]) throws(APIError) -> CreateOrderRequest {
        guard !body.isEmpty else {
            throw APIError.invalidRequest("request body is required", details: [("body", "must be a JSON object")])
        }
        let value: JSONValue
        do {
            value = try JSONReader.parse(body)
        } catch {
            throw APIError.invalidRequest("request body is not valid JSON", details: [("body", "\(error)")])
        }
        guard case .object = value else {
            throw APIError.invalidRequest("request body must be a JSON object", details: [("body", "must be a JSON object")])
        }
        var violations: [OrderContract.Violation] = []
        let customerID = OrderContract.identifier(value["customer_id"], field: "customer_id").collecting(into: &violations)
        let productID = OrderContract.identifier(value["product_id"], field: "product_id").collecting(into: &violations)
        let quantity = OrderContract.quantity(value["quantity"]).collecting(into: &violations)
        let totalAmount = OrderContract.totalAmount(value["total_amount"]).collecting(into: &violations)
        guard violations.isEmpty, let customerID, let productID, let quantity, let totalAmount else {
            throw APIError.invalidRequest(
                "request body has invalid fields", details: violations.map { ($0.field, $0.reason) })
        }
        return CreateOrderRequest(customerID: customerID, productID: productID, quantity: quantity, totalAmount: totalAmount)
    }
}
