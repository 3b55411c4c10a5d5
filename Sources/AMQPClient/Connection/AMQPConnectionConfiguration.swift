import NIOCore

/// Where and how to connect: host, port, credentials, virtual host, timeouts and tuning proposals.
///
/// Build one from a URL (`amqp://user:pass@host:port/vhost`) or field by field. A value type, `Sendable`. Its
/// `description` never shows the password.
public struct AMQPConnectionConfiguration: Sendable, CustomStringConvertible {
    /// The broker's host name or IP address.
    public var host: String
    /// The broker's AMQP port (5672 by default).
    public var port: Int
    /// The user name for PLAIN authentication.
    public var username: String
    /// The password for PLAIN authentication; never logged.
    public var password: String
    /// The virtual host (`/` by default).
    public var virtualHost: String
    /// How long connecting and the protocol handshake may take together.
    public var connectTimeout: TimeAmount
    /// The heartbeat interval the client proposes, in seconds (0 disables heartbeats if the broker agrees).
    public var heartbeat: UInt16
    /// The largest frame the client proposes, in bytes (at least 4096).
    public var frameMax: UInt32
    /// The most channels the client proposes.
    public var channelMax: UInt16
    /// A name shown in the broker's management UI (`connection_name`).
    public var connectionName: String?

    /// Creates a configuration field by field.
    public init(
        host: String = "127.0.0.1", port: Int = 5672, username: String = "guest", password: String = "guest",
        virtualHost: String = "/", connectTimeout: TimeAmount = .seconds(10), heartbeat: UInt16 = 60,
        frameMax: UInt32 = 131_072, channelMax: UInt16 = 2047, connectionName: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.virtualHost = virtualHost
        self.connectTimeout = connectTimeout
        self.heartbeat = heartbeat
        self.frameMax = max(frameMax, AMQPFrame.minimumFrameMax)
        self.channelMax = channelMax
        self.connectionName = connectionName
    }

    /// Parses `amqp://user:pass@host:port/vhost?heartbeat=10&connection_timeout=5000&frame_max=131072&channel_max=2047`.
    ///
    /// User, password and virtual host are percent-decoded. The virtual host is the path after its first `/`: no path
    /// or a bare trailing slash (`amqp://guest:guest@localhost:5672/`) means `/`, as pika reads it; `%2F` is `/` too.
    /// Missing parts default to guest/guest on 127.0.0.1:5672. `amqps` is refused (no TLS in this client). Errors
    /// never contain the password.
    public init(url: String) throws {
        self.init()
        var rest = Substring(url)
        guard let schemeEnd = rest.firstRange(of: "://") else {
            throw AMQPError.invalidArgument("not an amqp:// URL: \(Self.redacted(url))")
        }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "amqp" else {
            throw AMQPError.invalidArgument("unsupported scheme '\(scheme)' (only amqp://): \(Self.redacted(url))")
        }
        rest = rest[schemeEnd.upperBound...]
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        let authority: Substring
        var path: Substring?
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
        }
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                self.username = try Self.percentDecoded(userInfo[..<colon], url: url)
                self.password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], url: url)
            } else {
                self.username = try Self.percentDecoded(userInfo, url: url)
            }
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw AMQPError.invalidArgument("unterminated IPv6 address in \(Self.redacted(url))")
            }
            self.host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            hostPort = hostPort[hostPort.index(after: close)...]
            if hostPort.hasPrefix(":") { try self.parsePort(hostPort.dropFirst(), url: url) }
        } else if let colon = hostPort.lastIndex(of: ":") {
            self.host = String(hostPort[..<colon])
            try self.parsePort(hostPort[hostPort.index(after: colon)...], url: url)
        } else {
            self.host = String(hostPort)
        }
        if self.host.isEmpty { self.host = "127.0.0.1" }
        if let path, !path.isEmpty {
            self.virtualHost = try Self.percentDecoded(path, url: url)
        } else {
            self.virtualHost = "/"
        }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = String(parts[1])
            switch parts[0] {
            case "heartbeat":
                guard let seconds = UInt16(value) else { throw AMQPError.invalidArgument("heartbeat=\(value)") }
                self.heartbeat = seconds
            case "connection_timeout":
                guard let ms = Int64(value), ms > 0 else {
                    throw AMQPError.invalidArgument("connection_timeout=\(value)")
                }
                self.connectTimeout = .milliseconds(ms)
            case "frame_max":
                guard let size = UInt32(value) else { throw AMQPError.invalidArgument("frame_max=\(value)") }
                self.frameMax = max(size, AMQPFrame.minimumFrameMax)
            case "channel_max":
                guard let count = UInt16(value) else { throw AMQPError.invalidArgument("channel_max=\(value)") }
                self.channelMax = count
            default:
                continue
            }
        }
    }

    private mutating func parsePort(_ text: Substring, url: String) throws {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw AMQPError.invalidArgument("invalid port '\(text)' in \(Self.redacted(url))")
        }
        self.port = port
    }

    /// A description without the password.
    public var description: String {
        "amqp://\(self.username)@\(self.host):\(self.port) vhost \(self.virtualHost)"
    }

    /// The URL with any password replaced by `***`, for messages.
    static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return "<unparseable URL>" }
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    static func percentDecoded(_ text: Substring, url: String) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        func hex(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case .some(let b) where (48...57).contains(b): b - 48
            case .some(let b) where (65...70).contains(b): b - 55
            case .some(let b) where (97...102).contains(b): b - 87
            default: nil
            }
        }
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = hex(iterator.next()), let low = hex(iterator.next()) else {
                    throw AMQPError.invalidArgument("invalid percent-encoding in \(Self.redacted(url))")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
