import ClientTestSupport
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on 127.0.0.1 in front of a real broker, to cut the client's connections on demand (the broker stays
/// up, so the client reconnects at once): for tests of what reconnection logs.
final class DroppingProxy: Sendable {
    let port: Int
    private let server: any Channel
    private let connections: Connections

    private final class Connections: Sendable {
        let open = Mutex<[any Channel]>([])
    }

    private init(port: Int, server: any Channel, connections: Connections) {
        self.port = port
        self.server = server
        self.connections = connections
    }

    static func start(targetHost: String, targetPort: Int) async throws -> DroppingProxy {
        let connections = Connections()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: targetHost, port: targetPort)
                    .flatMap { outbound in
                        inbound.eventLoop.makeCompletedFuture {
                            try inbound.pipeline.syncOperations.addHandler(ByteForwarder(peer: outbound))
                            try outbound.pipeline.syncOperations.addHandler(ByteForwarder(peer: inbound))
                            connections.open.withLock { $0.append(inbound) }
                        }
                    }
                    .flatMap { inbound.setOption(.autoRead, value: true) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return DroppingProxy(port: server.localAddress!.port!, server: server, connections: connections)
    }

    /// Closes every connection made through the proxy so far.
    func dropAll() {
        let open = self.connections.open.withLock { open in
            defer { open.removeAll() }
            return open
        }
        for channel in open { channel.close(promise: nil) }
    }

    func stop() async {
        self.dropAll()
        try? await self.server.close()
    }
}
