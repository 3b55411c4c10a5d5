import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A server on 127.0.0.1 that speaks no Redis, standing in for the wrong kind of port: on the client's first bytes it
/// sends `reply` (nothing, a TLS alert, a RESP error) and then closes the connection or keeps it open.
final class RudeServer: Sendable {
    let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    /// A TLS alert record (fatal, `unexpected_message`), as a TLS-only port sends to plain text.
    static let tlsAlert: [UInt8] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x0A]

    static func start(reply: [UInt8], thenClose: Bool) async throws -> RudeServer {
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

    func stop() async {
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

/// Every log line of a logger, as text (level, message and all metadata), to check what logs show.
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    /// All lines so far.
    var all: [String] { self.lines.withLock { $0 } }

    /// A logger at `trace` level that records here.
    func logger(_ label: String = "recorded") -> Logger {
        Logger(label: label) { _ in Handler(recorder: self) }
    }

    fileprivate func append(_ line: String) {
        self.lines.withLock { $0.append(line) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            self.recorder.append("\(event.level) \(event.message) \(self.metadata) \(event.metadata ?? [:])")
        }
    }
}
