import XCTest
@testable import ServiceCore

final class JSONWriterTests: XCTestCase {
    private func written(_ build: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        build(&writer)
        return writer.text
    }

    private func encodedString(_ value: String) -> String {
        written { $0.string(value) }
    }

    // MARK: Structure and commas

    func testEmptyContainersAreCompact() {
        XCTAssertEqual(written { $0.beginObject(); $0.endObject() }, "{}")
        XCTAssertEqual(written { $0.beginArray(); $0.endArray() }, "[]")
        XCTAssertEqual(written { w in
            w.beginArray(); w.beginObject(); w.endObject(); w.beginArray(); w.endArray(); w.endArray()
        }, "[{},[]]")
    }

    func testCommasSeparateObjectMembersAndArrayElements() {
        let json = written { w in
            w.beginObject()
            w.key("a"); w.int(1)
            w.key("b"); w.string("x")
            w.key("c"); w.bool(true)
            w.key("d"); w.null()
            w.key("e"); w.beginArray(); w.int(1); w.int(2); w.int(3); w.endArray()
            w.endObject()
        }
        XCTAssertEqual(json, #"{"a":1,"b":"x","c":true,"d":null,"e":[1,2,3]}"#)
    }

    func testCommasInNestedObjectsAndArrays() {
        let json = written { w in
            w.beginObject()
            w.key("orders")
            w.beginArray()
            for id in 1...2 {
                w.beginObject()
                w.field("id", id)
                w.key("items")
                w.beginArray()
                w.beginObject(); w.field("sku", "A"); w.field("qty", 2); w.endObject()
                w.beginObject(); w.field("sku", "B"); w.endObject()
                w.endArray()
                w.key("empty"); w.beginObject(); w.endObject()
                w.field("paid", id == 2)
                w.endObject()
            }
            w.beginArray(); w.beginArray(); w.endArray(); w.int(0); w.endArray()
            w.endArray()
            w.field("count", 2)
            w.endObject()
        }
        XCTAssertEqual(json, #"{"orders":[{"id":1,"items":[{"sku":"A","qty":2},{"sku":"B"}],"empty":{},"paid":false},{"id":2,"items":[{"sku":"A","qty":2},{"sku":"B"}],"empty":{},"paid":true},[[],0]],"count":2}"#)
        XCTAssertNoThrow(try JSONReader.parse(json))
    }

    // MARK: Strings

    func testQuotesAndBackslashesAreEscaped() {
        XCTAssertEqual(encodedString(#"say "hi" \ bye"#), #""say \"hi\" \\ bye""#)
        XCTAssertEqual(encodedString(#"\""#), #""\\\"""#)
        XCTAssertEqual(encodedString(""), #""""#)
    }

    func testControlCharactersUseShortOrUnicodeEscapes() {
        XCTAssertEqual(encodedString("\n\r\t\u{08}\u{0C}"), #""\n\r\t\b\f""#)
        XCTAssertEqual(encodedString("\u{00}\u{01}\u{1F}\u{1B}"), #""\u0000\u0001\u001f\u001b""#)
        for scalar in 0..<0x20 {
            let text = String(UnicodeScalar(UInt8(scalar)))
            let json = encodedString("a" + text + "b")
            XCTAssertTrue(json.utf8.allSatisfy { $0 >= 0x20 }, "raw control character in \(json.debugDescription)")
            XCTAssertEqual(try JSONReader.parse(json), .string("a" + text + "b"))
        }
    }

    func testNonASCIIPassesThroughAsRawUTF8() {
        let text = "Zoë – 東京 😀 \u{2028}\u{2029} \u{7F}"
        XCTAssertEqual(written { $0.string(text) }.utf8.count, text.utf8.count + 2)
        XCTAssertEqual(encodedString(text), "\"\(text)\"")
    }

    func testSlashIsNotEscaped() {
        XCTAssertEqual(encodedString("a/b</script>"), #""a/b</script>""#)
    }

    func testKeysAreEscapedLikeStrings() {
        let json = written { w in
            w.beginObject(); w.key("a\"b\n"); w.int(1); w.key("ключ"); w.string("v"); w.endObject()
        }
        XCTAssertEqual(json, #"{"a\"b\n":1,"ключ":"v"}"#)
    }

    // MARK: Numbers and raw values

    func testIntegersAreWrittenInDecimalIncludingExtremes() {
        XCTAssertEqual(written { w in
            w.beginArray(); w.int(0); w.int(-1); w.int(42); w.int(Int.max); w.int(Int.min); w.endArray()
        }, "[0,-1,42,9223372036854775807,-9223372036854775808]")
        XCTAssertEqual(written { $0.int(Int64.min) }, "-9223372036854775808")
        XCTAssertEqual(written { $0.field("n", Int64(-7)) }, #""n":-7"#)
    }

    func testRawNumberIsWrittenVerbatim() {
        XCTAssertEqual(written { w in
            w.beginObject(); w.key("price"); w.rawNumber("99.9"); w.field("total", rawNumber: "1e2"); w.endObject()
        }, #"{"price":99.9,"total":1e2}"#)
    }

    func testRawEmbedsEncodedJSONWithCommas() {
        let cached = Array(#"{"id":"c-1","tags":["a"]}"#.utf8)
        let json = written { w in
            w.beginObject()
            w.field("before", 1)
            w.key("customer"); w.raw(cached)
            w.key("list"); w.beginArray(); w.raw(cached); w.raw(Array("7".utf8)); w.endArray()
            w.endObject()
        }
        XCTAssertEqual(json, #"{"before":1,"customer":{"id":"c-1","tags":["a"]},"list":[{"id":"c-1","tags":["a"]},7]}"#)
    }

    func testValueWritesParsedDocumentCompactlyKeepingNumberText() throws {
        let source = #" { "a" : [ 1.50 , -0 , 1E+2 ] , "b" : { "c" : null , "d" : "x\ty" } , "e" : true , "a" : false } "#
        let parsed = try JSONReader.parse(source)
        var writer = JSONWriter()
        writer.value(parsed)
        XCTAssertEqual(writer.text, #"{"a":[1.50,-0,1E+2],"b":{"c":null,"d":"x\ty"},"e":true,"a":false}"#)
        XCTAssertEqual(try JSONReader.parse(writer.bytes), parsed)
    }

    func testResetClearsOutputAndCommaState() {
        var writer = JSONWriter(capacity: 8)
        writer.beginArray(); writer.int(1)
        writer.reset()
        XCTAssertTrue(writer.bytes.isEmpty)
        writer.beginArray(); writer.int(2); writer.endArray()
        XCTAssertEqual(writer.text, "[2]")
    }

    // MARK: Round trip

    func testRandomStringsRoundTripThroughReader() throws {
        var random = SeededRandom(seed: 42)
        let alphabet: [Unicode.Scalar] = Array("abc \"\\/{}[]:,".unicodeScalars)
            + (0..<0x20).map { Unicode.Scalar(UInt8($0)) }
            + ["é", "€", "東", "😀", "\u{10FFFF}", "\u{2028}", "\u{7F}", "\u{FEFF}"]
        for _ in 0..<2_000 {
            var text = ""
            for _ in 0..<Int(random.next() % 24) {
                text.unicodeScalars.append(alphabet[Int(random.next() % UInt64(alphabet.count))])
            }
            var writer = JSONWriter()
            writer.beginObject()
            writer.field(text, text)
            writer.key("list"); writer.beginArray(); writer.string(text); writer.int(Int(truncatingIfNeeded: random.next())); writer.endArray()
            writer.endObject()
            let parsed = try JSONReader.parse(writer.bytes)
            XCTAssertEqual(parsed[text], .string(text))
            XCTAssertEqual(parsed["list"]?.arrayValue?.first, .string(text))
        }
    }

    /// A tiny deterministic PRNG (SplitMix64) so randomized tests are reproducible.
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
