import NIOCore

/// The server's first packet, `Protocol::HandshakeV10`.
struct MySQLHandshakeV10: Equatable, Sendable {
    var protocolVersion: UInt8
    var serverVersion: String
    var connectionID: UInt32
    /// The scramble (nonce), both parts joined, without the trailing NUL: 20 bytes for the built-in plugins.
    var authPluginData: [UInt8]
    var capabilities: MySQLCapabilities
    var characterSet: UInt8
    var statusFlags: UInt16
    var authPluginName: String?

    /// Parses a HandshakeV10 payload; throws a protocol error on anything malformed.
    init(payload: ByteBuffer) throws {
        var buffer = payload
        func malformed(_ what: String) -> MySQLError {
            MySQLError(code: .protocolError, message: "malformed handshake: \(what)")
        }
        guard let version = buffer.readInteger(as: UInt8.self) else { throw malformed("empty") }
        guard version == 10 else {
            throw MySQLError(code: .protocolError, message: "unsupported handshake protocol version \(version)")
        }
        self.protocolVersion = version
        guard let serverVersion = buffer.readMySQLCString() else { throw malformed("server version") }
        self.serverVersion = serverVersion
        guard let connectionID = buffer.readInteger(endianness: .little, as: UInt32.self),
            let part1 = buffer.readBytes(length: 8),
            buffer.readInteger(as: UInt8.self) != nil,
            let capabilitiesLow = buffer.readInteger(endianness: .little, as: UInt16.self)
        else { throw malformed("connection id or scramble") }
        self.connectionID = connectionID
        var capabilities = UInt32(capabilitiesLow)
        self.characterSet = 0
        self.statusFlags = 0
        self.authPluginName = nil
        var data = part1
        if buffer.readableBytes > 0 {
            guard let characterSet = buffer.readInteger(as: UInt8.self),
                let status = buffer.readInteger(endianness: .little, as: UInt16.self),
                let capabilitiesHigh = buffer.readInteger(endianness: .little, as: UInt16.self),
                let authDataLength = buffer.readInteger(as: UInt8.self),
                buffer.readSlice(length: 10) != nil
            else { throw malformed("capabilities") }
            self.characterSet = characterSet
            self.statusFlags = status
            capabilities |= UInt32(capabilitiesHigh) << 16
            if capabilities & MySQLCapabilities.secureConnection.rawValue != 0 {
                let length = max(13, Int(authDataLength) - 8)
                guard var part2 = buffer.readBytes(length: min(length, buffer.readableBytes)) else {
                    throw malformed("scramble part 2")
                }
                if part2.last == 0 { part2.removeLast() }
                data += part2
            }
            if capabilities & MySQLCapabilities.pluginAuth.rawValue != 0 {
                // Some servers omit the final NUL: then the name runs to the end.
                self.authPluginName =
                    buffer.readMySQLCString() ?? buffer.readString(length: buffer.readableBytes)
            }
        }
        self.authPluginData = data
        self.capabilities = MySQLCapabilities(rawValue: capabilities)
    }
}

/// The client's reply, `Protocol::HandshakeResponse41`.
struct MySQLHandshakeResponse41: Equatable, Sendable {
    var capabilities: MySQLCapabilities
    var maxPacketSize: UInt32 = 1 << 30
    /// `utf8mb4_general_ci`, known to MySQL 5.5+ and every MariaDB.
    var characterSet: UInt8 = 45
    var username: String
    var authResponse: [UInt8]
    var database: String?
    var authPluginName: String

    func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        self.writeFixedPart(into: &buffer)
        buffer.writeMySQLCString(self.username)
        if self.capabilities.contains(.pluginAuthLenencClientData) {
            buffer.writeLengthEncodedBytes(self.authResponse)
        } else {
            buffer.writeInteger(UInt8(truncatingIfNeeded: self.authResponse.count))
            buffer.writeBytes(self.authResponse)
        }
        if self.capabilities.contains(.connectWithDB), let database = self.database {
            buffer.writeMySQLCString(database)
        }
        if self.capabilities.contains(.pluginAuth) {
            buffer.writeMySQLCString(self.authPluginName)
        }
        return buffer
    }

    /// `Protocol::SSLRequest`: this response cut before the user name (32 bytes), its capabilities including
    /// `CLIENT_SSL`. The server starts TLS on reading it; the full response follows inside the tunnel.
    func encodeSSLRequest() -> ByteBuffer {
        var buffer = ByteBuffer()
        self.writeFixedPart(into: &buffer)
        return buffer
    }

    /// Capabilities, maximum packet size, character set and 23 reserved zero bytes.
    private func writeFixedPart(into buffer: inout ByteBuffer) {
        buffer.writeInteger(self.capabilities.rawValue, endianness: .little)
        buffer.writeInteger(self.maxPacketSize, endianness: .little)
        buffer.writeInteger(self.characterSet)
        buffer.writeRepeatingByte(0, count: 23)
    }
}
