import NIOCore

/// `OK_Packet` (header `0x00`, or `0xFE` when it ends a result set under `CLIENT_DEPRECATE_EOF`).
struct MySQLOKPacket: Equatable, Sendable {
    var affectedRows: UInt64
    var lastInsertID: UInt64
    var status: MySQLServerStatus
    var warnings: UInt16

    init(affectedRows: UInt64 = 0, lastInsertID: UInt64 = 0, status: MySQLServerStatus = [], warnings: UInt16 = 0) {
        self.affectedRows = affectedRows
        self.lastInsertID = lastInsertID
        self.status = status
        self.warnings = warnings
    }

    /// Parses an OK packet including its header byte.
    init(payload: ByteBuffer) throws {
        var buffer = payload
        guard let header = buffer.readInteger(as: UInt8.self), header == 0x00 || header == 0xFE,
            let affected = buffer.readLengthEncodedInteger(),
            let lastInsertID = buffer.readLengthEncodedInteger()
        else { throw MySQLError(code: .protocolError, message: "malformed OK packet") }
        self.affectedRows = affected
        self.lastInsertID = lastInsertID
        self.status = MySQLServerStatus(rawValue: buffer.readInteger(endianness: .little, as: UInt16.self) ?? 0)
        self.warnings = buffer.readInteger(endianness: .little, as: UInt16.self) ?? 0
    }

    /// Whether `payload` is an OK packet (header 0x00 is also the first byte of other packets: callers decide).
    static func isEOFOrOK(_ payload: ByteBuffer) -> Bool {
        payload.getInteger(at: payload.readerIndex, as: UInt8.self) == 0xFE
            && payload.readableBytes < mySQLMaximumPacketPayload
    }
}

/// `EOF_Packet` (header `0xFE`, at most 5 bytes), used when `CLIENT_DEPRECATE_EOF` is off.
struct MySQLEOFPacket: Equatable, Sendable {
    var warnings: UInt16
    var status: MySQLServerStatus

    init(payload: ByteBuffer) throws {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0xFE else {
            throw MySQLError(code: .protocolError, message: "malformed EOF packet")
        }
        self.warnings = buffer.readInteger(endianness: .little, as: UInt16.self) ?? 0
        self.status = MySQLServerStatus(rawValue: buffer.readInteger(endianness: .little, as: UInt16.self) ?? 0)
    }
}

/// Parses an `ERR_Packet` (header `0xFF`) into a server ``MySQLError``.
func parseErrorPacket(_ payload: ByteBuffer) throws -> MySQLError {
    var buffer = payload
    guard buffer.readInteger(as: UInt8.self) == 0xFF,
        let number = buffer.readInteger(endianness: .little, as: UInt16.self)
    else { throw MySQLError(code: .protocolError, message: "malformed ERR packet") }
    var sqlState: String?
    // Before the handshake completes the server may omit the SQL state marker.
    if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "#"), buffer.readableBytes >= 6 {
        buffer.moveReaderIndex(forwardBy: 1)
        sqlState = buffer.readString(length: 5)
    }
    let message = buffer.readString(length: buffer.readableBytes) ?? ""
    return MySQLError(code: .server, serverErrorNumber: number, sqlState: sqlState, message: message)
}

/// Whether the payload is an ERR packet.
func isErrorPacket(_ payload: ByteBuffer) -> Bool {
    payload.getInteger(at: payload.readerIndex, as: UInt8.self) == 0xFF
}
