import NIOCore

/// A value in an AMQP field table or field array, with every type RabbitMQ reads and writes.
///
/// RabbitMQ's type tags (its errata to AMQP 0-9-1): `t` bool, `b` int8, `B` uint8, `s` int16, `u` uint16, `I` int32,
/// `i` uint32, `l` int64, `f` float, `d` double, `D` decimal, `S` long string, `A` array, `T` timestamp, `F` table,
/// `V` void, `x` byte array. Literals make arguments short: `["x-message-ttl": 60_000, "x-queue-type": "quorum"]`
/// (an integer literal is an `l` int64, which RabbitMQ accepts for every numeric argument).
public enum AMQPFieldValue: Sendable, Hashable {
    /// `t`: a boolean.
    case bool(Bool)
    /// `b`: a signed 8-bit integer.
    case int8(Int8)
    /// `B`: an unsigned 8-bit integer.
    case uint8(UInt8)
    /// `s`: a signed 16-bit integer.
    case int16(Int16)
    /// `u`: an unsigned 16-bit integer.
    case uint16(UInt16)
    /// `I`: a signed 32-bit integer.
    case int32(Int32)
    /// `i`: an unsigned 32-bit integer.
    case uint32(UInt32)
    /// `l`: a signed 64-bit integer.
    case int64(Int64)
    /// `f`: a 32-bit float.
    case float(Float)
    /// `d`: a 64-bit double.
    case double(Double)
    /// `D`: a decimal: `value` × 10^-`scale`.
    case decimal(scale: UInt8, value: UInt32)
    /// `S`: a long string (UTF-8; invalid UTF-8 received is repaired with replacement characters).
    case string(String)
    /// `A`: an array of values.
    case array([AMQPFieldValue])
    /// `T`: a timestamp in seconds since the Unix epoch.
    case timestamp(UInt64)
    /// `F`: a nested table.
    case table(AMQPFieldTable)
    /// `V`: no value.
    case void
    /// `x`: raw bytes.
    case bytes([UInt8])
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral
{
    /// A `S` long string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An `l` signed 64-bit integer.
    public init(integerLiteral value: Int64) { self = .int64(value) }
    /// A `t` boolean.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A `d` double.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// An `A` array.
    public init(arrayLiteral elements: AMQPFieldValue...) { self = .array(elements) }
}

extension AMQPFieldValue {
    /// The value as a string, when it is a long string (`S`) or bytes (`x`) holding UTF-8.
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .bytes(let value): String(decoding: value, as: UTF8.self)
        default: nil
        }
    }

    /// The value as an `Int64`, when it is any integer type (or a timestamp) that fits.
    public var int64Value: Int64? {
        switch self {
        case .int8(let v): Int64(v)
        case .uint8(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int64(let v): v
        case .timestamp(let v): Int64(exactly: v)
        default: nil
        }
    }

    /// The value as a table, when it is one.
    public var tableValue: AMQPFieldTable? {
        if case .table(let table) = self { return table }
        return nil
    }

    /// The value as an array, when it is one.
    public var arrayValue: [AMQPFieldValue]? {
        if case .array(let array) = self { return array }
        return nil
    }
}
