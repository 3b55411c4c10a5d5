import NIOCore

/// A Swift type that converts to and from ``MySQLData``, so ``MySQLRow/decode(_:column:)`` can return it.
///
/// Conversions are exact: an integer that does not fit, or text that is not a number, gives `nil` (a decoding
/// error), never a truncated value.
public protocol MySQLDataConvertible: Sendable {
    /// Converts from a row value; `nil` when the value does not fit this type.
    init?(mySQLData: MySQLData)
    /// The value as a statement parameter.
    var mySQLData: MySQLData { get }
}

extension MySQLData: MySQLDataConvertible {
    /// The value itself.
    public init?(mySQLData: MySQLData) { self = mySQLData }
    /// The value itself.
    public var mySQLData: MySQLData { self }
}

extension Optional: MySQLDataConvertible where Wrapped: MySQLDataConvertible {
    /// `nil` for SQL `NULL`, else the wrapped conversion.
    public init?(mySQLData: MySQLData) {
        if mySQLData == .null {
            self = .none
        } else if let value = Wrapped(mySQLData: mySQLData) {
            self = .some(value)
        } else {
            return nil
        }
    }
    /// ``MySQLData/null`` for `nil`.
    public var mySQLData: MySQLData { self?.mySQLData ?? .null }
}

extension FixedWidthInteger where Self: MySQLDataConvertible {
    /// Shared exact integer conversion.
    static func exact(from data: MySQLData) -> Self? {
        switch data {
        case .int(let value): Self(exactly: value)
        case .uint(let value): Self(exactly: value)
        case .decimal(let text), .string(let text): Self(text)
        case .double(let value): Self(exactly: value)
        default: nil
        }
    }
}

extension Int: MySQLDataConvertible {
    /// Exact conversion from integers, integral doubles and numeric text.
    public init?(mySQLData: MySQLData) {
        guard let value = Self.exact(from: mySQLData) else { return nil }
        self = value
    }
    /// ``MySQLData/int(_:)``.
    public var mySQLData: MySQLData { .int(Int64(self)) }
}

extension Int64: MySQLDataConvertible {
    /// Exact conversion from integers, integral doubles and numeric text.
    public init?(mySQLData: MySQLData) {
        guard let value = Self.exact(from: mySQLData) else { return nil }
        self = value
    }
    /// ``MySQLData/int(_:)``.
    public var mySQLData: MySQLData { .int(self) }
}

extension Int32: MySQLDataConvertible {
    /// Exact conversion from integers, integral doubles and numeric text.
    public init?(mySQLData: MySQLData) {
        guard let value = Self.exact(from: mySQLData) else { return nil }
        self = value
    }
    /// ``MySQLData/int(_:)``.
    public var mySQLData: MySQLData { .int(Int64(self)) }
}

extension UInt64: MySQLDataConvertible {
    /// Exact conversion from integers, integral doubles and numeric text.
    public init?(mySQLData: MySQLData) {
        guard let value = Self.exact(from: mySQLData) else { return nil }
        self = value
    }
    /// ``MySQLData/uint(_:)``.
    public var mySQLData: MySQLData { .uint(self) }
}

extension Bool: MySQLDataConvertible {
    /// `true` for non-zero integers.
    public init?(mySQLData: MySQLData) {
        switch mySQLData {
        case .int(let value): self = value != 0
        case .uint(let value): self = value != 0
        default: return nil
        }
    }
    /// 1 or 0.
    public var mySQLData: MySQLData { .int(self ? 1 : 0) }
}

extension Double: MySQLDataConvertible {
    /// From doubles, integers and numeric or decimal text.
    public init?(mySQLData: MySQLData) {
        switch mySQLData {
        case .double(let value): self = value
        case .int(let value): self = Double(value)
        case .uint(let value): self = Double(value)
        case .decimal(let text), .string(let text):
            guard let value = Double(text) else { return nil }
            self = value
        default: return nil
        }
    }
    /// ``MySQLData/double(_:)``.
    public var mySQLData: MySQLData { .double(self) }
}

extension String: MySQLDataConvertible {
    /// Text, decimal text, numbers and date-times in their text form, and bytes that are valid UTF-8.
    public init?(mySQLData: MySQLData) {
        switch mySQLData {
        case .string(let text), .decimal(let text): self = text
        case .int(let value): self = String(value)
        case .uint(let value): self = String(value)
        case .double(let value): self = String(value)
        case .dateTime(let value): self = value.description
        case .bytes(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
            self = text
        case .null: return nil
        }
    }
    /// ``MySQLData/string(_:)``.
    public var mySQLData: MySQLData { .string(self) }
}

extension Array: MySQLDataConvertible where Element == UInt8 {
    /// Bytes, or the UTF-8 of text.
    public init?(mySQLData: MySQLData) {
        switch mySQLData {
        case .bytes(let bytes): self = bytes
        case .string(let text), .decimal(let text): self = Array(text.utf8)
        default: return nil
        }
    }
    /// ``MySQLData/bytes(_:)``.
    public var mySQLData: MySQLData { .bytes(self) }
}

extension ByteBuffer: MySQLDataConvertible {
    /// Bytes, or the UTF-8 of text.
    public init?(mySQLData: MySQLData) {
        guard let bytes = [UInt8](mySQLData: mySQLData) else { return nil }
        self = ByteBuffer(bytes: bytes)
    }
    /// ``MySQLData/bytes(_:)``.
    public var mySQLData: MySQLData { .bytes(Array(self.readableBytesView)) }
}

extension MySQLDateTime: MySQLDataConvertible {
    /// From date-times, or text in MySQL's date-time form.
    public init?(mySQLData: MySQLData) {
        switch mySQLData {
        case .dateTime(let value): self = value
        case .string(let text):
            guard let value = MySQLDateTime(mySQLText: text) else { return nil }
            self = value
        default: return nil
        }
    }
    /// ``MySQLData/dateTime(_:)``.
    public var mySQLData: MySQLData { .dateTime(self) }
}
