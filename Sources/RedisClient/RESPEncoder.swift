import NIOCore

/// One argument of a Redis command: text, bytes or a number, written as a RESP bulk string.
///
/// Thread safety: a value type, `Sendable`.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    enum Storage: Sendable, Hashable {
        case string(String)
        case buffer(ByteBuffer)
        case bytes([UInt8])
        case integer(Int64)
    }

    let storage: Storage

    /// A UTF-8 text argument.
    public init(_ string: String) { self.storage = .string(string) }
    /// A binary argument.
    public init(_ buffer: ByteBuffer) { self.storage = .buffer(buffer) }
    /// A binary argument.
    public init(_ bytes: [UInt8]) { self.storage = .bytes(bytes) }
    /// A decimal integer argument.
    public init(_ integer: some BinaryInteger) { self.storage = .integer(Int64(integer)) }
    /// A UTF-8 text argument.
    public init(stringLiteral value: String) { self.storage = .string(value) }
    /// A decimal integer argument.
    public init(integerLiteral value: Int64) { self.storage = .integer(value) }
}

/// A command ready to send: its name and arguments.
///
/// Build one with the typed constructors (``get(_:)``, ``set(_:value:expiration:condition:)``, ...) or directly for
/// any command. Its `description` shows only the name, so arguments such as passwords never reach a log.
///
/// Thread safety: a value type, `Sendable`.
public struct RedisCommand: Sendable, Hashable, CustomStringConvertible {
    /// The command name, e.g. `GET`.
    public var name: String
    /// The arguments after the name.
    public var arguments: [RedisArgument]

    /// Creates a command.
    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.name = name
        self.arguments = arguments
    }

    /// The command name only.
    public var description: String { self.name }
}

/// Writes RESP2: commands as arrays of bulk strings, and any ``RESPValue``. A pure namespace of functions.
public enum RESPEncoder {
    /// Appends `command` to `buffer` as `*N\r\n$len\r\nNAME\r\n...`.
    public static func encode(_ command: RedisCommand, into buffer: inout ByteBuffer) {
        Self.writeHeader(UInt8(ascii: "*"), command.arguments.count + 1, into: &buffer)
        Self.writeBulk(command.name, into: &buffer)
        for argument in command.arguments {
            switch argument.storage {
            case .string(let string): Self.writeBulk(string, into: &buffer)
            case .buffer(let bytes):
                Self.writeHeader(UInt8(ascii: "$"), bytes.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(bytes)
                buffer.writeInteger(UInt16(0x0D0A))
            case .bytes(let bytes):
                Self.writeHeader(UInt8(ascii: "$"), bytes.count, into: &buffer)
                buffer.writeBytes(bytes)
                buffer.writeInteger(UInt16(0x0D0A))
            case .integer(let integer): Self.writeBulk(String(integer), into: &buffer)
            }
        }
    }

    /// Appends `value` to `buffer` in RESP2.
    public static func encode(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let line):
            buffer.writeInteger(UInt8(ascii: "+"))
            buffer.writeImmutableBuffer(line)
            buffer.writeInteger(UInt16(0x0D0A))
        case .error(let line):
            buffer.writeInteger(UInt8(ascii: "-"))
            buffer.writeImmutableBuffer(line)
            buffer.writeInteger(UInt16(0x0D0A))
        case .integer(let integer):
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeString(String(integer))
            buffer.writeInteger(UInt16(0x0D0A))
        case .bulkString(nil):
            buffer.writeString("$-1\r\n")
        case .bulkString(.some(let bytes)):
            Self.writeHeader(UInt8(ascii: "$"), bytes.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(bytes)
            buffer.writeInteger(UInt16(0x0D0A))
        case .array(nil):
            buffer.writeString("*-1\r\n")
        case .array(.some(let values)):
            Self.writeHeader(UInt8(ascii: "*"), values.count, into: &buffer)
            for element in values { Self.encode(element, into: &buffer) }
        }
    }

    private static func writeHeader(_ marker: UInt8, _ count: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(marker)
        buffer.writeString(String(count))
        buffer.writeInteger(UInt16(0x0D0A))
    }

    private static func writeBulk(_ string: String, into buffer: inout ByteBuffer) {
        Self.writeHeader(UInt8(ascii: "$"), string.utf8.count, into: &buffer)
        buffer.writeString(string)
        buffer.writeInteger(UInt16(0x0D0A))
    }
}

/// A NIO `MessageToByteEncoder` for ``RedisCommand``s (the connection itself batches writes through
/// ``RESPEncoder`` directly; this codec is for custom pipelines).
///
/// Thread safety: stateless, `Sendable`.
public struct RESPCommandEncoder: MessageToByteEncoder, Sendable {
    /// Takes ``RedisCommand``s.
    public typealias OutboundIn = RedisCommand

    /// Creates the encoder.
    public init() {}

    /// Writes `data` in RESP2.
    public func encode(data: RedisCommand, out: inout ByteBuffer) throws {
        RESPEncoder.encode(data, into: &out)
    }
}
