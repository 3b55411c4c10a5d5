import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Turns every error into the ``APIError`` JSON shape: ours pass through, Hummingbird's (unknown route, body
/// too large, bad request) keep their status with our code, anything else is logged and becomes a 500 with no
/// internals in the body.
public struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            return try Self.translate(status: error.status).response(from: request, context: context)
        } catch {
            context.logger.error(
                "request failed",
                metadata: ["error": "\(error)", "method": "\(request.method)", "path": "\(request.uri.path)"]
            )
            return try APIError.internalError.response(from: request, context: context)
        }
    }

    static func translate(status: HTTPResponse.Status) -> APIError {
        switch status {
        case .notFound:
            return .notFound("no such resource")
        case .methodNotAllowed:
            return APIError(status: .methodNotAllowed, code: "invalid_request", message: "method not allowed")
        case .contentTooLarge:
            return APIError(status: .contentTooLarge, code: "payload_too_large", message: "request body too large")
        case .unauthorized:
            return APIError(status: .unauthorized, code: "unauthorized", message: "authentication required")
        case .tooManyRequests:
            return APIError(status: .tooManyRequests, code: "rate_limited", message: "too many requests")
        case .serviceUnavailable:
            return .unavailable("service unavailable")
        default:
            if status.kind == .clientError {
                return APIError(status: status, code: "invalid_request", message: status.reasonPhrase)
            }
            return .internalError
        }
    }
}
