import NIOCore

/// A RESP2 value, as the server sends it.
///
/// Thread safety: a value type, `Sendable`.
public enum RESPValue: Sendable, Hashable {
    /// `+OK\r\n`
    case simpleString(ByteBuffer)
    /// `-ERR message\r\n`
    case error(ByteBuffer)
    /// `:42\r\n`
    case integer(Int64)
    /// `$5\r\nhello\r\n`; `nil` for the null bulk string `$-1\r\n`.
    case bulkString(ByteBuffer?)
    /// `*2\r\n...`; `nil` for the null array `*-1\r\n`.
    case array([RESPValue]?)

    /// `true` for the null bulk string and the null array.
    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): true
        default: false
        }
    }

    /// The text of a simple string, error or bulk string (as UTF-8), or an integer's decimal digits.
    public var string: String? {
        switch self {
        case .simpleString(let buffer), .error(let buffer), .bulkString(.some(let buffer)):
            String(buffer: buffer)
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The value of an integer, or of a string that holds a decimal integer.
    public var int: Int? {
        switch self {
        case .integer(let value): Int(exactly: value)
        case .simpleString(let buffer), .bulkString(.some(let buffer)): Int(String(buffer: buffer))
        default: nil
        }
    }

    /// The bytes of a simple string or bulk string.
    public var buffer: ByteBuffer? {
        switch self {
        case .simpleString(let buffer), .bulkString(.some(let buffer)): buffer
        default: nil
        }
    }

    /// The elements of a non-null array.
    public var array: [RESPValue]? {
        if case .array(.some(let values)) = self { return values }
        return nil
    }

    /// The server error this value carries, if it is an error reply.
    public var redisError: RedisError? {
        if case .error(let buffer) = self { return RedisError(serverReply: String(buffer: buffer)) }
        return nil
    }

    /// Decodes the value as `type`, throwing ``RedisError`` (``RedisError/Code/server`` for an error reply,
    /// ``RedisError/Code/unexpectedResponse`` for a reply of the wrong type).
    public func decode<Value: RESPValueDecodable>(as type: Value.Type = Value.self) throws(RedisError) -> Value {
        if let error = self.redisError { throw error }
        return try Value(fromRESP: self)
    }

    var typeName: String {
        switch self {
        case .simpleString: "simple string"
        case .error: "error"
        case .integer: "integer"
        case .bulkString(nil): "null bulk string"
        case .bulkString: "bulk string"
        case .array(nil): "null array"
        case .array: "array"
        }
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short, human-readable rendering (long strings are truncated).
    public var description: String {
        switch self {
        case .simpleString(let buffer): "+\(String(buffer: buffer).prefix(64))"
        case .error(let buffer): "-\(String(buffer: buffer).prefix(256))"
        case .integer(let value): ":\(value)"
        case .bulkString(nil): "(nil)"
        case .bulkString(.some(let buffer)): "\"\(String(buffer: buffer).prefix(64))\""
        case .array(nil): "(nil array)"
        case .array(.some(let values)): "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// A type that can be read from a RESP reply.
public protocol RESPValueDecodable: Sendable {
    /// Reads the value, throwing ``RedisError`` with code ``RedisError/Code/unexpectedResponse`` on a mismatch.
    init(fromRESP value: RESPValue) throws(RedisError)
}

extension RESPValue: RESPValueDecodable {
    /// The value itself.
    public init(fromRESP value: RESPValue) throws(RedisError) { self = value }
}

extension ByteBuffer: RESPValueDecodable {
    /// The bytes of a simple or bulk string.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        guard let buffer = value.buffer else { throw .unexpected(value, expected: "a string") }
        self = buffer
    }
}

extension String: RESPValueDecodable {
    /// The UTF-8 text of a simple or bulk string, or an integer's digits.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        switch value {
        case .simpleString, .bulkString(.some), .integer: self = value.string!
        default: throw .unexpected(value, expected: "a string")
        }
    }
}

extension Array: RESPValueDecodable where Element: RESPValueDecodable {
    /// The elements of an array, each decoded; `[UInt8]` instead reads the bytes of a string.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        if Element.self == UInt8.self {
            guard let buffer = value.buffer else { throw .unexpected(value, expected: "a string") }
            self = Array<UInt8>(buffer: buffer) as! [Element]
            return
        }
        guard let values = value.array else { throw .unexpected(value, expected: "an array") }
        var result: [Element] = []
        result.reserveCapacity(values.count)
        for element in values { result.append(try Element(fromRESP: element)) }
        self = result
    }
}

extension UInt8: RESPValueDecodable {
    /// An integer reply in 0...255 (present so that `[UInt8]` can read a string's bytes).
    public init(fromRESP value: RESPValue) throws(RedisError) {
        guard case .integer(let number) = value, let byte = UInt8(exactly: number) else {
            throw .unexpected(value, expected: "a byte")
        }
        self = byte
    }
}

extension Int: RESPValueDecodable {
    /// An integer reply, or a string holding a decimal integer.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        guard let number = value.int else { throw .unexpected(value, expected: "an integer") }
        self = number
    }
}

extension Int64: RESPValueDecodable {
    /// An integer reply, or a string holding a decimal integer.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        guard let number = value.int else { throw .unexpected(value, expected: "an integer") }
        self = Int64(number)
    }
}

extension Bool: RESPValueDecodable {
    /// An integer reply: 0 is `false`, anything else `true`; `+OK` is `true`, a null reply `false`.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        switch value {
        case .integer(let number): self = number != 0
        case .simpleString: self = true
        case .bulkString(nil), .array(nil): self = false
        default: throw .unexpected(value, expected: "an integer")
        }
    }
}

extension Optional: RESPValueDecodable where Wrapped: RESPValueDecodable {
    /// `nil` for a null bulk string or null array, the decoded value otherwise.
    public init(fromRESP value: RESPValue) throws(RedisError) {
        if value.isNull { self = nil } else { self = try Wrapped(fromRESP: value) }
    }
}
