import NIOCore
import NIOPosix
import Synchronization

@testable import RedisClient

/// A tiny in-process RESP server on 127.0.0.1 for tests that need a server to misbehave or to be observed: it either
/// answers every command (`PING` with `+PONG`, `GET` with a null bulk string, anything else with `+OK`) or never
/// answers at all. It records connections and which connection received which commands.
final class FakeRedisServer: Sendable {
    enum Behaviour: Sendable {
        case answer
        case silent
    }

    struct Statistics: Sendable {
        /// Connections accepted so far.
        var accepted = 0
        /// Connections closed so far (by either side).
        var closed = 0
        /// Command names received, per connection (numbered from 0 in accept order).
        var commandsByConnection: [Int: [String]] = [:]
        /// Whole commands (name and arguments) received, per connection.
        var commandLinesByConnection: [Int: [[String]]] = [:]
    }

    /// Shared by the server and its connection handlers.
    fileprivate final class Recorder: Sendable {
        private let statistics = Mutex(Statistics())

        func update<Value>(_ body: (inout Statistics) -> Value) -> Value {
            self.statistics.withLock { body(&$0) }
        }
    }

    let port: Int
    private let channel: any Channel
    private let recorder: Recorder

    /// What the server has seen so far.
    var snapshot: Statistics { self.recorder.update { $0 } }

    private init(port: Int, channel: any Channel, recorder: Recorder) {
        self.port = port
        self.channel = channel
        self.recorder = recorder
    }

    static func start(_ behaviour: Behaviour) async throws -> FakeRedisServer {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = recorder.update { statistics in
                        defer { statistics.accepted += 1 }
                        statistics.commandsByConnection[statistics.accepted] = []
                        return statistics.accepted
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        FakeRedisHandler(number: number, behaviour: behaviour, recorder: recorder)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FakeRedisServer(port: channel.localAddress!.port!, channel: channel, recorder: recorder)
    }

    /// Stops listening (connections already open stay open until the client closes them).
    func stop() async {
        try? await self.channel.close()
    }
}

private final class FakeRedisHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let number: Int
    private let behaviour: FakeRedisServer.Behaviour
    private let recorder: FakeRedisServer.Recorder
    private var received = ByteBuffer()
    private let parser = RESPParser()

    init(number: Int, behaviour: FakeRedisServer.Behaviour, recorder: FakeRedisServer.Recorder) {
        self.number = number
        self.behaviour = behaviour
        self.recorder = recorder
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.recorder.update { $0.closed += 1 }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        self.received.writeBuffer(&bytes)
        var names: [String] = []
        var lines: [[String]] = []
        var reply = context.channel.allocator.buffer(capacity: 64)
        while let command = try? self.parser.next(from: &self.received) {
            let name = command.array?.first?.string?.uppercased() ?? "?"
            names.append(name)
            lines.append(command.array?.map { $0.string ?? "?" } ?? [])
            switch name {
            case "PING": reply.writeString("+PONG\r\n")
            case "GET": reply.writeString("$-1\r\n")
            default: reply.writeString("+OK\r\n")
            }
        }
        let number = self.number
        self.recorder.update { statistics in
            statistics.commandsByConnection[number, default: []].append(contentsOf: names)
            statistics.commandLinesByConnection[number, default: []].append(contentsOf: lines)
        }
        if self.behaviour == .answer, reply.readableBytes > 0 {
            context.writeAndFlush(self.wrapOutboundOut(reply), promise: nil)
        }
    }
}
