import ArgumentParser
import NIOPosix
import ServiceCore
import Timing

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
        guard self.timeout > 0, self.timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds, got \(self.timeout)")
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

/// A minimal HTTP/1.1 GET over a POSIX socket with one deadline for the whole exchange.
///
/// Blocking sockets with `poll` keep this independent of an event loop (the command runs once and exits); the
/// async entry point runs it on NIO's blocking-I/O thread pool so it never blocks an executor thread.
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

    /// GETs `url`, giving up after `timeout` seconds.
    public static func check(url: String, timeout: Double) async -> Outcome {
        do {
            return try await NIOThreadPool.singleton.runIfActive { Self.blockingCheck(url: url, timeout: timeout) }
        } catch {
            return .failed("no thread to run the check on: \(error)")
        }
    }

    /// The same as ``check(url:timeout:)``, on the calling thread.
    public static func blockingCheck(url: String, timeout: Double) -> Outcome {
        guard let target = Target(url) else {
            return .failed("not a plain http URL with a host: \(url)")
        }
        let deadline = Deadline(seconds: timeout)
        let descriptor: Int32
        switch Self.connect(to: target, deadline: deadline) {
        case .success(let connected): descriptor = connected
        case .failure(let reason): return .failed(reason.message)
        }
        defer { close(descriptor) }

        let request = Array(
            "GET \(target.pathAndQuery) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUser-Agent: ordersystem-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n".utf8
        )
        if let problem = Self.sendAll(request, on: descriptor, deadline: deadline) {
            return .failed("\(target.authority): \(problem)")
        }
        return Self.readAnswer(from: descriptor, deadline: deadline, target: target)
    }

    // MARK: - URL

    /// The parts of the URL the request needs.
    struct Target {
        let host: String
        let port: Int
        let pathAndQuery: String

        /// `http://host[:port][/path][?query]`; the host may be a bracketed IPv6 literal. Parsed by hand, as the
        /// AMQP URL is: Foundation's `URL` would link all of Foundation (and ICU) into the binary for it.
        init?(_ text: String) {
            let scheme = "http://"
            guard text.lowercased().hasPrefix(scheme) else { return nil }
            let rest = text.dropFirst(scheme.count)
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            var authority = rest[..<authorityEnd]
            guard !authority.contains("@") else { return nil }  // credentials have no place in a health check
            var port = 80
            if authority.hasPrefix("[") {  // [IPv6]:port
                guard let close = authority.firstIndex(of: "]") else { return nil }
                let afterClose = authority[authority.index(after: close)...]
                if !afterClose.isEmpty {
                    guard afterClose.hasPrefix(":"), let value = Int(afterClose.dropFirst()) else { return nil }
                    port = value
                }
                authority = authority[authority.index(after: authority.startIndex)..<close]
            } else if let colon = authority.lastIndex(of: ":") {
                guard let value = Int(authority[authority.index(after: colon)...]) else { return nil }
                port = value
                authority = authority[..<colon]
            }
            guard !authority.isEmpty, (1...65535).contains(port) else { return nil }
            self.host = String(authority)
            self.port = port
            var pathAndQuery = rest[authorityEnd...]
            if let fragment = pathAndQuery.firstIndex(of: "#") { pathAndQuery = pathAndQuery[..<fragment] }
            self.pathAndQuery = pathAndQuery.hasPrefix("/") ? String(pathAndQuery) : "/" + pathAndQuery
        }

        var authority: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
        var hostHeader: String { self.port == 80 ? self.host : self.authority }
    }

    // MARK: - Deadline

    /// One deadline for connect, send and receive together.
    struct Deadline {
        let end: ContinuousClock.Instant
        let seconds: Double

        init(seconds: Double) {
            self.seconds = seconds
            self.end = .now + .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }

        /// Milliseconds left, for `poll` (0 once passed).
        var remainingMilliseconds: Int32 {
            let left = ContinuousClock.now.duration(to: self.end)
            guard left > .zero else { return 0 }
            return Int32(clamping: left.totalMilliseconds + 1)
        }

        var describedTimeout: String {
            let shown = self.seconds == self.seconds.rounded() ? String(Int(self.seconds)) : String(self.seconds)
            return "no answer within \(shown)s"
        }
    }

    /// Waits until `descriptor` is ready for `events` or the deadline passes; true when ready.
    private static func wait(_ descriptor: Int32, for events: Int32, deadline: Deadline) -> Bool {
        while true {
            let remaining = deadline.remainingMilliseconds
            if remaining == 0 { return false }
            var entry = pollfd(fd: descriptor, events: Int16(events), revents: 0)
            let ready = poll(&entry, 1, remaining)
            if ready > 0 { return true }
            if ready == 0 { return false }
            if errno != EINTR { return false }
        }
    }

    private static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    // MARK: - Connect

    struct ConnectFailure: Error { let message: String }

    /// Resolves the host and connects to its first address that accepts, non-blocking, within the deadline.
    private static func connect(to target: Target, deadline: Deadline) -> Result<Int32, ConnectFailure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        // getaddrinfo cannot be given a deadline; inside a container it asks Docker's local resolver.
        let resolved = getaddrinfo(target.host, String(target.port), &hints, &list)
        guard resolved == 0, let first = list else {
            return .failure(ConnectFailure(message: "cannot resolve \(target.host): \(String(cString: gai_strerror(resolved)))"))
        }
        defer { freeaddrinfo(list) }

        var lastProblem = "no address for \(target.host)"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let descriptor = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
            guard descriptor >= 0 else {
                lastProblem = "socket: \(Self.errorText(errno))"
                continue
            }
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL, 0) | O_NONBLOCK)
            #if canImport(Darwin)
            var noSigPipe: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &noSigPipe, socklen_t(MemoryLayout<Int32>.size))
            #endif
            if posixConnect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 {
                return .success(descriptor)
            }
            var code = errno
            if code == EINPROGRESS {
                if Self.wait(descriptor, for: Int32(POLLOUT), deadline: deadline) {
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    code = 0
                    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
                    if code == 0 { return .success(descriptor) }
                } else {
                    close(descriptor)
                    return .failure(ConnectFailure(message: "cannot connect to \(target.authority): \(deadline.describedTimeout)"))
                }
            }
            close(descriptor)
            lastProblem = "cannot connect to \(target.authority): \(Self.errorText(code))"
        }
        return .failure(ConnectFailure(message: lastProblem))
    }

    // MARK: - Exchange

    /// Sends all of `bytes`; returns a problem, or nil when sent.
    private static func sendAll(_ bytes: [UInt8], on descriptor: Int32, deadline: Deadline) -> String? {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer in
                send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Self.sendFlags)
            }
            if sent > 0 {
                offset += sent
                continue
            }
            if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard Self.wait(descriptor, for: Int32(POLLOUT), deadline: deadline) else { return deadline.describedTimeout }
                continue
            }
            return "send failed: \(Self.errorText(errno))"
        }
        return nil
    }

    /// MSG_NOSIGNAL: a peer that closed must give an error, not kill the process with SIGPIPE.
    private static var sendFlags: Int32 {
        #if canImport(Glibc)
        Int32(MSG_NOSIGNAL)
        #else
        0
        #endif
    }

    /// Reads the answer until the peer closes, the body announced by Content-Length is complete, or the deadline
    /// passes (a status line already received still counts then).
    private static func readAnswer(from descriptor: Int32, deadline: Deadline, target: Target) -> Outcome {
        let limit = 64 * 1024
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while received.count < limit {
            if let head = Head(received), head.isComplete(received) { break }
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[0..<count]
                continue
            }
            if count == 0 { break }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                if Self.wait(descriptor, for: Int32(POLLIN), deadline: deadline) { continue }
                if Head(received) != nil { break }
                return .failed("\(target.authority): \(deadline.describedTimeout)")
            }
            if Head(received) != nil { break }
            return .failed("\(target.authority): receive failed: \(Self.errorText(errno))")
        }
        guard let head = Head(received) else {
            return received.isEmpty
                ? .failed("\(target.authority): the connection closed without an answer")
                : .failed("\(target.authority): not an HTTP answer")
        }
        return .answered(status: head.status, firstLine: head.bodyFirstLine(received))
    }

    /// The parsed status line and headers of an answer.
    struct Head {
        let status: Int
        /// Where the body starts, or nil while the headers are incomplete.
        let bodyStart: Int?
        let contentLength: Int?
        let chunked: Bool

        /// Nil until a whole status line has arrived.
        init?(_ bytes: [UInt8]) {
            guard let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let statusLine = String(decoding: bytes[..<lineEnd], as: UTF8.self)
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else { return nil }
            self.status = status
            let separator = Array("\r\n\r\n".utf8)
            var start: Int?
            if bytes.count >= separator.count {
                for index in 0...(bytes.count - separator.count) where bytes[index..<index + 4].elementsEqual(separator) {
                    start = index + 4
                    break
                }
            }
            self.bodyStart = start
            var contentLength: Int?
            var chunked = false
            if let start {
                let headers = String(decoding: bytes[..<start], as: UTF8.self).split(separator: "\r\n").dropFirst()
                for header in headers {
                    let pair = header.split(separator: ":", maxSplits: 1)
                    guard pair.count == 2 else { continue }
                    let name = String(pair[0]).trimmingWhitespace().lowercased()
                    let value = String(pair[1]).trimmingWhitespace()
                    if name == "content-length" { contentLength = Int(value) }
                    if name == "transfer-encoding", value.lowercased().contains("chunked") { chunked = true }
                }
            }
            self.contentLength = contentLength
            self.chunked = chunked
        }

        /// Whether everything needed has arrived (without waiting for the peer to close).
        func isComplete(_ bytes: [UInt8]) -> Bool {
            guard let bodyStart else { return false }
            if let contentLength { return bytes.count - bodyStart >= contentLength }
            // Chunked or close-delimited: the first line of the first chunk is enough to report.
            return self.chunked && self.bodyFirstLine(bytes).isEmpty == false
        }

        /// The body's first line, at most 200 characters.
        func bodyFirstLine(_ bytes: [UInt8]) -> String {
            guard let bodyStart, bodyStart < bytes.count else { return "" }
            var lines = String(decoding: bytes[bodyStart...], as: UTF8.self)
                .split(separator: "\n", omittingEmptySubsequences: true)
                .map { String($0).trimmingWhitespace() }
                .filter { !$0.isEmpty }[...]
            // A chunked body starts with the chunk's size in hex.
            if self.chunked, let size = lines.first, Int(size, radix: 16) != nil { lines = lines.dropFirst() }
            guard let first = lines.first else { return "" }
            return first.count > 200 ? String(first.prefix(200)) + "…" : first
        }
    }
}

/// The C `connect`, named apart from ``HTTPHealthProbe``'s own `connect(to:deadline:)`.
private func posixConnect(_ descriptor: Int32, _ address: UnsafePointer<sockaddr>!, _ length: socklen_t) -> Int32 {
    connect(descriptor, address, length)
}
