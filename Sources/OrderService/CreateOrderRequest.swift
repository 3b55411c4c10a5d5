import OrderEvents
import ServiceRuntime

/// The validated body of `POST /orders`.
///
/// Rules (documented in README.md): `customer_id` and `product_id` are non-empty strings of at most 36 characters
/// (the original's columns); `quantity` is an integer from 1 to ``maximumQuantity``; `total_amount` is a number
/// greater than 0 with at most two decimals and at most 99999999.99 (`DECIMAL(10,2)`), read from the number's
/// exact text. Unknown fields are ignored. Every failing field is reported in `details`, not just the first.
public struct CreateOrderRequest: Sendable, Equatable {
    /// The largest quantity accepted in one order.
    public static let maximumQuantity = 1_000_000

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
        var problems: [(field: String, reason: String)] = []
        let customerID = Self.identifier(value, "customer_id", &problems)
        let productID = Self.identifier(value, "product_id", &problems)
        let quantity = Self.quantity(value, &problems)
        let totalAmount = Self.amount(value, &problems)
        guard problems.isEmpty, let customerID, let productID, let quantity, let totalAmount else {
            throw APIError.invalidRequest("request body has invalid fields", details: problems)
        }
        return CreateOrderRequest(customerID: customerID, productID: productID, quantity: quantity, totalAmount: totalAmount)
    }

    private static func identifier(
        _ object: JSONValue,
        _ key: String,
        _ problems: inout [(field: String, reason: String)]
    ) -> String? {
        guard let raw = object[key], raw != .null else {
            problems.append((key, "is required"))
            return nil
        }
        guard case .string(let text) = raw else {
            problems.append((key, "must be a string"))
            return nil
        }
        if text.trimmingWhitespace().isEmpty {
            problems.append((key, "must not be empty"))
            return nil
        }
        if text.unicodeScalars.count > OrderCreatedEvent.maxIdentifierLength {
            problems.append((key, "must be at most \(OrderCreatedEvent.maxIdentifierLength) characters"))
            return nil
        }
        return text
    }

    private static func quantity(_ object: JSONValue, _ problems: inout [(field: String, reason: String)]) -> Int? {
        guard let raw = object["quantity"], raw != .null else {
            problems.append(("quantity", "is required"))
            return nil
        }
        guard case .number(let text) = raw else {
            problems.append(("quantity", "must be an integer"))
            return nil
        }
        guard let value = Int(text) else {
            // All digits but too long for Int is "too large"; anything else (2.5, 1e3) is not an integer.
            let digits = text.utf8.drop { $0 == UInt8(ascii: "-") }
            let allDigits = !digits.isEmpty && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            problems.append(("quantity", allDigits ? "must be at most \(Self.maximumQuantity)" : "must be an integer"))
            return nil
        }
        guard value >= 1 else {
            problems.append(("quantity", "must be at least 1"))
            return nil
        }
        guard value <= Self.maximumQuantity else {
            problems.append(("quantity", "must be at most \(Self.maximumQuantity)"))
            return nil
        }
        return value
    }

    private static func amount(_ object: JSONValue, _ problems: inout [(field: String, reason: String)]) -> Money? {
        guard let raw = object["total_amount"], raw != .null else {
            problems.append(("total_amount", "is required"))
            return nil
        }
        guard case .number(let text) = raw else {
            problems.append(("total_amount", "must be a number"))
            return nil
        }
        let amount: Money
        do {
            amount = try Money(jsonNumber: text)
        } catch .tooManyDecimals {
            problems.append(("total_amount", "must have at most two decimal places"))
            return nil
        } catch {
            problems.append(("total_amount", "must be at most 99999999.99"))
            return nil
        }
        guard amount > .zero else {
            problems.append(("total_amount", "must be greater than 0"))
            return nil
        }
        guard amount <= Money.maximumOrderTotal else {
            problems.append(("total_amount", "must be at most 99999999.99"))
            return nil
        }
        return amount
    }
}
