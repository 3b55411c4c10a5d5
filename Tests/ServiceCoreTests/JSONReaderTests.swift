import XCTest
@testable import ServiceCore

final class JSONReaderTests: XCTestCase {
    // MARK: Helpers

    private func parse(_ text: String, maxDepth: Int = JSONReader.defaultMaxDepth) throws -> JSONValue {
        try JSONReader.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    private func assertRejects(
        _ bytes: [UInt8], maxDepth: Int = JSONReader.defaultMaxDepth,
        messageContains fragment: String? = nil, offset: Int? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let value = try JSONReader.parse(bytes, maxDepth: maxDepth)
            XCTFail("expected an error for \(String(decoding: bytes, as: UTF8.self).debugDescription), got \(value)", file: file, line: line)
        } catch {
            if let fragment {
                XCTAssertTrue(error.message.contains(fragment), "message \(error.message.debugDescription) lacks \(fragment.debugDescription)", file: file, line: line)
            }
            if let offset {
                XCTAssertEqual(error.offset, offset, "offset for \(String(decoding: bytes, as: UTF8.self).debugDescription)", file: file, line: line)
            }
            XCTAssertGreaterThanOrEqual(error.offset, 0, file: file, line: line)
            XCTAssertLessThanOrEqual(error.offset, bytes.count, file: file, line: line)
        }
    }

    private func assertRejects(
        _ text: String, messageContains fragment: String? = nil, offset: Int? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertRejects(Array(text.utf8), messageContains: fragment, offset: offset, file: file, line: line)
    }

    private static let sampleDocument = #"""
    {"orderId":"ord-1","customer":{"id":42,"name":"Zoë \"Z\" O'Neil","vip":true},
     "items":[{"sku":"A\u00e9\ud83d\ude00","qty":2,"price":99.90},{"sku":"B","qty":1,"price":1e2}],
     "note":null,"discount":-0.5E-1,"tags":[],"meta":{},"ok":false}
    """#

    // MARK: Value kinds

    func testParsesEveryValueKind() throws {
        XCTAssertEqual(try parse(#"{"a":1}"#).kind, .object)
        XCTAssertEqual(try parse("[1]").kind, .array)
        XCTAssertEqual(try parse(#""s""#), .string("s"))
        XCTAssertEqual(try parse("12"), .number("12"))
        XCTAssertEqual(try parse("true"), .bool(true))
        XCTAssertEqual(try parse("false"), .bool(false))
        XCTAssertEqual(try parse("null"), .null)
        XCTAssertEqual(try parse("{}"), .object([]))
        XCTAssertEqual(try parse("[]"), .array([]))
        XCTAssertEqual(try parse(#""""#), .string(""))
    }

    func testNestedDocumentKeepsMemberOrderAndValues() throws {
        let value = try parse(Self.sampleDocument)
        let members = try XCTUnwrap(value.objectMembers)
        XCTAssertEqual(members.map(\.key), ["orderId", "customer", "items", "note", "discount", "tags", "meta", "ok"])
        XCTAssertEqual(value["orderId"]?.stringValue, "ord-1")
        XCTAssertEqual(value["customer"]?["id"]?.intValue, 42)
        XCTAssertEqual(value["customer"]?["name"]?.stringValue, #"Zoë "Z" O'Neil"#)
        XCTAssertEqual(value["customer"]?["vip"]?.boolValue, true)
        let items = try XCTUnwrap(value["items"]?.arrayValue)
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items[0]["sku"]?.stringValue, "Aé😀")
        XCTAssertEqual(items[0]["price"]?.numberText, "99.90")
        XCTAssertEqual(items[1]["price"]?.numberText, "1e2")
        XCTAssertEqual(value["note"]?.isNull, true)
        XCTAssertEqual(value["discount"]?.numberText, "-0.5E-1")
        XCTAssertEqual(value["tags"], .array([]))
        XCTAssertEqual(value["meta"], .object([]))
        XCTAssertEqual(value["ok"], .bool(false))
    }

    func testDeeplyMixedNestingBuildsCorrectTree() throws {
        let value = try parse(#"[[1,[2,{"a":[3,{"b":[]}]}]],{"c":{"d":{"e":[null]}}},4]"#)
        XCTAssertEqual(value, .array([
            .array([.number("1"), .array([.number("2"), .object([(key: "a", value: .array([.number("3"), .object([(key: "b", value: .array([]))])]))])])]),
            .object([(key: "c", value: .object([(key: "d", value: .object([(key: "e", value: .array([.null]))]))]))]),
            .number("4"),
        ]))
    }

    func testWhitespaceAroundTokensIsAllowed() throws {
        let value = try parse(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\" : { } }\r\n ")
        XCTAssertEqual(value["a"], .array([.number("1"), .number("2")]))
        XCTAssertEqual(value["b"], .object([]))
    }

    func testNonJSONWhitespaceIsRejected() {
        assertRejects("\u{0C}1") // form feed
        assertRejects("1\u{0B}") // vertical tab
        assertRejects("\u{A0}1") // no-break space
        assertRejects([0xEF, 0xBB, 0xBF] + Array("1".utf8)) // byte-order mark
    }

    // MARK: Objects

    func testSubscriptReturnsLastMemberForDuplicateKeys() throws {
        let value = try parse(#"{"a":1,"b":2,"a":3}"#)
        XCTAssertEqual(value["a"], .number("3"))
        XCTAssertEqual(value.objectMembers?.count, 3, "duplicates are preserved in members")
        XCTAssertNil(value["missing"])
    }

    func testSubscriptOnNonObjectReturnsNil() throws {
        XCTAssertNil(try parse("[1]")["a"])
        XCTAssertNil(try parse(#""a""#)["a"])
        XCTAssertNil(JSONValue.null["a"])
    }

    func testEqualityComparesObjectMembersInOrder() {
        let ab = JSONValue.object([(key: "a", value: .number("1")), (key: "b", value: .null)])
        let ba = JSONValue.object([(key: "b", value: .null), (key: "a", value: .number("1"))])
        XCTAssertEqual(ab, ab)
        XCTAssertNotEqual(ab, ba)
        XCTAssertNotEqual(JSONValue.number("1"), .number("1.0"))
        XCTAssertNotEqual(JSONValue.string("1"), .number("1"))
    }

    // MARK: Strings

    func testStringEscapesAreDecoded() throws {
        let value = try parse(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\u0000""#)
        XCTAssertEqual(value, .string("\"\\/\u{08}\u{0C}\n\r\tAé€\u{00}"))
    }

    func testSurrogatePairDecodesToSupplementaryScalar() throws {
        XCTAssertEqual(try parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try parse(#""\uD834\uDD1E x""#), .string("𝄞 x"))
        XCTAssertEqual(try parse(#""\udbff\udfff""#), .string("\u{10FFFF}"))
    }

    func testLoneSurrogatesAreRejected() {
        assertRejects(#""\ud83d""#, messageContains: "lone high surrogate", offset: 1)
        assertRejects(#""\ud83dx""#, messageContains: "lone high surrogate")
        assertRejects(#""\ud83d\n""#, messageContains: "lone high surrogate")
        assertRejects(#""\ud83d\u0041""#, messageContains: "low surrogate", offset: 7)
        assertRejects(#""\ud83d\ud83d""#, messageContains: "low surrogate")
        assertRejects(#""\ude00""#, messageContains: "lone low surrogate", offset: 1)
        assertRejects(#""a\ude00\ud83d""#, messageContains: "lone low surrogate", offset: 2)
    }

    func testRawNonASCIIUTF8IsAccepted() throws {
        XCTAssertEqual(try parse("\"Zoë – 東京 😀 \u{10FFFF}\""), .string("Zoë – 東京 😀 \u{10FFFF}"))
        XCTAssertEqual(try parse("{\"ключ\":\"значение\"}")["ключ"], .string("значение"))
    }

    func testInvalidUTF8InStringsIsRejected() {
        let invalidSequences: [[UInt8]] = [
            [0x80],                   // lone continuation byte
            [0xBF],
            [0xC0, 0x80],             // overlong NUL
            [0xC1, 0xBF],             // overlong
            [0xC2],                   // truncated two-byte
            [0xC2, 0x41],             // bad continuation
            [0xE0, 0x80, 0x80],       // overlong three-byte
            [0xE0, 0x9F, 0xBF],       // overlong three-byte
            [0xED, 0xA0, 0x80],       // encoded surrogate U+D800
            [0xED, 0xBF, 0xBF],       // encoded surrogate U+DFFF
            [0xE2, 0x82],             // truncated three-byte
            [0xE2, 0x28, 0xA1],       // bad second byte
            [0xE2, 0x82, 0x28],       // bad third byte
            [0xF0, 0x80, 0x80, 0x80], // overlong four-byte
            [0xF0, 0x8F, 0xBF, 0xBF], // overlong four-byte
            [0xF4, 0x90, 0x80, 0x80], // beyond U+10FFFF
            [0xF5, 0x80, 0x80, 0x80], // invalid lead
            [0xF8, 0x88, 0x80, 0x80, 0x80],
            [0xFE], [0xFF],
            [0xF0, 0x9F, 0x98],       // truncated four-byte
            [0xF0, 0x9F, 0x98, 0x41], // bad fourth byte
        ]
        for sequence in invalidSequences {
            assertRejects([UInt8(ascii: "\"")] + sequence + [UInt8(ascii: "\"")], messageContains: "UTF-8")
            assertRejects(Array("[\"ok\",\"a".utf8) + sequence + Array("b\"]".utf8), messageContains: "UTF-8")
        }
        // Non-ASCII bytes outside strings are simply unexpected.
        assertRejects([0xC3, 0xA9], messageContains: "expected a JSON value", offset: 0)
    }

    func testControlCharactersInStringsAreRejected() {
        for byte in UInt8(0)..<0x20 {
            assertRejects([UInt8(ascii: "\""), UInt8(ascii: "a"), byte, UInt8(ascii: "\"")], messageContains: "control characters", offset: 2)
        }
        // DEL (0x7F) is not a control character in JSON's sense.
        XCTAssertEqual(try JSONReader.parse([0x22, 0x7F, 0x22]), .string("\u{7F}"))
    }

    func testInvalidEscapesAreRejected() {
        assertRejects(#""\x41""#, messageContains: "invalid escape", offset: 1)
        assertRejects(#""\'""#, messageContains: "invalid escape")
        assertRejects(#""\U0041""#, messageContains: "invalid escape")
        assertRejects(#""\a""#, messageContains: "invalid escape")
        assertRejects(#""\u12G4""#, messageContains: "hex digit", offset: 5)
        assertRejects(#""\u123""#, messageContains: "hex digit")
        assertRejects(#""\u""#, messageContains: "hex digit")
        assertRejects("\"\\", messageContains: "escape character")
        assertRejects("\"\\u00", messageContains: "4 hex digits")
    }

    func testUnterminatedStringIsRejected() {
        assertRejects("\"abc", messageContains: "expected '\"' to close the string", offset: 4)
        assertRejects("\"ab\\n", messageContains: "expected '\"'")
        assertRejects("\"é", messageContains: "expected '\"'")
    }

    // MARK: Numbers

    func testNumberKeepsExactSourceText() throws {
        for text in ["0", "-0", "99.90", "100", "-1e3", "1E+2", "0.5e-10", "123456789012345678901234567890", "1.000000000000000000001", "-0.0", "2E0"] {
            XCTAssertEqual(try parse(text), .number(text))
            XCTAssertEqual(try parse("[\(text)]"), .array([.number(text)]))
            XCTAssertEqual(try parse("{\"n\":\(text)}")["n"], .number(text))
        }
    }

    func testInvalidNumbersAreRejected() {
        let cases: [(String, String)] = [
            ("01", "leading zeros"), ("-01", "leading zeros"), ("00", "leading zeros"),
            ("+1", "expected a JSON value"), (".5", "expected a JSON value"),
            ("1.", "digit after '.'"), ("1.e3", "digit after '.'"), ("-", "digit after '-'"), ("-a", "digit after '-'"),
            ("1e", "exponent"), ("1e+", "exponent"), ("1E-", "exponent"), ("1ea", "exponent"),
            ("--1", "digit after '-'"), ("0x10", "end of input"), ("1.5.2", "end of input"),
            ("NaN", "expected a JSON value"), ("Infinity", "expected a JSON value"), ("-Infinity", "digit after '-'"),
            ("[01]", "leading zeros"), ("{\"a\":-}", "digit after '-'"),
        ]
        for (text, fragment) in cases {
            assertRejects(text, messageContains: fragment)
        }
    }

    func testIntValueAcceptsOnlyPlainIntegersInRange() throws {
        XCTAssertEqual(JSONValue.number("42").intValue, 42)
        XCTAssertEqual(JSONValue.number("-0").intValue, 0)
        XCTAssertEqual(JSONValue.number("9223372036854775807").intValue, Int.max)
        XCTAssertEqual(JSONValue.number("-9223372036854775808").intValue, Int.min)
        XCTAssertNil(JSONValue.number("9223372036854775808").intValue)
        XCTAssertNil(JSONValue.number("-9223372036854775809").intValue)
        XCTAssertNil(JSONValue.number("1.0").intValue)
        XCTAssertNil(JSONValue.number("1e2").intValue)
        XCTAssertNil(JSONValue.number("").intValue)
        XCTAssertNil(JSONValue.number("-").intValue)
        XCTAssertNil(JSONValue.string("1").intValue)
    }

    // MARK: Literals and structure

    func testLiteralsMustBeExact() {
        for text in ["tru", "nul", "fals", "True", "NULL", "t", "nulll", "falsey", "[truex]"] {
            assertRejects(text)
        }
        assertRejects("[tru]", messageContains: "expected 'true'", offset: 1)
        assertRejects("nul", messageContains: "expected 'null'", offset: 0)
    }

    func testTrailingGarbageIsRejected() {
        assertRejects("{} x", messageContains: "expected end of input", offset: 3)
        assertRejects("1 2", messageContains: "expected end of input", offset: 2)
        assertRejects("[]]", messageContains: "expected end of input", offset: 2)
        assertRejects("null,", messageContains: "expected end of input")
        assertRejects("\"a\"\"b\"", messageContains: "expected end of input")
        assertRejects([UInt8(ascii: "1"), 0x00], messageContains: "expected end of input", offset: 1)
    }

    func testEmptyAndWhitespaceOnlyInputIsRejected() {
        assertRejects("", messageContains: "expected a JSON value", offset: 0)
        assertRejects(" \n\t\r", messageContains: "expected a JSON value", offset: 4)
    }

    func testTrailingCommasAreRejected() {
        assertRejects("[1,]", messageContains: "expected a JSON value", offset: 3)
        assertRejects(#"{"a":1,}"#, messageContains: "trailing commas", offset: 7)
        assertRejects("[,1]", messageContains: "expected a JSON value", offset: 1)
        assertRejects("{,}", messageContains: "object key")
    }

    func testStructuralErrorsSayWhatWasExpected() {
        assertRejects(#"{"a" 1}"#, messageContains: "expected ':' after object key", offset: 5)
        assertRejects(#"{"a":1 "b":2}"#, messageContains: "expected ',' or '}'", offset: 7)
        assertRejects("[1 2]", messageContains: "expected ',' or ']'", offset: 3)
        assertRejects("{1:2}", messageContains: "expected a string object key", offset: 1)
        assertRejects("{a:1}", messageContains: "expected a string object key")
        assertRejects(#"{"a":}"#, messageContains: "expected a JSON value", offset: 5)
        assertRejects("[1,x]", messageContains: "expected a JSON value", offset: 3)
        assertRejects("[1}", messageContains: "expected ',' or ']'", offset: 2)
        assertRejects(#"{"a":1]"#, messageContains: "expected ',' or '}'", offset: 6)
        assertRejects("]", messageContains: "expected a JSON value", offset: 0)
        assertRejects("[", messageContains: "unexpected end of input", offset: 1)
        assertRejects("{", messageContains: "unexpected end of input", offset: 1)
        assertRejects(#"{"a""#, messageContains: "expected ':'", offset: 4)
        assertRejects(#"{"a":1"#, messageContains: "unexpected end of input, expected ',' or '}'", offset: 6)
    }

    func testErrorDescriptionIncludesMessageAndOffset() {
        let error = JSONReadError(message: "expected ':' after object key", offset: 5)
        XCTAssertEqual(error.description, "expected ':' after object key at byte offset 5")
    }

    // MARK: Depth

    func testDepthLimitAllowsExactlyMaxDepthLevels() throws {
        let depth32 = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        XCTAssertNoThrow(try parse(depth32))
        let depth33 = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        assertRejects(depth33, messageContains: "nesting depth exceeds the limit of 32", offset: 32)
        let objects = String(repeating: #"{"a":"#, count: 33) + "1" + String(repeating: "}", count: 33)
        assertRejects(objects, messageContains: "nesting depth")
        XCTAssertNoThrow(try parse(#"{"a":[{"b":[1]}]}"#, maxDepth: 4))
        XCTAssertThrowsError(try parse(#"{"a":[{"b":[1]}]}"#, maxDepth: 3))
    }

    func testDepthLimitOfZeroAllowsOnlyScalars() throws {
        XCTAssertEqual(try parse("1", maxDepth: 0), .number("1"))
        XCTAssertThrowsError(try parse("[]", maxDepth: 0))
        XCTAssertThrowsError(try parse("{}", maxDepth: -5))
    }

    func testVeryDeepInputDoesNotExhaustTheStack() throws {
        let hostile = [UInt8](repeating: UInt8(ascii: "["), count: 200_000)
        assertRejects(hostile, messageContains: "nesting depth", offset: 32)
        // The parser is iterative, so a large limit does not recurse while parsing.
        let depth = 10_000
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: depth) + [UInt8](repeating: UInt8(ascii: "]"), count: depth)
        var value = try JSONReader.parse(deep, maxDepth: .max)
        var levels = 0
        while case .array(let elements) = value, let first = elements.first {
            value = first
            levels += 1
        }
        XCTAssertEqual(levels, depth - 1)
    }

    // MARK: Inputs

    func testParsesArraySliceAndStringInputs() throws {
        let bytes = Array("xx[1,true]yy".utf8)
        XCTAssertEqual(try JSONReader.parse(bytes[2..<10]), .array([.number("1"), .bool(true)]))
        XCTAssertEqual(try JSONReader.parse(#"{"k":"v"}"#)["k"], .string("v"))
        do {
            _ = try JSONReader.parse(bytes[2..<12])
            XCTFail("expected trailing garbage error")
        } catch {
            XCTAssertEqual(error.offset, 8, "offsets are relative to the slice start")
        }
    }

    // MARK: Robustness

    func testEveryTruncatedPrefixOfAValidDocumentThrows() throws {
        let bytes = Array(Self.sampleDocument.utf8)
        XCTAssertNoThrow(try JSONReader.parse(bytes))
        // Every strict prefix that ends inside the document (after trimming trailing whitespace) must throw.
        let lastSignificant = try XCTUnwrap(bytes.lastIndex { ![0x20, 0x09, 0x0A, 0x0D].contains($0) })
        for length in 0...lastSignificant {
            XCTAssertThrowsError(try JSONReader.parse(Array(bytes[..<length])), "prefix of length \(length)")
        }
        for scalarDocument in ["-12.5e+3", "true", "\"a\\u00e9\"", "null"] {
            let scalarBytes = Array(scalarDocument.utf8)
            for length in 0..<scalarBytes.count {
                let prefix = Array(scalarBytes[..<length])
                // A prefix of a number may itself be a valid number ("-12" of "-12.5e+3"); only require no trap.
                if scalarDocument.first == "-", let _ = try? JSONReader.parse(prefix) { continue }
                XCTAssertThrowsError(try JSONReader.parse(prefix), "prefix \(String(decoding: prefix, as: UTF8.self))")
            }
        }
    }

    func testRandomMutationsNeverCrash() {
        var random = SeededRandom(seed: 0x5EED_1234_ABCD)
        let original = Array(Self.sampleDocument.utf8)
        let interesting: [UInt8] = Array("{}[]\",:\\u0123456789eE+-.tfn ".utf8) + [0x00, 0x1F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]
        var accepted = 0
        var rejected = 0
        for _ in 0..<20_000 {
            var bytes = original
            let mutations = 1 + Int(random.next() % 4)
            for _ in 0..<mutations {
                guard !bytes.isEmpty else { break }
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 5 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes[position] = interesting[Int(random.next() % UInt64(interesting.count))]
                case 2: bytes.remove(at: position)
                case 3: bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
                default: bytes.removeSubrange(position...)
                }
            }
            do {
                _ = try JSONReader.parse(bytes, maxDepth: 8)
                accepted += 1
            } catch {
                XCTAssertLessThanOrEqual(error.offset, bytes.count)
                rejected += 1
            }
        }
        XCTAssertEqual(accepted + rejected, 20_000)
        XCTAssertGreaterThan(rejected, 0)
    }

    /// A tiny deterministic PRNG (SplitMix64) so fuzz-style tests are reproducible.
    private struct SeededRandom {
        private var state: UInt64

        init(seed: UInt64) { state = seed }

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
