import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A server on 127.0.0.1 that speaks none of the clients' protocols, standing in for the wrong kind of port: on the
/// client's first bytes it sends `reply` (nothing, a TLS alert, a RESP error, an AMQP protocol header) and then closes
/// the connection or keeps it open.
public final class RudeServer: Sendable {
    /// The port it listens on.
    public let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    /// A TLS alert record (fatal, `unexpected_message`), as a TLS-only port sends to plain text.
    public static let tlsAlert: [UInt8] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x0A]

    /// Starts a server on a free port that answers every connection's first bytes with `reply`, then closes it when
    /// `thenClose` is set.
    public static func start(reply: [UInt8], thenClose: Bool) async throws -> RudeServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RudeHandler(reply: reply, thenClose: thenClose))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RudeServer(port: channel.localAddress!.port!, channel: channel)
    }

    /// Stops listening.
    public func stop() async {
        try? await self.channel.close()
    }
}

private final class RudeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let reply: [UInt8]
    private let thenClose: Bool
    private var answered = false

    init(reply: [UInt8], thenClose: Bool) {
        self.reply = reply
        self.thenClose = thenClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.answered else { return }
        self.answered = true
        if !self.reply.isEmpty {
            let bytes = context.channel.allocator.buffer(bytes: self.reply)
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
        }
        if self.thenClose { context.close(promise: nil) }
    }
}
