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

    /// The command's payload.
    func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        switch self {
        case .query(let sql):
            buffer.reserveCapacity(sql.utf8.count + 1)
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
                var bitmap = [UInt8](repeating: 0, count: (parameters.count + 7) / 8)
                for (index, parameter) in parameters.enumerated() where parameter == .null {
                    bitmap[index / 8] |= 1 << UInt8(index % 8)
                }
                buffer.writeBytes(bitmap)
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
        return buffer
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
