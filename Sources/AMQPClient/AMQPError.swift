/// The one error type of the AMQP client: a broker's close (reply code, text, the offending class and method) or a
/// client-side failure (connection closed, timeout, protocol error, authentication failed, TLS, ...).
///
/// The message never contains a password. `AMQPError` is a value type and `Sendable`.
public struct AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case brokerClosedConnection, brokerClosedChannel, connectionClosed, channelClosed, timeout
            case protocolError, authenticationFailed, publishNacked, unroutable, invalidArgument, tls, blocked
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The broker closed the connection (`connection.close`); see ``AMQPError/replyCode``.
        public static let brokerClosedConnection = Code(.brokerClosedConnection)
        /// The broker closed the channel (`channel.close`, e.g. 404 NOT_FOUND, 406 PRECONDITION_FAILED); the
        /// connection stays usable.
        public static let brokerClosedChannel = Code(.brokerClosedChannel)
        /// The connection is closed or was lost (also: missed heartbeats).
        public static let connectionClosed = Code(.connectionClosed)
        /// The channel was closed by the client, or is not open.
        public static let channelClosed = Code(.channelClosed)
        /// The operation did not finish in time (connect timeout, or a publish not confirmed within its deadline).
        public static let timeout = Code(.timeout)
        /// The peer sent bytes that are not valid AMQP 0-9-1, or something the client does not support.
        public static let protocolError = Code(.protocolError)
        /// The broker refused the credentials (403 ACCESS_REFUSED during the handshake).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The broker nacked a publish in confirm mode.
        public static let publishNacked = Code(.publishNacked)
        /// The broker returned a mandatory message it could not route to any queue (`basic.return`, e.g. 312
        /// NO_ROUTE); in confirm mode its publish fails with this code and the broker's reply code and text.
        public static let unroutable = Code(.unroutable)
        /// An argument cannot be encoded (e.g. a short string over 255 bytes) or a URL cannot be parsed.
        public static let invalidArgument = Code(.invalidArgument)
        /// TLS could not protect the connection (`amqps://`, ``AMQPConnectionConfiguration/tls``): the broker's
        /// certificate did not verify (the message says whether the chain or the name failed, and what to set), the
        /// TLS handshake failed or did not finish (e.g. the broker does not speak TLS on that port), a TLS file could
        /// not be read, or a plain connection got a TLS answer (the port requires `amqps://`).
        public static let tls = Code(.tls)
        /// The broker blocked publishing on the connection (`connection.blocked`: a memory or disk alarm); the
        /// publish was not sent.
        public static let blocked = Code(.blocked)

        /// A readable name of the code.
        public var description: String {
            switch self.base {
            case .brokerClosedConnection: "brokerClosedConnection"
            case .brokerClosedChannel: "brokerClosedChannel"
            case .connectionClosed: "connectionClosed"
            case .channelClosed: "channelClosed"
            case .timeout: "timeout"
            case .protocolError: "protocolError"
            case .authenticationFailed: "authenticationFailed"
            case .publishNacked: "publishNacked"
            case .unroutable: "unroutable"
            case .invalidArgument: "invalidArgument"
            case .tls: "tls"
            case .blocked: "blocked"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The broker's reply code (e.g. 320 CONNECTION_FORCED, 404 NOT_FOUND, 406 PRECONDITION_FAILED), when the broker
    /// closed the connection or channel, or returned an unroutable message (312 NO_ROUTE).
    public var replyCode: UInt16?
    /// The broker's reply text, when the broker closed the connection or channel, or returned an unroutable message.
    public var replyText: String?
    /// The class id of the method that caused the close, when the broker gave one.
    public var classID: UInt16?
    /// The method id of the method that caused the close, when the broker gave one.
    public var methodID: UInt16?
    /// A human-readable explanation from the client.
    public var message: String

    /// Creates an error.
    public init(
        code: Code, message: String, replyCode: UInt16? = nil, replyText: String? = nil, classID: UInt16? = nil,
        methodID: UInt16? = nil
    ) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
        self.replyText = replyText
        self.classID = classID
        self.methodID = methodID
    }

    /// A one-line description, without credentials.
    public var description: String {
        var text = "AMQPError(\(self.code)): \(self.message)"
        if let replyCode { text += " [\(replyCode) \(self.replyText ?? "")]" }
        if let classID, let methodID, classID != 0 { text += " (class \(classID), method \(methodID))" }
        return text
    }

    static func protocolError(_ message: String) -> AMQPError { AMQPError(code: .protocolError, message: message) }
    static func connectionClosed(_ message: String = "the connection is closed") -> AMQPError {
        AMQPError(code: .connectionClosed, message: message)
    }
    static func channelClosed(_ message: String = "the channel is closed") -> AMQPError {
        AMQPError(code: .channelClosed, message: message)
    }
    static func invalidArgument(_ message: String) -> AMQPError { AMQPError(code: .invalidArgument, message: message) }
}
