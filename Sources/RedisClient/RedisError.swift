/// The one error type of `RedisClient`: a server's error reply or a client-side failure.
///
/// Server errors keep Redis' prefix (`WRONGTYPE`, `NOAUTH`, `WRONGPASS`, ...) in ``serverPrefix`` and the rest of
/// the reply in ``message``. Client-side failures (connection closed, timeout, protocol error, ...) have their own
/// ``Code``. An error never contains a password: commands are never included, only their name.
///
/// Thread safety: a value type, `Sendable`.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case server
            case connectionClosed
            case connectFailed
            case timeout
            case protocolError
            case unexpectedResponse
            case poolShutdown
            case cancelled
            case tls
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an error reply (`-ERR ...`, `-WRONGTYPE ...`, ...).
        public static let server = Code(.server)
        /// The connection closed (or was never usable) before the reply arrived.
        public static let connectionClosed = Code(.connectionClosed)
        /// The TCP connection, `AUTH` or `SELECT` failed while connecting.
        public static let connectFailed = Code(.connectFailed)
        /// A connect, lease or command deadline passed.
        public static let timeout = Code(.timeout)
        /// The bytes from the server are not valid RESP, or exceed a configured limit.
        public static let protocolError = Code(.protocolError)
        /// The reply is valid RESP but not of the type the command expects.
        public static let unexpectedResponse = Code(.unexpectedResponse)
        /// The client is shut down (or not running).
        public static let poolShutdown = Code(.poolShutdown)
        /// The calling task was cancelled.
        public static let cancelled = Code(.cancelled)
        /// TLS could not protect the connection (``RedisConfiguration/tls``): the server's certificate did not
        /// verify (the message says whether the chain or the name failed, and what to set), the TLS handshake
        /// failed or did not finish (e.g. the server does not speak TLS on that port), a TLS file could not be read,
        /// or a plain connection got a TLS answer (the port requires TLS).
        public static let tls = Code(.tls)

        /// The code's name, e.g. `timeout`.
        public var description: String { self.base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// For ``Code/server`` errors, the first word of the reply when it is upper case (`WRONGTYPE`, `NOAUTH`,
    /// `WRONGPASS`, `ERR`, ...); `nil` otherwise.
    public var serverPrefix: String?
    /// The server's message without its prefix, or a description of the client-side failure.
    public var message: String
    /// The error that caused this one, if any (e.g. a NIO connect error).
    public var underlying: (any Error)?

    /// Creates an error.
    public init(code: Code, serverPrefix: String? = nil, message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.serverPrefix = serverPrefix
        self.message = message
        self.underlying = underlying
    }

    /// An error from a server error reply such as `WRONGTYPE Operation against a key ...`.
    public init(serverReply: String) {
        let firstSpace = serverReply.firstIndex(of: " ")
        let first = firstSpace.map { serverReply[..<$0] } ?? serverReply[...]
        if !first.isEmpty, first.allSatisfy({ ($0 >= "A" && $0 <= "Z") || $0 == "_" || ($0 >= "0" && $0 <= "9") }) {
            self.init(
                code: .server,
                serverPrefix: String(first),
                message: firstSpace.map { String(serverReply[serverReply.index(after: $0)...]) } ?? ""
            )
        } else {
            self.init(code: .server, message: serverReply)
        }
    }

    /// `code: message` (with the server prefix for server errors), never any command argument.
    public var description: String {
        var text = "RedisError(\(self.code)"
        if let prefix = self.serverPrefix { text += ", \(prefix)" }
        text += "): \(self.message)"
        if let underlying = self.underlying { text += " (\(String(describing: underlying)))" }
        return text
    }

    static func protocolError(_ message: String) -> RedisError {
        RedisError(code: .protocolError, message: message)
    }

    static func unexpected(_ value: RESPValue, expected: String) -> RedisError {
        RedisError(code: .unexpectedResponse, message: "expected \(expected), got \(value.typeName)")
    }

    static let connectionClosed = RedisError(code: .connectionClosed, message: "the connection is closed")

    /// The connection was closed before the command was written, so the server never saw it: safe to retry.
    static let closedBeforeSending: RedisError = {
        var error = RedisError(code: .connectionClosed, message: "the connection was closed before the command was sent")
        error.commandWasNotSent = true
        return error
    }()

    /// `true` when the command never reached the server (see ``closedBeforeSending``).
    var commandWasNotSent = false
}
