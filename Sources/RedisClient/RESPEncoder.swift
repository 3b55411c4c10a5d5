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
    ///
    /// Commands are encoded on every request, so this reserves an upper bound of the size once and writes through a
    /// pointer: one capacity and uniqueness check per command instead of one per header, string and CRLF.
    public static func encode(_ command: RedisCommand, into buffer: inout ByteBuffer) {
        // "$" + up to 20 digits + CRLF + bytes + CRLF per bulk string; the same for the array header.
        var size = 23 + command.name.utf8.count + 25
        for argument in command.arguments {
            switch argument.storage {
            case .string(let string): size += string.utf8.count + 25
            case .buffer(let bytes): size += bytes.readableBytes + 25
            case .bytes(let bytes): size += bytes.count + 25
            case .integer: size += 20 + 25
            }
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { output in
            var writer = RawWriter(output: output)
            writer.header(UInt8(ascii: "*"), Int64(command.arguments.count + 1))
            writer.bulk(command.name)
            for argument in command.arguments {
                switch argument.storage {
                case .string(let string):
                    writer.bulk(string)
                case .buffer(let bytes):
                    bytes.withUnsafeReadableBytes { writer.bulk($0) }
                case .bytes(let bytes):
                    bytes.withUnsafeBytes { writer.bulk($0) }
                case .integer(let integer):
                    writer.bulk(integer)
                }
            }
            return writer.position
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

/// Writes RESP pieces into memory already reserved for them by `RESPEncoder.encode(_:into:)` for commands.
private struct RawWriter {
    let output: UnsafeMutableRawBufferPointer
    var position = 0

    init(output: UnsafeMutableRawBufferPointer) {
        self.output = output
    }

    mutating func header(_ marker: UInt8, _ count: Int64) {
        self.byte(marker)
        self.decimal(count)
        self.crlf()
    }

    mutating func bulk(_ string: String) {
        let written: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 in
            self.bulk(UnsafeRawBufferPointer(utf8))
        }
        guard written == nil else { return }
        // Not contiguous UTF-8 (e.g. a bridged string): byte by byte.
        self.header(UInt8(ascii: "$"), Int64(string.utf8.count))
        for byte in string.utf8 { self.byte(byte) }
        self.crlf()
    }

    mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
        self.header(UInt8(ascii: "$"), Int64(bytes.count))
        if let source = bytes.baseAddress, bytes.count > 0 {
            (self.output.baseAddress! + self.position).copyMemory(from: source, byteCount: bytes.count)
            self.position += bytes.count
        }
        self.crlf()
    }

    /// An integer argument: its decimal digits as a bulk string.
    mutating func bulk(_ integer: Int64) {
        self.header(UInt8(ascii: "$"), Int64(Self.decimalLength(integer)))
        self.decimal(integer)
        self.crlf()
    }

    private mutating func byte(_ byte: UInt8) {
        self.output[self.position] = byte
        self.position += 1
    }

    private mutating func crlf() {
        self.output[self.position] = UInt8(ascii: "\r")
        self.output[self.position + 1] = UInt8(ascii: "\n")
        self.position += 2
    }

    private mutating func decimal(_ value: Int64) {
        if value >= 0, value < 10 {
            self.byte(UInt8(ascii: "0") + UInt8(value))
            return
        }
        let length = Self.decimalLength(value)
        var magnitude = value.magnitude
        var index = self.position + length - 1
        repeat {
            self.output[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            index -= 1
        } while magnitude > 0
        if value < 0 { self.output[self.position] = UInt8(ascii: "-") }
        self.position += length
    }

    /// Characters in `value`'s decimal form, sign included.
    static func decimalLength(_ value: Int64) -> Int {
        var magnitude = value.magnitude
        var length = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            length += 1
        }
        return length
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
