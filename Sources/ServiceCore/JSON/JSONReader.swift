// A small, strict, allocation-light JSON reader (RFC 8259) over UTF-8 bytes.
//
// Design notes:
// - The parser is iterative (explicit stacks instead of recursion), so even a
//   very large `maxDepth` can never exhaust the thread's stack.
// - Numbers are kept as their exact source text (`JSONValue.number`), so money
//   and identifiers never pass through `Double`.
// - Every malformed input throws `JSONReadError`; nothing traps.

/// The kind of a `JSONValue`, without its payload.
public enum JSONValueKind: Sendable {
    /// A JSON object (`{...}`).
    case object
    /// A JSON array (`[...]`).
    case array
    /// A JSON string.
    case string
    /// A JSON number.
    case number
    /// `true` or `false`.
    case bool
    /// `null`.
    case null
}

/// An error thrown by `JSONReader` for malformed input.
///
/// `message` says what was expected (for example `"expected ':' after object key"`),
/// and `offset` is the zero-based byte offset in the input where the problem was found.
public struct JSONReadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A human-readable explanation that names what was expected.
    public var message: String
    /// The zero-based byte offset in the input at which the error was detected.
    /// For `ArraySlice` input the offset is relative to the slice's first byte.
    public var offset: Int

    /// Creates an error with the given message and byte offset.
    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// The message followed by the byte offset, e.g. `"expected a value at byte offset 3"`.
    public var description: String { "\(message) at byte offset \(offset)" }
}

/// A parsed JSON value that keeps numbers as their exact source text.
///
/// Object members keep their source order and duplicates are preserved;
/// the `subscript(key:)` lookup returns the *last* member with a given key,
/// matching the behaviour of most JSON decoders.
public enum JSONValue: Sendable, Equatable {
    /// An object's members in source order (duplicate keys are kept).
    case object([(key: String, value: JSONValue)])
    /// An array's elements in order.
    case array([JSONValue])
    /// A string with all escapes decoded.
    case string(String)
    /// The exact text of the number as it appeared in the input, e.g. `"99.90"` or `"-1e3"`.
    case number(String)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null

    /// The kind of this value.
    public var kind: JSONValueKind {
        switch self {
        case .object: return .object
        case .array: return .array
        case .string: return .string
        case .number: return .number
        case .bool: return .bool
        case .null: return .null
        }
    }

    /// For objects, the value of the **last** member named `key` (duplicate keys: last wins);
    /// `nil` if there is no such member or if this value is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        var index = members.endIndex
        while index > members.startIndex {
            index -= 1
            if members[index].key == key { return members[index].value }
        }
        return nil
    }

    /// The decoded string if this is `.string`, otherwise `nil`.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The exact number text if this is `.number`, otherwise `nil`.
    public var numberText: String? {
        if case .number(let text) = self { return text }
        return nil
    }

    /// The value if this is a number written as a plain integer (`-?[0-9]+`, no fraction
    /// or exponent) that fits in `Int`; otherwise `nil`. Never traps.
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        var utf8 = text.utf8.makeIterator()
        guard var byte = utf8.next() else { return nil }
        let negative = byte == UInt8(ascii: "-")
        if negative {
            guard let next = utf8.next() else { return nil }
            byte = next
        }
        // Accumulate negatively so that Int.min is representable.
        var result = 0
        while true {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int(byte &- UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            result = next
            guard let following = utf8.next() else { break }
            byte = following
        }
        if negative { return result }
        return result == Int.min ? nil : -result
    }

    /// The value if this is `.bool`, otherwise `nil`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements if this is `.array`, otherwise `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The members in source order if this is `.object`, otherwise `nil`.
    public var objectMembers: [(key: String, value: JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// `true` if this is `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Structural equality. Objects compare member by member **in order** (including duplicates);
    /// numbers compare by their exact text, so `1.0` and `1` are *not* equal.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for index in a.indices where a[index].key != b[index].key || a[index].value != b[index].value {
                return false
            }
            return true
        case (.array(let a), .array(let b)):
            return a == b
        case (.string(let a), .string(let b)):
            return a == b
        case (.number(let a), .number(let b)):
            return a == b
        case (.bool(let a), .bool(let b)):
            return a == b
        case (.null, .null):
            return true
        default:
            return false
        }
    }
}

/// A strict RFC 8259 JSON reader over UTF-8 bytes.
public enum JSONReader {
    /// The default maximum nesting depth of objects and arrays.
    public static let defaultMaxDepth = 32

    /// Parses one complete JSON document (RFC 8259).
    ///
    /// - Leading and trailing whitespace (space, tab, LF, CR) is allowed; any other trailing byte is an error.
    ///   A byte-order mark is not accepted.
    /// - Containers may nest at most `maxDepth` levels (a top-level `[]` is depth 1; scalars are depth 0).
    ///   Parsing itself is iterative, but comparing, writing and releasing a `JSONValue` recurse over
    ///   its nesting, so keep `maxDepth` modest (the default is 32) for untrusted input.
    /// - Strings must be valid UTF-8 with no raw control characters (< 0x20); escapes, including
    ///   `\uXXXX` and surrogate pairs, are decoded; lone surrogates are rejected.
    /// - Numbers must follow the RFC grammar (no leading zeros, no `+`, no bare `.`) and are kept as text.
    /// - Duplicate object keys are allowed and preserved.
    ///
    /// - Throws: `JSONReadError` describing what was expected and the byte offset.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONReadError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONReadError) -> JSONValue in
            var parser = JSONParser(buffer: buffer, maxDepth: maxDepth)
            return try parser.parseDocument()
        }
    }

    /// Parses one complete JSON document from a slice of bytes; error offsets are relative to the slice start.
    /// See `parse(_:maxDepth:)` for the accepted grammar.
    public static func parse(_ bytes: ArraySlice<UInt8>, maxDepth: Int = defaultMaxDepth) throws(JSONReadError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONReadError) -> JSONValue in
            var parser = JSONParser(buffer: buffer, maxDepth: maxDepth)
            return try parser.parseDocument()
        }
    }

    /// Parses one complete JSON document from the UTF-8 contents of `text`.
    /// See `parse(_:maxDepth:)` for the accepted grammar.
    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONReadError) -> JSONValue {
        var text = text
        // `String.withUTF8` is `rethrows` (untyped), so carry the typed error out in a `Result`.
        let result = text.withUTF8 { buffer -> Result<JSONValue, JSONReadError> in
            var parser = JSONParser(buffer: buffer, maxDepth: maxDepth)
            do throws(JSONReadError) {
                return .success(try parser.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

// MARK: - JSONParser

private enum JSONByte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let lowerE = UInt8(ascii: "e")
    static let upperE = UInt8(ascii: "E")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
}

/// One open container on the parser's explicit stack.
private struct JSONParseFrame {
    var isObject: Bool
    /// Index into `JSONParser.values` where this container's elements start.
    var valuesStart: Int
    /// Index into `JSONParser.keys` where this object's keys start.
    var keysStart: Int
}

private struct JSONParser {
    let buffer: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0
    var frames: [JSONParseFrame] = []
    var values: [JSONValue] = []
    var keys: [String] = []
    /// Reused scratch space for strings that contain escapes.
    var scratch: [UInt8] = []

    init(buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buffer = buffer
        self.maxDepth = maxDepth
    }

    // MARK: Helpers

    @inline(__always)
    func error(_ message: String, at offset: Int? = nil) -> JSONReadError {
        JSONReadError(message: message, offset: offset ?? index)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < buffer.count {
            switch buffer[index] {
            case JSONByte.space, JSONByte.tab, JSONByte.lineFeed, JSONByte.carriageReturn:
                index += 1
            default:
                return
            }
        }
    }

    /// The byte at the current position, or `nil` at end of input.
    @inline(__always)
    func peek() -> UInt8? {
        index < buffer.count ? buffer[index] : nil
    }

    // MARK: Document

    mutating func parseDocument() throws(JSONReadError) -> JSONValue {
        let value = try parseValues()
        skipWhitespace()
        if index < buffer.count {
            throw error("expected end of input after the JSON document")
        }
        return value
    }

    /// Parses one value (of any nesting) iteratively.
    mutating func parseValues() throws(JSONReadError) -> JSONValue {
        while true {
            // State: expecting a value.
            skipWhitespace()
            guard let byte = peek() else {
                throw error("unexpected end of input, expected a JSON value")
            }
            var completed: JSONValue
            switch byte {
            case JSONByte.openBrace, JSONByte.openBracket:
                let isObject = byte == JSONByte.openBrace
                if frames.count >= maxDepth {
                    throw error("nesting depth exceeds the limit of \(maxDepth)")
                }
                index += 1
                skipWhitespace()
                if peek() == (isObject ? JSONByte.closeBrace : JSONByte.closeBracket) {
                    index += 1
                    completed = isObject ? .object([]) : .array([])
                } else {
                    frames.append(JSONParseFrame(isObject: isObject, valuesStart: values.count, keysStart: keys.count))
                    if isObject {
                        try parseKeyAndColon(afterComma: false)
                    }
                    continue
                }
            case JSONByte.quote:
                completed = .string(try parseString())
            case JSONByte.minus, JSONByte.zero...JSONByte.nine:
                completed = .number(try parseNumber())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                completed = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                completed = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                completed = .null
            default:
                throw error("expected a JSON value (object, array, string, number, true, false or null)")
            }

            // State: a value was completed; attach it to the enclosing container(s).
            while true {
                guard let frame = frames.last else { return completed }
                values.append(completed)
                skipWhitespace()
                guard let next = peek() else {
                    throw error(frame.isObject
                        ? "unexpected end of input, expected ',' or '}' after object member"
                        : "unexpected end of input, expected ',' or ']' after array element")
                }
                if next == JSONByte.comma {
                    index += 1
                    if frame.isObject {
                        try parseKeyAndColon(afterComma: true)
                    }
                    break // expect the next value
                }
                if frame.isObject {
                    guard next == JSONByte.closeBrace else {
                        throw error("expected ',' or '}' after object member")
                    }
                    index += 1
                    var members: [(key: String, value: JSONValue)] = []
                    members.reserveCapacity(values.count - frame.valuesStart)
                    var keyIndex = frame.keysStart
                    for valueIndex in frame.valuesStart..<values.count {
                        members.append((key: keys[keyIndex], value: values[valueIndex]))
                        keyIndex += 1
                    }
                    values.removeSubrange(frame.valuesStart...)
                    keys.removeSubrange(frame.keysStart...)
                    completed = .object(members)
                } else {
                    guard next == JSONByte.closeBracket else {
                        throw error("expected ',' or ']' after array element")
                    }
                    index += 1
                    let elements = Array(values[frame.valuesStart...])
                    values.removeSubrange(frame.valuesStart...)
                    completed = .array(elements)
                }
                frames.removeLast()
            }
        }
    }

    /// Parses `"key"` followed by `:` and pushes the key.
    mutating func parseKeyAndColon(afterComma: Bool) throws(JSONReadError) {
        skipWhitespace()
        guard let byte = peek() else {
            throw error("unexpected end of input, expected a string object key")
        }
        guard byte == JSONByte.quote else {
            throw error(afterComma
                ? "expected a string object key after ',' (trailing commas are not allowed)"
                : "expected a string object key or '}'")
        }
        let key = try parseString()
        skipWhitespace()
        guard peek() == JSONByte.colon else {
            throw error("expected ':' after object key")
        }
        index += 1
        keys.append(key)
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONReadError) {
        let start = index
        let count = literal.utf8CodeUnitCount
        let expected = literal.utf8Start
        for offset in 0..<count {
            guard start + offset < buffer.count, buffer[start + offset] == expected[offset] else {
                throw error("invalid literal, expected '\(literal)'", at: start)
            }
        }
        index = start + count
    }

    // MARK: Numbers

    /// Validates a number against the RFC 8259 grammar and returns its exact text.
    mutating func parseNumber() throws(JSONReadError) -> String {
        let start = index
        if buffer[index] == JSONByte.minus {
            index += 1
        }
        guard let first = peek(), first >= JSONByte.zero, first <= JSONByte.nine else {
            throw error("expected a digit after '-'")
        }
        index += 1
        if first == JSONByte.zero {
            if let next = peek(), next >= JSONByte.zero, next <= JSONByte.nine {
                throw error("leading zeros are not allowed in numbers")
            }
        } else {
            skipDigits()
        }
        if peek() == JSONByte.dot {
            index += 1
            guard let digit = peek(), digit >= JSONByte.zero, digit <= JSONByte.nine else {
                throw error("expected a digit after '.' in number")
            }
            skipDigits()
        }
        if let exponent = peek(), exponent == JSONByte.lowerE || exponent == JSONByte.upperE {
            index += 1
            if let sign = peek(), sign == JSONByte.plus || sign == JSONByte.minus {
                index += 1
            }
            guard let digit = peek(), digit >= JSONByte.zero, digit <= JSONByte.nine else {
                throw error("expected a digit in number exponent")
            }
            skipDigits()
        }
        return String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
    }

    @inline(__always)
    mutating func skipDigits() {
        while index < buffer.count, buffer[index] >= JSONByte.zero, buffer[index] <= JSONByte.nine {
            index += 1
        }
    }

    // MARK: Strings

    /// Parses a string starting at the opening quote and returns its decoded contents.
    mutating func parseString() throws(JSONReadError) -> String {
        index += 1 // opening quote
        let start = index
        // Fast path: printable JSONByte without escapes.
        while index < buffer.count {
            let byte = buffer[index]
            if byte == JSONByte.quote {
                let result = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
                index += 1
                return result
            }
            if byte == JSONByte.backslash || byte < 0x20 || byte >= 0x80 {
                break
            }
            index += 1
        }
        return try parseStringSlow(start: start)
    }

    /// Handles escapes, non-JSONByte UTF-8 (validated) and errors. `index` is at the first byte
    /// that the fast path could not handle; `start` is the first content byte.
    mutating func parseStringSlow(start: Int) throws(JSONReadError) -> String {
        scratch.removeAll(keepingCapacity: true)
        var runStart = start
        var hasEscapes = false
        while true {
            guard index < buffer.count else {
                throw error("unexpected end of input, expected '\"' to close the string")
            }
            let byte = buffer[index]
            switch byte {
            case JSONByte.quote:
                let result: String
                if hasEscapes {
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<index]))
                    result = String(decoding: scratch, as: UTF8.self)
                } else {
                    // Already validated UTF-8: decoding cannot substitute anything.
                    result = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
                }
                index += 1
                return result
            case JSONByte.backslash:
                hasEscapes = true
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<index]))
                try parseEscape()
                runStart = index
            case 0..<0x20:
                throw error("control characters must be escaped in strings (expected '\\u00XX')")
            case 0x20..<0x80:
                index += 1
            default:
                try validateUTF8Sequence()
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `index` (Unicode Table 3-7) and advances past it.
    mutating func validateUTF8Sequence() throws(JSONReadError) {
        let lead = buffer[index]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default:
            throw error("invalid UTF-8 lead byte in string")
        }
        guard index + length <= buffer.count else {
            throw error("truncated UTF-8 sequence in string")
        }
        let second = buffer[index + 1]
        guard second >= lower, second <= upper else {
            throw error("invalid UTF-8 continuation byte in string", at: index + 1)
        }
        var offset = 2
        while offset < length {
            let continuation = buffer[index + offset]
            guard continuation & 0xC0 == 0x80 else {
                throw error("invalid UTF-8 continuation byte in string", at: index + offset)
            }
            offset += 1
        }
        index += length
    }

    /// Decodes one escape sequence starting at the backslash, appending its UTF-8 to `scratch`.
    mutating func parseEscape() throws(JSONReadError) {
        let escapeStart = index
        index += 1
        guard let byte = peek() else {
            throw error("unexpected end of input, expected an escape character after '\\'")
        }
        index += 1
        switch byte {
        case JSONByte.quote: scratch.append(JSONByte.quote)
        case JSONByte.backslash: scratch.append(JSONByte.backslash)
        case JSONByte.slash: scratch.append(JSONByte.slash)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            var scalar = UInt32(unit)
            if (0xD800...0xDBFF).contains(unit) {
                guard index + 1 < buffer.count,
                      buffer[index] == JSONByte.backslash,
                      buffer[index + 1] == UInt8(ascii: "u")
                else {
                    throw error("lone high surrogate, expected '\\u' followed by a low surrogate (DC00-DFFF)", at: escapeStart)
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw error("expected a low surrogate (DC00-DFFF) after a high surrogate", at: index - 6)
                }
                scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(unit) {
                throw error("lone low surrogate, expected a high surrogate (D800-DBFF) before it", at: escapeStart)
            }
            appendUTF8(scalar)
        default:
            throw error("invalid escape, expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX", at: escapeStart)
        }
    }

    /// Parses exactly four hex digits at `index`.
    mutating func parseHex4() throws(JSONReadError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = peek() else {
                throw error("unexpected end of input, expected 4 hex digits after '\\u'")
            }
            let digit: UInt8
            switch byte {
            case JSONByte.zero...JSONByte.nine: digit = byte - JSONByte.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("expected a hex digit in '\\u' escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// Appends the UTF-8 encoding of a valid (non-surrogate) scalar value.
    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(truncatingIfNeeded: scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(truncatingIfNeeded: 0xC0 | (scalar >> 6)))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(truncatingIfNeeded: 0xE0 | (scalar >> 12)))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(truncatingIfNeeded: 0xF0 | (scalar >> 18)))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | (scalar & 0x3F)))
        }
    }
}
