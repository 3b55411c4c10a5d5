import HTTPTypes
import Hummingbird
import NIOCore
import ServiceCore

/// The one error shape every endpoint answers with:
/// `{"error": code, "message": text, "details": {field: reason, ...}}`.
///
/// Codes and statuses are a contract (docs/CONTRACTS.md, "Errors"); the message never carries a driver's text.
public struct APIError: Error, HTTPResponseError, Sendable {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The machine-readable code, e.g. `invalid_request`.
    public var code: String
    /// A sentence for a person.
    public var message: String
    /// Per-field reasons, in the order they were found.
    public var details: [(field: String, reason: String)]
    /// Extra response headers, e.g. `Retry-After`.
    public var headers: HTTPFields

    /// Creates an error.
    public init(
        status: HTTPResponse.Status,
        code: String,
        message: String,
        details: [(field: String, reason: String)] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    /// 400 `invalid_request`.
    public static func invalidRequest(_ message: String, details: [(field: String, reason: String)] = []) -> APIError {
        APIError(status: .badRequest, code: "invalid_request", message: message, details: details)
    }

    /// 404 `not_found`.
    public static func notFound(_ message: String) -> APIError {
        APIError(status: .notFound, code: "not_found", message: message)
    }

    /// 413 `payload_too_large`.
    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(
            status: .contentTooLarge,
            code: "payload_too_large",
            message: "request body exceeds \(limit) bytes",
            details: [(field: "body", reason: "at most \(limit) bytes")]
        )
    }

    /// 503 `unavailable`, with a `Retry-After` hint.
    public static func unavailable(_ message: String) -> APIError {
        APIError(status: .serviceUnavailable, code: "unavailable", message: message, headers: [.retryAfter: "1"])
    }

    /// 500 `internal_error`; the cause is logged, never sent.
    public static let internalError = APIError(
        status: .internalServerError,
        code: "internal_error",
        message: "an internal error occurred"
    )

    /// The JSON body.
    public var jsonBody: [UInt8] {
        var writer = JSONWriter(capacity: 128)
        writer.beginObject()
        writer.key("error")
        writer.string(self.code)
        writer.key("message")
        writer.string(self.message)
        writer.key("details")
        writer.beginObject()
        for detail in self.details {
            writer.key(detail.field)
            writer.string(detail.reason)
        }
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: self.jsonBody)))
    }
}

extension Response {
    /// A JSON response from already-encoded bytes.
    public static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
