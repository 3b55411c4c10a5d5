import HTTPTypes
import NIOCore

/// The whole pipeline of a connection over `HTTP_MAX_CONNECTIONS`: it answers one 503 in the API's error shape,
/// with `Retry-After` and `Connection: close`, without reading the request, and closes.
///
/// The write side is shut first and the socket closed when the client hangs up (or after a short linger): closing
/// at once with the client's request unread would make the kernel send a reset, and the client could lose the
/// answer before reading it.
final class ConnectionRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long a refused connection may stay open waiting for the client to hang up.
    static let linger: TimeAmount = .seconds(2)

    private let limit: Int
    private var answered = false
    private var lingerTimer: Scheduled<Void>?

    init(limit: Int) {
        self.limit = limit
    }

    /// The bytes sent to a refused client.
    static func response(limit: Int) -> [UInt8] {
        let body = APIError(
            status: .serviceUnavailable,
            code: "unavailable",
            message: "the server has \(limit) connections open (HTTP_MAX_CONNECTIONS); retry shortly"
        ).jsonBody
        let head =
            "HTTP/1.1 503 Service Unavailable\r\n" + "Content-Type: application/json; charset=utf-8\r\n"
            + "Retry-After: 1\r\n" + "Connection: close\r\n" + "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.answer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.answer(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The request is not read: it is dropped, and the client was already told to come back.
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.lingerTimer?.cancel()
        self.lingerTimer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func answer(context: ChannelHandlerContext) {
        guard !self.answered else { return }
        self.answered = true
        let buffer = context.channel.allocator.buffer(bytes: Self.response(limit: self.limit))
        context.writeAndFlush(self.wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
        self.lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.linger) {
            context.close(promise: nil)
        }
    }
}
