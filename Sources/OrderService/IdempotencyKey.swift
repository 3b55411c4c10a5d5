import HTTPTypes
import ServiceCore
import ServiceRuntime

/// The `Idempotency-Key` header of `POST /orders`: a client's name for one intended order, so that retrying a request
/// whose answer was lost never creates a second order.
///
/// Rules (README.md, "Safe retries" under the API; docs/CONTRACTS.md, "HTTP API"): 1 to 255 printable ASCII characters (space to `~`), compared exactly
/// (case-sensitive); one header only. Keys are global to the service, not per customer: clients should use random
/// values such as UUIDs.
public struct IdempotencyKey: Sendable, Hashable, CustomStringConvertible {
    /// The longest key accepted; also the column width in both stores.
    public static let maximumLength = 255
    /// The header's name.
    public static let headerName = HTTPField.Name("Idempotency-Key")!
    /// The response header that marks an answer replayed from an earlier request.
    public static let replayedHeaderName = HTTPField.Name("Idempotent-Replayed")!

    /// The key as sent.
    public let value: String

    /// Validates `value`; throws a 400 ``APIError`` naming the header.
    public init(_ value: String) throws(APIError) {
        guard !value.isEmpty else {
            throw Self.invalid("must not be empty")
        }
        guard value.utf8.count <= Self.maximumLength else {
            throw Self.invalid("must be at most \(Self.maximumLength) characters")
        }
        guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
            throw Self.invalid("must contain only printable ASCII characters")
        }
        self.value = value
    }

    /// The key of a request, or nil when it has none; throws a 400 when the header is invalid or repeated.
    public static func from(_ fields: HTTPFields) throws(APIError) -> IdempotencyKey? {
        let values = fields[values: Self.headerName]
        guard let first = values.first else { return nil }
        guard values.count == 1 else { throw Self.invalid("must be sent once") }
        return try IdempotencyKey(first)
    }

    public var description: String { self.value }

    private static func invalid(_ reason: String) -> APIError {
        APIError.invalidRequest("invalid Idempotency-Key header", details: [("Idempotency-Key", reason)])
    }
}

/// What an ``OrderStore`` is asked to record beside a new order: the key, and which older keys no longer count.
public struct IdempotencyClaim: Sendable, Equatable {
    /// The client's key.
    public var key: IdempotencyKey
    /// Keys recorded before this instant have expired: a request reusing one creates a new order.
    public var expiredBefore: Timestamp

    /// Creates a claim.
    public init(key: IdempotencyKey, expiredBefore: Timestamp) {
        self.key = key
        self.expiredBefore = expiredBefore
    }
}

/// The outcome of ``OrderStore/create(_:event:idempotency:)``.
public enum OrderCreation: Sendable, Equatable {
    /// The order and its event were stored (and the key, if any, recorded).
    case created
    /// The key was already recorded, unexpired, for this earlier order; nothing was written.
    case existing(Order)
}

extension Order {
    /// Whether `request` asks for the same order as this one: what a repeated idempotency key must match.
    func matches(_ request: CreateOrderRequest) -> Bool {
        self.customerID == request.customerID && self.productID == request.productID
            && self.quantity == request.quantity && self.totalAmount == request.totalAmount
    }
}
