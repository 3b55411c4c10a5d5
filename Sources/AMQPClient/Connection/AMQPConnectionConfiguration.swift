import NIOCore

/// Where and how to connect: host, port, credentials, virtual host, TLS, timeouts and tuning proposals.
///
/// Build one from a URL (`amqp://user:pass@host:port/vhost`, or `amqps://` for TLS) or field by field. A value type,
/// `Sendable`. Its `description` never shows the password.
public struct AMQPConnectionConfiguration: Sendable, CustomStringConvertible {
    /// The broker's host name or IP address.
    public var host: String
    /// The broker's AMQP port (5672 by default, 5671 with TLS).
    public var port: Int
    /// The user name for PLAIN authentication.
    public var username: String
    /// The password for PLAIN authentication; never logged.
    public var password: String
    /// The virtual host (`/` by default).
    public var virtualHost: String
    /// TLS to the broker (its certificate chain and name always verified); `nil`, the default, connects in plain
    /// text. An `amqps://` URL sets it.
    public var tls: TLS?
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

    /// TLS settings. The broker's certificate chain is verified against ``caFile`` (or the system's trust roots) and
    /// must name the host connected to (or ``serverName``); there is no way to turn either check off.
    ///
    /// A value type, `Sendable`.
    public struct TLS: Sendable, Equatable, CustomStringConvertible {
        /// PEM file of the authorities that may sign the broker's certificate; `nil`: the system's trust roots.
        public var caFile: String?
        /// PEM file of a client certificate (with its chain), sent when the broker asks for one (mutual TLS). Needs
        /// ``keyFile``.
        public var certificateFile: String?
        /// PEM file of the private key of ``certificateFile``.
        public var keyFile: String?
        /// The DNS name to verify in the broker's certificate and to send as SNI instead of the host (the URL's
        /// host), e.g. when connecting to an IP address whose certificate names the broker; `nil`: the host.
        public var serverName: String?

        /// Creates TLS settings; without arguments: the system's trust roots, no client certificate, the host's name.
        public init(
            caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil
        ) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }

        /// The files and name, e.g. `TLS (CA file ca.pem, client certificate cert.pem, server name localhost)`.
        public var description: String {
            var parts = [self.caFile.map { "CA file \($0)" } ?? "system trust roots"]
            if let certificateFile { parts.append("client certificate \(certificateFile)") }
            if let serverName { parts.append("server name \(serverName)") }
            return "TLS (\(parts.joined(separator: ", ")))"
        }
    }

    /// Creates a configuration field by field; the port defaults to 5672, or 5671 when `tls` is set.
    public init(
        host: String = "127.0.0.1", port: Int? = nil, username: String = "guest", password: String = "guest",
        virtualHost: String = "/", connectTimeout: TimeAmount = .seconds(10), heartbeat: UInt16 = 60,
        frameMax: UInt32 = 131_072, channelMax: UInt16 = 2047, connectionName: String? = nil, tls: TLS? = nil
    ) {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.username = username
        self.password = password
        self.virtualHost = virtualHost
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.heartbeat = heartbeat
        self.frameMax = max(frameMax, AMQPFrame.minimumFrameMax)
        self.channelMax = channelMax
        self.connectionName = connectionName
    }

    /// Parses `amqp://user:pass@host:port/vhost?heartbeat=10&connection_timeout=5000&frame_max=131072&channel_max=2047`
    /// or the same with `amqps://` for TLS (default port 5671, ``tls`` set to verify against the system's trust roots
    /// and the URL's host; set its files afterwards).
    ///
    /// User, password and virtual host are percent-decoded (RFC 3986): a password `p/a@s#s:w0rd` is written
    /// `p%2Fa%40s%23s%3Aw0rd`. The virtual host is the path after its first `/`: no path or a bare trailing slash
    /// (`amqp://guest:guest@localhost:5672/`) means `/`, as pika reads it; `%2F` is `/` too. Missing parts default to
    /// guest/guest on 127.0.0.1. A URL that does not parse, e.g. with a raw `/`, `@`, `#` or `?` in the password, is
    /// refused with an ``AMQPError/Code/invalidArgument`` error that says what to percent-encode; no error ever
    /// contains the password or the URL's user information.
    public init(url: String) throws {
        self.init()
        guard let schemeEnd = url.firstRange(of: "://") else {
            throw AMQPError.invalidArgument(
                "not an amqp:// or amqps:// URL (the text is not shown, since it may hold a password)")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        switch scheme {
        case "amqp":
            break
        case "amqps":
            self.port = 5671
            self.tls = TLS()
        default:
            // Not echoed: text before "://" is not known to be a scheme rather than a mistyped secret.
            throw AMQPError.invalidArgument("unsupported URL scheme: use amqp:// or amqps://")
        }
        let rest = url[schemeEnd.upperBound...]
        // RFC 3986: the authority ends at the first '/', '?' or '#'. An '@' after that means a raw '/', '?' or '#'
        // in the user information cut it short, and the "host" is a piece of the password: refuse, naming the
        // characters to encode, never the text around them.
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let afterAuthority = rest[authorityEnd...]
        if let lastAt = afterAuthority.lastIndex(of: "@") {
            throw Self.unencodedUserInfo(rest[..<lastAt])
        }
        if afterAuthority.contains("#") {
            throw AMQPError.invalidArgument(
                "the URL holds a raw '#', which AMQP URLs do not use: percent-encode it as %23")
        }
        let authority = rest[..<authorityEnd]
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            if userInfo.contains(where: { !Self.isUserInfoCharacter($0) }) { throw Self.unencodedUserInfo(userInfo) }
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                self.username = try Self.percentDecoded(userInfo[..<colon], what: "the user name")
                self.password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], what: "the password")
            } else {
                self.username = try Self.percentDecoded(userInfo, what: "the user name")
            }
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw AMQPError.invalidArgument("unterminated IPv6 address in the URL's host")
            }
            self.host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            hostPort = hostPort[hostPort.index(after: close)...]
            if hostPort.hasPrefix(":") { try self.parsePort(hostPort.dropFirst()) }
        } else if let colon = hostPort.lastIndex(of: ":") {
            self.host = String(hostPort[..<colon])
            try self.parsePort(hostPort[hostPort.index(after: colon)...])
        } else {
            self.host = String(hostPort)
        }
        if self.host.isEmpty { self.host = "127.0.0.1" }
        var path: Substring = ""
        var query: Substring = ""
        if afterAuthority.first == "/" {
            path = afterAuthority.dropFirst()
        } else {
            query = afterAuthority
        }
        if let q = path.firstIndex(of: "?") {
            query = path[q...]
            path = path[..<q]
        }
        query = query.drop { $0 == "?" }
        if !path.isEmpty {
            self.virtualHost = try Self.percentDecoded(path, what: "the virtual host")
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

    private mutating func parsePort(_ text: Substring) throws {
        guard let port = Int(text), (1...65535).contains(port) else {
            // Shown only when it is digits: "amqp://user:secret/" would otherwise show the password as the port.
            let shown = !text.isEmpty && text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber) ? " \(text)" : ""
            throw AMQPError.invalidArgument(
                "invalid port\(shown) in the URL for host \(self.host): a port is a number from 1 to 65535")
        }
        self.port = port
    }

    /// A description without the password, e.g. `amqps://orders@broker:5671 vhost / TLS (system trust roots)`.
    public var description: String {
        let scheme = self.tls == nil ? "amqp" : "amqps"
        var text = "\(scheme)://\(self.username)@\(self.host):\(self.port) vhost \(self.virtualHost)"
        if let tls { text += " \(tls)" }
        return text
    }

    /// RFC 3986 `userinfo`: unreserved, sub-delims, ':' and '%' (of a percent-encoding).
    static func isUserInfoCharacter(_ character: Character) -> Bool {
        guard character.isASCII, let value = character.asciiValue else { return false }
        switch value {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~!$&'()*+,;=:%".contains(character)
        }
    }

    /// The error for user information with characters that must be percent-encoded: it names them (a password's
    /// other characters, and the text around them, stay out of it).
    static func unencodedUserInfo(_ userInfo: Substring) -> AMQPError {
        var named: [String] = []
        var other = false
        for character in userInfo where !Self.isUserInfoCharacter(character) {
            if let value = character.asciiValue, value > 0x20, value < 0x7F {
                let name = "'\(character)' (%\(String(value, radix: 16, uppercase: true)))"
                if !named.contains(name) { named.append(name) }
            } else {
                other = true
            }
        }
        if other { named.append("spaces, control or non-ASCII characters (UTF-8, each byte as %XX)") }
        return AMQPError.invalidArgument(
            "the user name or password in the URL holds characters that must be percent-encoded: "
                + "\(named.joined(separator: ", ")); write each as shown (the URL is not shown, since it holds the "
                + "password)")
    }

    /// `text` with its `%XX` sequences decoded; `what` names the part in the error (never its text).
    static func percentDecoded(_ text: Substring, what: String) throws -> String {
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
                    throw AMQPError.invalidArgument(
                        "invalid percent-encoding in \(what) of the URL: '%' must be followed by two hexadecimal "
                            + "digits (write '%' itself as %25)")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
