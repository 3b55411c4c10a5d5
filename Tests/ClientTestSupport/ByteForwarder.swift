import NIOCore

/// A test proxy's pipe: writes what one side reads to the other, and closes the other when one closes.
public final class ByteForwarder: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer

    private let peer: any Channel

    /// Forwards to `peer`.
    public init(peer: any Channel) {
        self.peer = peer
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.peer.writeAndFlush(self.unwrapInboundIn(data), promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.peer.close(promise: nil)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
