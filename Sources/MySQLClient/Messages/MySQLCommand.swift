import NIOCore

/// A server-side prepared statement: its id and the shape the server announced.
struct MySQLPreparedStatement: Equatable, Sendable {
    var id: UInt32
    var parameterCount: Int
    var columns: [MySQLColumn]
}

/// A command the client sends after authentication (`COM_*`).
enum MySQLCommand: Equatable, Sendable {
    /// `COM_QUERY`: text protocol.
    case query(String)
    /// `COM_STMT_PREPARE`.
    case prepare(String)
    /// `COM_STMT_EXECUTE`: binary protocol.
    case execute(MySQLPreparedStatement, [MySQLData])
    /// `COM_STMT_CLOSE` (the server does not answer).
    case closeStatement(UInt32)
    /// `COM_PING`.
    case ping
    /// `COM_QUIT` (the server closes the connection).
    case quit

    /// Whether the server answers this command.
    var expectsResponse: Bool {
        switch self {
        case .closeStatement, .quit: false
        default: true
        }
    }

    /// The command's payload (the readable bytes), framed for sequence id 0.
    ///
    /// The four bytes before the reader index already hold the wire header for sequence id 0 (when the payload fits
    /// one wire packet), so the channel handler can send the buffer as it is instead of copying it into a framed
    /// one: see ``MySQLPacketEncoder/framedInPlace(_:sequenceID:)``.
    func encode() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 4 + self.encodedLengthEstimate)
        buffer.writeInteger(UInt32(0))  // room for the header
        buffer.moveReaderIndex(forwardBy: 4)
        self.encodePayload(into: &buffer)
        let length = buffer.readableBytes
        if length < mySQLMaximumPacketPayload {
            buffer.setInteger(UInt32(length), at: buffer.readerIndex - 4, endianness: .little)  // sequence id 0
        }
        return buffer
    }

    /// Enough capacity for the payload in the common cases, so encoding never reallocates.
    private var encodedLengthEstimate: Int {
        switch self {
        case .query(let sql), .prepare(let sql):
            return 1 + sql.utf8.count
        case .execute(_, let parameters):
            var length = 11 + (parameters.count + 7) / 8 + 2 * parameters.count
            for parameter in parameters { length += parameter.binaryLengthEstimate }
            return length
        case .closeStatement:
            return 5
        case .ping, .quit:
            return 1
        }
    }

    private func encodePayload(into buffer: inout ByteBuffer) {
        switch self {
        case .query(let sql):
            buffer.writeInteger(UInt8(0x03))
            buffer.writeString(sql)
        case .prepare(let sql):
            buffer.writeInteger(UInt8(0x16))
            buffer.writeString(sql)
        case .execute(let statement, let parameters):
            buffer.writeInteger(UInt8(0x17))
            buffer.writeInteger(statement.id, endianness: .little)
            buffer.writeInteger(UInt8(0))  // CURSOR_TYPE_NO_CURSOR
            buffer.writeInteger(UInt32(1), endianness: .little)  // iteration count
            if !parameters.isEmpty {
                // The NULL bitmap, a byte at a time (no array).
                var byte: UInt8 = 0
                for (index, parameter) in parameters.enumerated() {
                    if case .null = parameter { byte |= 1 << UInt8(index % 8) }
                    if index % 8 == 7 || index == parameters.count - 1 {
                        buffer.writeInteger(byte)
                        byte = 0
                    }
                }
                buffer.writeInteger(UInt8(1))  // new-params-bound
                for parameter in parameters {
                    let (type, unsigned) = parameter.binaryParameterType
                    buffer.writeInteger(type.rawValue)
                    buffer.writeInteger(UInt8(unsigned ? 0x80 : 0))
                }
                for parameter in parameters {
                    parameter.writeBinaryValue(into: &buffer)
                }
            }
        case .closeStatement(let id):
            buffer.writeInteger(UInt8(0x19))
            buffer.writeInteger(id, endianness: .little)
        case .ping:
            buffer.writeInteger(UInt8(0x0E))
        case .quit:
            buffer.writeInteger(UInt8(0x01))
        }
    }
}

/// What a command produced.
enum MySQLCommandResult: Equatable, Sendable {
    /// A result set or the counts of an OK packet.
    case result(MySQLQueryResult)
    /// A prepared statement.
    case prepared(MySQLPreparedStatement)
    /// A command without a result (ping, close statement, quit).
    case done
}
