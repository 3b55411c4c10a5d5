import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on 127.0.0.1 in front of a real server that can stall the server's replies, as a peer that is paused
/// (SIGSTOP, a network partition) looks to the client: after ``stall()`` the bytes the server sends are held, not
/// forwarded, until ``release()`` forwards them, in order. The client sees an open connection that stops answering.
///
/// ``waitUntilHolding()`` returns once a reply is held, so a test knows its request reached the server and its
/// answer is stuck, without sleeping.
///
/// Thread-safety: `Sendable`; the forwarding runs on each connection's event loop.
public final class StallingProxy: Sendable {
    /// The port it listens on.
    public let port: Int
    private let server: any Channel
    private let shared: Shared

    /// What the proxy and its connections share.
    fileprivate final class Shared: Sendable {
        struct State {
            var stalled = false
            /// Replies held since the last release.
            var heldReplies = 0
            var holdingWaiters: [CheckedContinuation<Void, Never>] = []
            var replyForwarders: [NIOLoopBound<ReplyForwarder>] = []
            var connections: [any Channel] = []
        }

        let state = Mutex(State())

        /// A reply was held: wakes whoever waits for that.
        func held() {
            let waiters = self.state.withLock { state in
                state.heldReplies += 1
                defer { state.holdingWaiters.removeAll() }
                return state.holdingWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    private init(port: Int, server: any Channel, shared: Shared) {
        self.port = port
        self.server = server
        self.shared = shared
    }

    /// Starts a proxy to `targetHost:targetPort`, forwarding both ways.
    public static func start(targetHost: String, targetPort: Int) async throws -> StallingProxy {
        let shared = Shared()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: targetHost, port: targetPort)
                    .flatMap { outbound in
                        inbound.eventLoop.makeCompletedFuture {
                            let stalled = shared.state.withLock { $0.stalled }
                            let replies = ReplyForwarder(client: inbound, shared: shared, stalled: stalled)
                            try inbound.pipeline.syncOperations.addHandler(ByteForwarder(peer: outbound))
                            try outbound.pipeline.syncOperations.addHandler(replies)
                            shared.state.withLock { state in
                                state.replyForwarders.append(NIOLoopBound(replies, eventLoop: inbound.eventLoop))
                                state.connections.append(inbound)
                            }
                        }
                    }
                    .flatMap { inbound.setOption(.autoRead, value: true) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return StallingProxy(port: server.localAddress!.port!, server: server, shared: shared)
    }

    /// From now on the server's replies are held, on every connection (and on those opened later).
    public func stall() async {
        let forwarders = self.shared.state.withLock { state in
            state.stalled = true
            return state.replyForwarders
        }
        for forwarder in forwarders {
            try? await forwarder.eventLoop.submit { forwarder.value.stalled = true }.get()
        }
    }

    /// Forwards what was held, in order, and stops holding.
    public func release() async {
        let forwarders = self.shared.state.withLock { state in
            state.stalled = false
            state.heldReplies = 0
            return state.replyForwarders
        }
        for forwarder in forwarders {
            try? await forwarder.eventLoop.submit { forwarder.value.release() }.get()
        }
    }

    /// Returns once a reply is held (at once when one is held already).
    public func waitUntilHolding() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let holding = self.shared.state.withLock { state -> Bool in
                if state.heldReplies > 0 { return true }
                state.holdingWaiters.append(continuation)
                return false
            }
            if holding { continuation.resume() }
        }
    }

    /// Closes every connection and stops listening.
    public func stop() async {
        let connections = self.shared.state.withLock { state in
            defer { state.connections.removeAll() }
            return state.connections
        }
        for connection in connections { try? await connection.close() }
        try? await self.server.close()
    }
}

/// Server to client: forwards, or holds while stalled. Runs on the connection's event loop, as do `stall` and
/// `release` for it, so held bytes always leave before newer ones.
fileprivate final class ReplyForwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let client: any Channel
    private let shared: StallingProxy.Shared
    var stalled: Bool
    private var held: [ByteBuffer] = []

    init(client: any Channel, shared: StallingProxy.Shared, stalled: Bool) {
        self.client = client
        self.shared = shared
        self.stalled = stalled
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        if self.stalled {
            self.held.append(bytes)
            self.shared.held()
        } else {
            self.client.writeAndFlush(bytes, promise: nil)
        }
    }

    func release() {
        self.stalled = false
        for bytes in self.held { self.client.write(bytes, promise: nil) }
        self.held.removeAll()
        self.client.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.client.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
