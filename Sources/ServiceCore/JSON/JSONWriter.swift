// A compact, streaming JSON writer that appends UTF-8 bytes to a buffer.

/// Appends compact JSON (no whitespace) to a byte buffer without intermediate dictionaries.
///
/// Commas between object members and array elements are inserted automatically:
///
/// ```swift
/// var writer = JSONWriter()
/// writer.beginObject()
/// writer.key("id"); writer.string("A-1")
/// writer.key("items"); writer.beginArray(); writer.int(1); writer.int(2); writer.endArray()
/// writer.endObject()
/// // writer.bytes == Array(#"{"id":"A-1","items":[1,2]}"#.utf8)
/// ```
///
/// The writer does not check that calls are balanced or that every object value is
/// preceded by `key(_:)`; callers are responsible for producing a well-formed sequence.
public struct JSONWriter: Sendable {
    /// The JSON written so far, as UTF-8.
    public private(set) var bytes: [UInt8]

    /// Whether the next member/element in the current container must be preceded by a comma.
    ///
    /// No stack is needed: opening a container is itself a value in its parent, which
    /// always leaves the parent's flag `true`, so closing a container simply restores `true`.
    private var needsComma = false
    /// Set by `key(_:)`: the next value belongs to that key and takes no comma.
    private var afterKey = false

    /// Creates an empty writer whose buffer reserves `capacity` bytes.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(max(0, capacity))
    }

    /// The JSON written so far, decoded as a `String`.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Clears the output (keeping its capacity) so the writer can be reused.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
        afterKey = false
    }

    // MARK: Containers

    /// Writes `{` (preceded by a comma if needed).
    public mutating func beginObject() {
        beforeValue()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    /// Writes `}`.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
        afterKey = false
    }

    /// Writes `[` (preceded by a comma if needed).
    public mutating func beginArray() {
        beforeValue()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    /// Writes `]`.
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
        afterKey = false
    }

    // MARK: Keys and values

    /// Writes an object key: a comma if needed, the quoted and escaped `name`, and `:`.
    public mutating func key(_ name: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// Writes a string value, escaped per RFC 8259: `"` and `\` are backslash-escaped, control
    /// characters (U+0000–U+001F) use `\b \f \n \r \t` or `\u00XX`; everything else, including
    /// non-ASCII text and U+2028/U+2029, is written as raw UTF-8.
    public mutating func string(_ value: String) {
        beforeValue()
        appendQuoted(value)
    }

    /// Writes an integer value in decimal.
    public mutating func int(_ value: Int) {
        int(Int64(value))
    }

    /// Writes a 64-bit integer value in decimal.
    public mutating func int(_ value: Int64) {
        beforeValue()
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var position = digits.count
            repeat {
                position -= 1
                digits[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[position...]))
        }
    }

    /// Writes `text` verbatim as a number. The caller guarantees it is valid JSON number text
    /// (for example `Money.description` or a number kept from `JSONValue.number`).
    public mutating func rawNumber(_ text: String) {
        beforeValue()
        bytes.append(contentsOf: text.utf8)
    }

    /// Writes `true` or `false`.
    public mutating func bool(_ value: Bool) {
        beforeValue()
        if value {
            bytes.append(contentsOf: "true".utf8)
        } else {
            bytes.append(contentsOf: "false".utf8)
        }
    }

    /// Writes `null`.
    public mutating func null() {
        beforeValue()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Writes an already-encoded JSON value verbatim (e.g. cached JSON), with a comma if needed.
    /// The caller guarantees `json` is exactly one valid JSON value.
    public mutating func raw(_ json: [UInt8]) {
        beforeValue()
        bytes.append(contentsOf: json)
    }

    /// Writes a parsed `JSONValue` compactly (numbers keep their exact text, member order is kept).
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .object(let members):
            beginObject()
            for member in members {
                key(member.key)
                self.value(member.value)
            }
            endObject()
        case .array(let elements):
            beginArray()
            for element in elements {
                self.value(element)
            }
            endArray()
        case .string(let text):
            string(text)
        case .number(let text):
            rawNumber(text)
        case .bool(let flag):
            bool(flag)
        case .null:
            null()
        }
    }

    // MARK: Convenience fields

    /// Writes `key` followed by a string value.
    public mutating func field(_ key: String, _ value: String) {
        self.key(key)
        string(value)
    }

    /// Writes `key` followed by an integer value.
    public mutating func field(_ key: String, _ value: Int) {
        self.key(key)
        int(value)
    }

    /// Writes `key` followed by a 64-bit integer value.
    public mutating func field(_ key: String, _ value: Int64) {
        self.key(key)
        int(value)
    }

    /// Writes `key` followed by a boolean value.
    public mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        bool(value)
    }

    /// Writes `key` followed by verbatim number text (see `rawNumber(_:)`).
    public mutating func field(_ key: String, rawNumber text: String) {
        self.key(key)
        rawNumber(text)
    }

    // MARK: Private

    @inline(__always)
    private mutating func beforeValue() {
        if afterKey {
            afterKey = false
            return
        }
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    @inline(__always)
    private mutating func appendEscape(_ character: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(character)
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    /// Appends `"value"` with RFC 8259 escaping, bulk-copying runs that need no escape.
    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            var index = 0
            while index < utf8.count {
                let byte = utf8[index]
                if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                    index += 1
                    continue
                }
                if runStart < index {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                }
                switch byte {
                case UInt8(ascii: "\""): appendEscape(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): appendEscape(UInt8(ascii: "\\"))
                case 0x0A: appendEscape(UInt8(ascii: "n"))
                case 0x0D: appendEscape(UInt8(ascii: "r"))
                case 0x09: appendEscape(UInt8(ascii: "t"))
                case 0x08: appendEscape(UInt8(ascii: "b"))
                case 0x0C: appendEscape(UInt8(ascii: "f"))
                default:
                    // Remaining control characters: \u00XX with lowercase hex.
                    appendEscape(UInt8(ascii: "u"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(Self.hexDigit(byte >> 4))
                    bytes.append(Self.hexDigit(byte & 0x0F))
                }
                index += 1
                runStart = index
            }
            if runStart < utf8.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
