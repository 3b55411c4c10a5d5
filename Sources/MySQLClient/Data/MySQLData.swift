import NIOCore

/// A value sent as a statement parameter or read from a result row.
///
/// Text-protocol and binary-protocol rows decode to the same values: integers to ``int(_:)`` (or ``uint(_:)``
/// for `UNSIGNED` columns), `FLOAT`/`DOUBLE` to ``double(_:)``, `DECIMAL` to ``decimal(_:)`` as exact text,
/// `DATE`/`DATETIME`/`TIMESTAMP` to ``dateTime(_:)``, binary strings and blobs to ``bytes(_:)``, other strings
/// (including `TIME`, `JSON`, `ENUM`, `SET`) to ``string(_:)``, and SQL `NULL` to ``null``.
///
/// ```swift
/// try await client.query("INSERT INTO t (id, amount, at) VALUES (?, ?, ?)",
///                        [.string(id), .decimal("99.90"), .dateTime(.init(year: 2026, month: 11, day: 25))])
/// ```
/// Thread-safety: an immutable value; `Sendable`.
public enum MySQLData: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// SQL `NULL`.
    case null
    /// A signed integer (`TINYINT` to `BIGINT`, `YEAR`).
    case int(Int64)
    /// An unsigned integer (`... UNSIGNED`).
    case uint(UInt64)
    /// A floating-point number (`FLOAT`, `DOUBLE`).
    case double(Double)
    /// Text.
    case string(String)
    /// Raw bytes (`BLOB`, `BINARY`, `VARBINARY`, `BIT`).
    case bytes([UInt8])
    /// An exact decimal number as its text, e.g. `"99.90"` (`DECIMAL`, `NUMERIC`).
    case decimal(String)
    /// A date and time with microseconds (`DATE`, `DATETIME`, `TIMESTAMP`).
    case dateTime(MySQLDateTime)

    /// An `Int` parameter.
    public init(_ value: Int) { self = .int(Int64(value)) }
    /// An `Int64` parameter.
    public init(_ value: Int64) { self = .int(value) }
    /// A `UInt64` parameter.
    public init(_ value: UInt64) { self = .uint(value) }
    /// A `Double` parameter.
    public init(_ value: Double) { self = .double(value) }
    /// A `String` parameter.
    public init(_ value: String) { self = .string(value) }
    /// A `Bool` parameter (stored as 1 or 0).
    public init(_ value: Bool) { self = .int(value ? 1 : 0) }
    /// A bytes parameter.
    public init(_ value: [UInt8]) { self = .bytes(value) }
    /// A bytes parameter from a `ByteBuffer`.
    public init(_ value: ByteBuffer) { self = .bytes(Array(value.readableBytesView)) }
    /// A date-time parameter.
    public init(_ value: MySQLDateTime) { self = .dateTime(value) }
    /// An optional parameter: `nil` becomes ``null``.
    public init(_ value: MySQLData?) { self = value ?? .null }

    /// Whether the value is SQL `NULL`.
    public var isNull: Bool { self == .null }

    /// A readable form for logs; bytes are summarised, never dumped.
    public var description: String {
        switch self {
        case .null: "NULL"
        case .int(let value): String(value)
        case .uint(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): "'\(value)'"
        case .bytes(let value): "<\(value.count) bytes>"
        case .decimal(let value): value
        case .dateTime(let value): "'\(value)'"
        }
    }
}

// MARK: - Wire formats

extension MySQLData {
    /// The binary-protocol parameter type and its unsigned flag (`COM_STMT_EXECUTE`).
    var binaryParameterType: (type: MySQLType, unsigned: Bool) {
        switch self {
        case .null: (.null, false)
        case .int: (.longlong, false)
        case .uint: (.longlong, true)
        case .double: (.double, false)
        case .string: (.varString, false)
        case .bytes: (.blob, false)
        case .decimal: (.newDecimal, false)
        case .dateTime: (.datetime, false)
        }
    }

    /// About how many bytes ``writeBinaryValue(into:)`` writes (exact but for the length prefix of long values).
    var binaryLengthEstimate: Int {
        switch self {
        case .null: 0
        case .int, .uint, .double: 8
        case .string(let value), .decimal(let value): 9 + value.utf8.count
        case .bytes(let value): 9 + value.count
        case .dateTime: 12
        }
    }

    /// Writes the binary-protocol value (nothing for `NULL`, which lives in the NULL bitmap).
    func writeBinaryValue(into buffer: inout ByteBuffer) {
        switch self {
        case .null: break
        case .int(let value): buffer.writeInteger(value, endianness: .little)
        case .uint(let value): buffer.writeInteger(value, endianness: .little)
        case .double(let value): buffer.writeInteger(value.bitPattern, endianness: .little)
        case .string(let value), .decimal(let value):
            // Straight from the string's UTF-8, without an intermediate array.
            buffer.writeLengthEncodedInteger(UInt64(value.utf8.count))
            buffer.writeString(value)
        case .bytes(let value): buffer.writeLengthEncodedBytes(value)
        case .dateTime(let value):
            buffer.writeInteger(UInt8(11))
            buffer.writeInteger(UInt16(truncatingIfNeeded: value.year), endianness: .little)
            buffer.writeInteger(UInt8(truncatingIfNeeded: value.month))
            buffer.writeInteger(UInt8(truncatingIfNeeded: value.day))
            buffer.writeInteger(UInt8(truncatingIfNeeded: value.hour))
            buffer.writeInteger(UInt8(truncatingIfNeeded: value.minute))
            buffer.writeInteger(UInt8(truncatingIfNeeded: value.second))
            buffer.writeInteger(UInt32(truncatingIfNeeded: value.microsecond), endianness: .little)
        }
    }

    /// Decodes a text-protocol cell (`nil` slice = NULL) for `column`.
    init(textValue: ByteBuffer?, column: MySQLColumn) throws {
        guard var slice = textValue else {
            self = .null
            return
        }
        func bad() -> MySQLError {
            MySQLError(code: .protocolError, message: "malformed \(column.type) value in column \(column.name)")
        }
        switch column.type {
        case .tiny, .short, .long, .int24, .longlong, .year:
            let text = slice.readString(length: slice.readableBytes) ?? ""
            // YEAR is flagged UNSIGNED but reads as a plain integer, as in the binary protocol.
            if column.isUnsigned && column.type != .year {
                guard let value = UInt64(text) else { throw bad() }
                self = .uint(value)
            } else {
                guard let value = Int64(text) else { throw bad() }
                self = .int(value)
            }
        case .float, .double:
            let text = slice.readString(length: slice.readableBytes) ?? ""
            guard let value = Double(text) else { throw bad() }
            self = .double(value)
        case .decimal, .newDecimal:
            self = .decimal(slice.readString(length: slice.readableBytes) ?? "")
        case .date, .datetime, .timestamp:
            let text = slice.readString(length: slice.readableBytes) ?? ""
            guard let value = MySQLDateTime(mySQLText: text) else { throw bad() }
            self = .dateTime(value)
        case .time:
            self = .string(slice.readString(length: slice.readableBytes) ?? "")
        case .bit, .geometry:
            self = .bytes(Array(slice.readableBytesView))
        default:
            if column.isBinary {
                self = .bytes(Array(slice.readableBytesView))
            } else {
                self = .string(slice.readString(length: slice.readableBytes) ?? "")
            }
        }
    }

    /// Decodes a binary-protocol value of `column` from `buffer`.
    init(binaryFrom buffer: inout ByteBuffer, column: MySQLColumn) throws {
        func bad() -> MySQLError {
            MySQLError(code: .protocolError, message: "malformed binary \(column.type) value in column \(column.name)")
        }
        let unsigned = column.isUnsigned
        switch column.type {
        case .tiny:
            guard let raw = buffer.readInteger(as: UInt8.self) else { throw bad() }
            self = unsigned ? .uint(UInt64(raw)) : .int(Int64(Int8(bitPattern: raw)))
        case .short, .year:
            guard let raw = buffer.readInteger(endianness: .little, as: UInt16.self) else { throw bad() }
            if column.type == .year {
                self = .int(Int64(raw))
            } else {
                self = unsigned ? .uint(UInt64(raw)) : .int(Int64(Int16(bitPattern: raw)))
            }
        case .long, .int24:
            guard let raw = buffer.readInteger(endianness: .little, as: UInt32.self) else { throw bad() }
            self = unsigned ? .uint(UInt64(raw)) : .int(Int64(Int32(bitPattern: raw)))
        case .longlong:
            guard let raw = buffer.readInteger(endianness: .little, as: UInt64.self) else { throw bad() }
            self = unsigned ? .uint(raw) : .int(Int64(bitPattern: raw))
        case .float:
            guard let raw = buffer.readInteger(endianness: .little, as: UInt32.self) else { throw bad() }
            // Through the shortest text of the Float, so 1.1 reads back as 1.1 and not 1.100000023841858.
            self = .double(Double(String(Float(bitPattern: raw))) ?? Double(Float(bitPattern: raw)))
        case .double:
            guard let raw = buffer.readInteger(endianness: .little, as: UInt64.self) else { throw bad() }
            self = .double(Double(bitPattern: raw))
        case .date, .datetime, .timestamp:
            guard let length = buffer.readInteger(as: UInt8.self), [0, 4, 7, 11].contains(length) else {
                throw bad()
            }
            var value = MySQLDateTime(year: 0, month: 0, day: 0)
            if length >= 4 {
                guard let year = buffer.readInteger(endianness: .little, as: UInt16.self),
                    let month = buffer.readInteger(as: UInt8.self), let day = buffer.readInteger(as: UInt8.self)
                else { throw bad() }
                value.year = Int(year)
                value.month = Int(month)
                value.day = Int(day)
            }
            if length >= 7 {
                guard let hour = buffer.readInteger(as: UInt8.self), let minute = buffer.readInteger(as: UInt8.self),
                    let second = buffer.readInteger(as: UInt8.self)
                else { throw bad() }
                value.hour = Int(hour)
                value.minute = Int(minute)
                value.second = Int(second)
            }
            if length == 11 {
                guard let micro = buffer.readInteger(endianness: .little, as: UInt32.self) else { throw bad() }
                value.microsecond = Int(micro)
            }
            self = .dateTime(value)
        case .time:
            guard let length = buffer.readInteger(as: UInt8.self), [0, 8, 12].contains(length) else { throw bad() }
            guard length > 0 else {
                self = .string("00:00:00")
                return
            }
            guard let negative = buffer.readInteger(as: UInt8.self),
                let days = buffer.readInteger(endianness: .little, as: UInt32.self),
                let hour = buffer.readInteger(as: UInt8.self), let minute = buffer.readInteger(as: UInt8.self),
                let second = buffer.readInteger(as: UInt8.self)
            else { throw bad() }
            var micro: UInt32 = 0
            if length == 12 {
                guard let value = buffer.readInteger(endianness: .little, as: UInt32.self) else { throw bad() }
                micro = value
            }
            let hours = UInt64(days) * 24 + UInt64(hour)
            func two(_ value: UInt8) -> String { value < 10 ? "0\(value)" : "\(value)" }
            var text = (negative != 0 ? "-" : "") + (hours < 10 ? "0\(hours)" : "\(hours)")
            text += ":\(two(minute)):\(two(second))"
            if length == 12 {
                let digits = String(micro)
                text += "." + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
            }
            self = .string(text)
        case .null:
            self = .null
        default:
            guard let slice = buffer.readLengthEncodedSlice() else { throw bad() }
            self = try MySQLData(textValue: slice, column: column)
        }
    }
}
