import ArgumentParser
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ordersystem healthcheck --url URL [--timeout SECONDS]`: one HTTP GET, exit 0 on a 2xx answer and 1 otherwise.
///
/// It exists for Docker's `HEALTHCHECK`/compose `healthcheck:`: the runtime image is slim and has no curl or wget,
/// but it always has our binary.
public struct HealthcheckCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "GET a URL (plain HTTP) and exit 0 if it answers 2xx, 1 otherwise; for container healthchecks.",
        discussion: """
            Prints the status and the first line of the body, or why no answer came. A service's /health answers \
            200 when it is healthy or degraded (an optional dependency such as Redis is down but requests are still \
            served) and 503 when it is unhealthy, so a degraded service passes on purpose: restarting it would not \
            bring Redis back, and it keeps serving meanwhile. Use /health/live to check only that the process serves.
            """
    )

    @Option(help: "The URL to GET, e.g. http://127.0.0.1:8080/health (http only).")
    public var url: String

    @Option(help: "Seconds the whole check may take: connecting, sending and reading the answer.")
    public var timeout: Double = 3

    public init() {}

    public func validate() throws {
        guard self.timeout > 0, self.timeout <= HTTPHealthProbe.maximumTimeout else {
            throw ValidationError(
                "--timeout must be a positive number of seconds, at most \(Int(HTTPHealthProbe.maximumTimeout)), got \(self.timeout)")
        }
    }

    public func run() async throws {
        let outcome = await HTTPHealthProbe.check(url: self.url, timeout: self.timeout)
        if outcome.passed {
            print(outcome.description)
        } else {
            StandardError.print("healthcheck failed: \(outcome.description)")
            throw ExitCode.failure
        }
    }
}

/// One HTTP/1.1 GET with one deadline for the whole exchange (resolving, connecting, sending, reading), on SwiftNIO's
/// HTTP/1 codec and Foundation's URL parser, both already in the binary (docs/ARCHITECTURE.md, "Library or our own").
public enum HTTPHealthProbe {
    /// What one check found.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The server answered with `status`; `firstLine` is the body's first line (shortened), possibly empty.
        case answered(status: Int, firstLine: String)
        /// No HTTP answer: the URL was unusable, the connection failed, or the deadline passed.
        case failed(String)

        /// Whether the check passes: a 2xx answer.
        public var passed: Bool {
            if case .answered(let status, _) = self { return (200..<300).contains(status) }
            return false
        }

        public var description: String {
            switch self {
            case .answered(let status, let firstLine):
                return firstLine.isEmpty ? "HTTP \(status)" : "HTTP \(status) \(firstLine)"
            case .failed(let reason):
                return reason
            }
        }
    }

    /// The longest check (a day): far beyond any health check, far below what a timer can hold.
    public static let maximumTimeout: Double = 86_400

    /// GETs `url`, giving up after `timeout` seconds (at most ``maximumTimeout``).
    public static func check(url: String, timeout: Double) async -> Outcome {
        guard let target = Target(url) else {
            return .failed("not a plain http URL with a host: \(url)")
        }
        // Bounded before the conversion, which would trap on a huge or non-finite value.
        let seconds = timeout.isFinite ? min(max(timeout, 0), Self.maximumTimeout) : Self.maximumTimeout
        let limit = TimeAmount.milliseconds(Int64((seconds * 1000).rounded(.up)))
        let described = "no answer within \(timeout == timeout.rounded() ? String(Int(timeout)) : String(timeout))s"
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answer = loop.makePromise(of: Outcome.self)
        // The exchange runs on `loop`, which owns the handler's state.
        loop.execute {
            let handler = NIOLoopBound(AnswerHandler(target: target, answer: answer), eventLoop: loop)
            let deadline = loop.scheduleTask(in: limit) { handler.value.deadlinePassed() }
            let connected = ClientBootstrap(group: loop)
                .connectTimeout(limit)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(handler.value)
                    }
                }
                .connect(host: target.host, port: target.port)
            connected.whenFailure { answer.fail($0) }
            answer.futureResult.whenComplete { _ in
                deadline.cancel()
                connected.whenSuccess { $0.close(promise: nil) }
            }
        }
        do {
            return try await answer.futureResult.get()
        } catch let error as AnswerHandler.Partial {
            return error.outcome
        } catch let error as AnswerHandler.DeadlinePassed where error.connected {
            return .failed("\(target.authority): \(described)")
        } catch is AnswerHandler.DeadlinePassed, ChannelError.connectTimeout {
            return .failed("cannot connect to \(target.authority): \(described)")
        } catch let error as NIOConnectionError {
            return .failed(Self.explain(error, target: target))
        } catch {
            return .failed("\(target.authority): \(error)")
        }
    }

    /// A refused connection or an unknown host in words, as `curl` would say it.
    private static func explain(_ error: NIOConnectionError, target: Target) -> String {
        if error.connectionErrors.isEmpty, let problem = error.dnsAError ?? error.dnsAAAAError {
            return "cannot resolve \(target.host): \(problem)"
        }
        guard let first = error.connectionErrors.first?.error else { return "cannot connect to \(target.authority)" }
        if let io = first as? IOError {
            return "cannot connect to \(target.authority): \(String(cString: strerror(io.errnoCode)))"
        }
        return "cannot connect to \(target.authority): \(first)"
    }

    // MARK: - URL

    /// The parts of the URL the request needs.
    struct Target {
        let host: String
        let port: Int
        let pathAndQuery: String

        /// `http://host[:port][/path][?query]`, the host possibly a bracketed IPv6 literal; no credentials (they
        /// have no place in a health check) and no other scheme.
        init?(_ text: String) {
            guard let components = URLComponents(string: text), components.scheme?.lowercased() == "http",
                components.user == nil, components.password == nil,
                var host = components.host, !host.isEmpty
            else { return nil }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let port = components.port ?? 80
            guard (1...65535).contains(port) else { return nil }
            self.host = host
            self.port = port
            let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            self.pathAndQuery = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
        }

        var authority: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
        var hostHeader: String { self.port == 80 ? self.host : self.authority }
    }

    // MARK: - Exchange

    /// Sends the GET once connected and completes `answer` with the status and the body's first line: at the end
    /// of the answer, or with what came when the connection closes or the deadline passes.
    final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        /// The exchange ended without an answer, for the reason given.
        struct Partial: Error { let outcome: Outcome }
        /// The deadline passed before a status line came.
        struct DeadlinePassed: Error { let connected: Bool }

        private static let bodyLimit = 64 * 1024
        private let target: Target
        private let answer: EventLoopPromise<Outcome>
        private var connected = false
        private var status: Int?
        private var body: [UInt8] = []

        init(target: Target, answer: EventLoopPromise<Outcome>) {
            self.target = target
            self.answer = answer
        }

        /// A status already received still counts when the deadline cuts the body short.
        func deadlinePassed() {
            if self.status != nil {
                self.finish()
            } else {
                self.answer.fail(DeadlinePassed(connected: self.connected))
            }
        }

        func channelActive(context: ChannelHandlerContext) {
            self.connected = true
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: self.target.pathAndQuery)
            head.headers.add(name: "Host", value: self.target.hostHeader)
            head.headers.add(name: "User-Agent", value: "ordersystem-healthcheck")
            head.headers.add(name: "Accept", value: "*/*")
            head.headers.add(name: "Connection", value: "close")
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.status = Int(head.status.code)
            case .body(let buffer):
                let room = Self.bodyLimit - self.body.count
                if room > 0 { self.body += buffer.readableBytesView.prefix(room) }
            case .end:
                self.finish()
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if self.status == nil {
                self.answer.fail(Partial(outcome: .failed("\(self.target.authority): the connection closed without an answer")))
            } else {
                self.finish()
            }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if self.status != nil {
                self.finish()
            } else if error is HTTPParserError {
                self.answer.fail(Partial(outcome: .failed("\(self.target.authority): not an HTTP answer")))
            } else {
                self.answer.fail(Partial(outcome: .failed("\(self.target.authority): receive failed: \(error)")))
            }
            context.close(promise: nil)
        }

        private func finish() {
            guard let status = self.status else { return }
            self.answer.succeed(.answered(status: status, firstLine: Self.firstLine(of: self.body)))
        }

        /// The body's first non-empty line, at most 200 characters.
        static func firstLine(of body: [UInt8]) -> String {
            let lines = String(decoding: body, as: UTF8.self)
                .split(whereSeparator: \.isNewline)
                .map { String($0).trimmingWhitespace() }
            guard let first = lines.first(where: { !$0.isEmpty }) else { return "" }
            return first.count > 200 ? String(first.prefix(200)) + "…" : first
        }
    }
}
