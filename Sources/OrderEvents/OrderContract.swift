import ServiceCore

/// The rules every order satisfies, wherever it enters: `POST /orders` (``CreateOrderRequest``) and every consumer
/// of `OrderCreated` events (``OrderCreatedEvent/decode(_:)``) validate with these same functions, so a value the API
/// refuses can never reach a store through the broker either.
///
/// The limits are those of the original's columns, counted the way the database counts them: identifiers are
/// `VARCHAR(36)` in `utf8mb4`, which counts code points (Unicode scalars), not bytes and not the grapheme clusters
/// Swift's `String.count` counts; amounts are `DECIMAL(10,2)`; quantities stay far below `INT` and keep every running
/// total of a batch far below `Int64`.
public enum OrderContract {
    /// The longest identifier, in code points: the original's `VARCHAR(36)` columns.
    public static let maxIdentifierLength = 36
    /// The quantities one order may have.
    public static let quantityRange = 1...1_000_000
    /// The largest total a `DECIMAL(10,2)` column holds: 99999999.99.
    public static let maximumTotal = Money(cents: 9_999_999_999)
    /// The longest status, in code points: the original's `VARCHAR(20)`.
    public static let maxStatusLength = 20
    /// When an order may have been created: from the Unix epoch (an order's time comes from a `TIMESTAMP` column,
    /// and Go's zero time, `0001-01-01T00:00:00Z`, is what a producer that forgot to set it sends) to the last
    /// instant RFC 3339 text can write.
    public static let createdAtRange: ClosedRange<Timestamp> = Timestamp.epoch...Timestamp.rfc3339Range.upperBound

    /// A field that breaks the contract: the field's JSON name and why, e.g. `("quantity", "must be at least 1")`.
    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        /// The JSON field name.
        public var field: String
        /// What is wrong with it, phrased to follow the field name.
        public var reason: String

        /// Creates a violation.
        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }

        /// `field reason`, e.g. `quantity must be at least 1`.
        public var description: String { "\(self.field) \(self.reason)" }
    }

    /// An identifier (`customer_id`, `product_id`, `order_id`): a string, not blank, at most
    /// ``maxIdentifierLength`` code points.
    public static func identifier(_ value: JSONValue?, field: String) -> Result<String, Violation> {
        guard let value, value != .null else { return .failure(Violation(field: field, reason: "is required")) }
        guard case .string(let text) = value else {
            return .failure(Violation(field: field, reason: "must be a string"))
        }
        if text.trimmingWhitespace().isEmpty {
            return .failure(Violation(field: field, reason: "must not be empty"))
        }
        if text.unicodeScalars.count > Self.maxIdentifierLength {
            return .failure(Violation(field: field, reason: "must be at most \(Self.maxIdentifierLength) characters"))
        }
        return .success(text)
    }

    /// `quantity`: an integer within ``quantityRange``.
    public static func quantity(_ value: JSONValue?) -> Result<Int, Violation> {
        let field = "quantity"
        guard let value, value != .null else { return .failure(Violation(field: field, reason: "is required")) }
        guard case .number(let text) = value else {
            return .failure(Violation(field: field, reason: "must be an integer"))
        }
        guard let quantity = Int(text) else {
            // All digits but too long for Int is "too large" (or too small); anything else (2.5, 1e3) is not an
            // integer.
            let negative = text.utf8.first == UInt8(ascii: "-")
            let digits = text.utf8.dropFirst(negative ? 1 : 0)
            let allDigits = !digits.isEmpty && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard allDigits else { return .failure(Violation(field: field, reason: "must be an integer")) }
            return .failure(
                Violation(
                    field: field,
                    reason: negative ? "must be at least \(Self.quantityRange.lowerBound)"
                        : "must be at most \(Self.quantityRange.upperBound)"))
        }
        guard quantity >= Self.quantityRange.lowerBound else {
            return .failure(Violation(field: field, reason: "must be at least \(Self.quantityRange.lowerBound)"))
        }
        guard quantity <= Self.quantityRange.upperBound else {
            return .failure(Violation(field: field, reason: "must be at most \(Self.quantityRange.upperBound)"))
        }
        return .success(quantity)
    }

    /// `total_amount`: a number greater than 0, at most ``maximumTotal``, with at most two decimals, read from its
    /// exact text (never through a float).
    public static func totalAmount(_ value: JSONValue?) -> Result<Money, Violation> {
        let field = "total_amount"
        guard let value, value != .null else { return .failure(Violation(field: field, reason: "is required")) }
        guard case .number(let text) = value else {
            return .failure(Violation(field: field, reason: "must be a number"))
        }
        let amount: Money
        do {
            amount = try Money(jsonNumber: text)
        } catch .tooManyDecimals {
            return .failure(Violation(field: field, reason: "must have at most two decimal places"))
        } catch .outOfRange where text.utf8.first == UInt8(ascii: "-") {
            return .failure(Violation(field: field, reason: "must be greater than 0"))
        } catch {
            return .failure(Violation(field: field, reason: "must be at most 99999999.99"))
        }
        guard amount > .zero else { return .failure(Violation(field: field, reason: "must be greater than 0")) }
        guard amount <= Self.maximumTotal else {
            return .failure(Violation(field: field, reason: "must be at most 99999999.99"))
        }
        return .success(amount)
    }

    /// `created_at`: an RFC 3339 timestamp within ``createdAtRange``.
    public static func createdAt(_ value: JSONValue?) -> Result<Timestamp, Violation> {
        let field = "created_at"
        guard let value, value != .null else { return .failure(Violation(field: field, reason: "is required")) }
        guard case .string(let text) = value, let timestamp = Timestamp(rfc3339: text) else {
            return .failure(Violation(field: field, reason: "must be an RFC 3339 timestamp"))
        }
        guard Self.createdAtRange.contains(timestamp) else {
            return .failure(Violation(field: field, reason: "must not be before 1970-01-01T00:00:00Z"))
        }
        return .success(timestamp)
    }

    /// `status`: optional (nil when absent or null); a non-empty string of at most ``maxStatusLength`` code points.
    public static func status(_ value: JSONValue?) -> Result<String?, Violation> {
        let field = "status"
        guard let value, value != .null else { return .success(nil) }
        guard case .string(let text) = value, !text.isEmpty, text.unicodeScalars.count <= Self.maxStatusLength else {
            return .failure(
                Violation(field: field, reason: "must be a non-empty string of at most \(Self.maxStatusLength) characters"))
        }
        return .success(text)
    }
}

extension Result where Failure == OrderContract.Violation {
    /// The value, or nil after appending the violation to `violations`: lets a caller check every field and report
    /// all that fail, not just the first.
    public func collecting(into violations: inout [OrderContract.Violation]) -> Success? {
        switch self {
        case .success(let value): return value
        case .failure(let violation):
            violations.append(violation)
            return nil
        }
    }
}
