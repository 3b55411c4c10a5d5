import XCTest
@testable import ServiceCore

final class MoneyTests: XCTestCase {
    private func cents(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Int64? {
        do {
            return try Money(jsonNumber: text).cents
        } catch {
            XCTFail("\(text.debugDescription) failed to parse: \(error)", file: file, line: line)
            return nil
        }
    }

    private func assertParseError(_ text: String, _ expected: Money.ParseError, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let money = try Money(jsonNumber: text)
            XCTFail("\(text.debugDescription) should fail with \(expected), got \(money.cents) cents", file: file, line: line)
        } catch {
            XCTAssertEqual(error, expected, text.debugDescription, file: file, line: line)
        }
    }

    // MARK: Exactness

    func testPointOnePlusPointTwoIsExact() throws {
        let document = try JSONReader.parse(#"{"a":0.1,"b":0.2,"c":0.3,"d":0.10,"e":0.20}"#)
        let a = try Money(jsonNumber: XCTUnwrap(document["a"]?.numberText))
        let b = try Money(jsonNumber: XCTUnwrap(document["b"]?.numberText))
        let c = try Money(jsonNumber: XCTUnwrap(document["c"]?.numberText))
        XCTAssertEqual(a + b, c)
        XCTAssertEqual((a + b).cents, 30)
        XCTAssertEqual((a + b).description, "0.3")
        let d = try Money(jsonNumber: XCTUnwrap(document["d"]?.numberText))
        let e = try Money(jsonNumber: XCTUnwrap(document["e"]?.numberText))
        XCTAssertEqual((d + e).decimalString, "0.30")
    }

    func testSumOfManySmallAmountsIsExact() throws {
        let tenth = try Money(jsonNumber: "0.1")
        let total = (0..<1_000).reduce(Money.zero) { sum, _ in sum + tenth }
        XCTAssertEqual(total, try Money(jsonNumber: "100"))
        var running = Money.zero
        running += try Money(jsonNumber: "0.07")
        running -= try Money(jsonNumber: "0.02")
        XCTAssertEqual(running.cents, 5)
    }

    func testTwoDecimalValueRoundTripsThroughText() throws {
        XCTAssertEqual(cents("99.99"), 9_999)
        XCTAssertEqual(try Money(jsonNumber: "99.99").description, "99.99")
        XCTAssertEqual(try Money(jsonNumber: "99.99").decimalString, "99.99")
    }

    // MARK: Parsing

    func testParsesPlainDecimals() {
        XCTAssertEqual(cents("0"), 0)
        XCTAssertEqual(cents("100"), 10_000)
        XCTAssertEqual(cents("99.9"), 9_990)
        XCTAssertEqual(cents("0.10"), 10)
        XCTAssertEqual(cents("0.05"), 5)
        XCTAssertEqual(cents("0.5"), 50)
        XCTAssertEqual(cents("12345678.91"), 1_234_567_891)
    }

    func testNegativeValuesParseToNegativeCents() {
        XCTAssertEqual(cents("-5"), -500)
        XCTAssertEqual(cents("-0.50"), -50)
        XCTAssertEqual(cents("-0.01"), -1)
        XCTAssertEqual(cents("-0"), 0)
        XCTAssertEqual(cents("-0.00"), 0)
    }

    func testTrailingZerosBeyondCentsAreAccepted() {
        XCTAssertEqual(cents("1.50"), 150)
        XCTAssertEqual(cents("1.500"), 150)
        XCTAssertEqual(cents("1.5000000000000000000000000"), 150)
        XCTAssertEqual(cents("0.000"), 0)
        XCTAssertEqual(cents("0.0000000000000000000000001e25"), 100)
    }

    func testMoreThanTwoSignificantDecimalsIsRejected() {
        assertParseError("1.005", .tooManyDecimals)
        assertParseError("0.001", .tooManyDecimals)
        assertParseError("99.999", .tooManyDecimals)
        assertParseError("1e-3", .tooManyDecimals)
        assertParseError("-0.125", .tooManyDecimals)
        assertParseError("0.0000000000000000000000001", .tooManyDecimals)
        assertParseError("1e-99999999999999999999", .tooManyDecimals)
    }

    func testExponentFormsAreExact() {
        XCTAssertEqual(cents("1e2"), 10_000)
        XCTAssertEqual(cents("1E2"), 10_000)
        XCTAssertEqual(cents("1e+2"), 10_000)
        XCTAssertEqual(cents("1.5e1"), 1_500)
        XCTAssertEqual(cents("12345e-2"), 12_345)
        XCTAssertEqual(cents("0.5e-1"), 5)
        XCTAssertEqual(cents("100e-2"), 100)
        XCTAssertEqual(cents("1e-2"), 1)
        XCTAssertEqual(cents("-2.5E0"), -250)
        XCTAssertEqual(cents("1e0"), 100)
        XCTAssertEqual(cents("0e99999999999999999999"), 0)
        XCTAssertEqual(cents("0.0e-99999"), 0)
        XCTAssertEqual(cents("1000e-5"), 1)
    }

    func testValuesBeyondInt64CentsAreOutOfRange() {
        XCTAssertEqual(cents("92233720368547758.07"), Int64.max)
        XCTAssertEqual(cents("-92233720368547758.07"), -Int64.max)
        XCTAssertEqual(cents("9223372036854775807e-2"), Int64.max)
        XCTAssertEqual(cents("1e16"), 1_000_000_000_000_000_000)
        assertParseError("92233720368547758.08", .outOfRange)
        assertParseError("-92233720368547758.08", .outOfRange)
        assertParseError("100000000000000000", .outOfRange)
        assertParseError("1e17", .outOfRange)
        assertParseError("1e999999999999999999999", .outOfRange)
        assertParseError("123456789012345678901234567890", .outOfRange)
        assertParseError("99999999999999999999.99", .outOfRange)
    }

    func testTextThatIsNotAJSONNumberIsRejected() {
        for text in ["", "abc", "+1", "01", "-01", "00.5", "1.", ".5", "-", "1e", "1e+", "--1", " 1", "1 ", "NaN",
                     "Infinity", "0x10", "1,5", "1.2.3", "١٢", "1_000", "\"1\"", "1.0e", "e5", "-.5", "1e2.5"] {
            assertParseError(text, .notANumber)
        }
    }

    func testDecimalStringParsesMySQLDecimalText() {
        XCTAssertEqual(Money(decimalString: "99.90")?.cents, 9_990)
        XCTAssertEqual(Money(decimalString: "-0.50")?.cents, -50)
        XCTAssertEqual(Money(decimalString: "100.00")?.cents, 10_000)
        XCTAssertEqual(Money(decimalString: "0.00")?.cents, 0)
        XCTAssertEqual(Money(decimalString: "12345678.99")?.cents, 1_234_567_899)
        XCTAssertNil(Money(decimalString: "1.005"))
        XCTAssertNil(Money(decimalString: ""))
        XCTAssertNil(Money(decimalString: "abc"))
        XCTAssertNil(Money(decimalString: "1e40"))
    }

    // MARK: Formatting

    func testDescriptionIsTheShortestExactForm() {
        XCTAssertEqual(Money(cents: 9_990).description, "99.9")
        XCTAssertEqual(Money(cents: 10_000).description, "100")
        XCTAssertEqual(Money(cents: 5).description, "0.05")
        XCTAssertEqual(Money(cents: 0).description, "0")
        XCTAssertEqual(Money(cents: -150).description, "-1.5")
        XCTAssertEqual(Money(cents: -1).description, "-0.01")
        XCTAssertEqual(Money(cents: 101).description, "1.01")
        XCTAssertEqual(Money(cents: 110).description, "1.1")
        XCTAssertEqual(Money(cents: Int64.max).description, "92233720368547758.07")
        XCTAssertEqual(Money(cents: Int64.min).description, "-92233720368547758.08")
    }

    func testParsedTextRendersInShortestForm() throws {
        XCTAssertEqual(try Money(jsonNumber: "99.90").description, "99.9")
        XCTAssertEqual(try Money(jsonNumber: "100.00").description, "100")
        XCTAssertEqual(try Money(jsonNumber: "1e2").description, "100")
        XCTAssertEqual(try Money(jsonNumber: "-1.50").description, "-1.5")
    }

    func testDecimalStringHasExactlyTwoDecimals() {
        XCTAssertEqual(Money(cents: 9_990).decimalString, "99.90")
        XCTAssertEqual(Money(cents: -5).decimalString, "-0.05")
        XCTAssertEqual(Money(cents: 0).decimalString, "0.00")
        XCTAssertEqual(Money(cents: 10_000).decimalString, "100.00")
        XCTAssertEqual(Money(cents: -123_456).decimalString, "-1234.56")
        XCTAssertEqual(Money(cents: Int64.min).decimalString, "-92233720368547758.08")
    }

    func testRenderedFormsParseBackToTheSameAmount() throws {
        var random = SeededRandom(seed: 99)
        for _ in 0..<10_000 {
            var value = Int64(bitPattern: random.next())
            if random.next() % 2 == 0 { value %= 1_000_000 }
            if value == .min { continue } // outside the symmetric parse range
            let money = Money(cents: value)
            XCTAssertEqual(try Money(jsonNumber: money.description), money, money.description)
            XCTAssertEqual(Money(decimalString: money.decimalString), money, money.decimalString)
            XCTAssertEqual(try JSONReader.parse(money.description), .number(money.description), "valid JSON number")
        }
    }

    // MARK: Average

    func testAverageRoundsHalfAwayFromZero() {
        XCTAssertEqual(Money.average(of: Money(cents: 1_000), count: 3), Money(cents: 333))
        XCTAssertEqual(Money.average(of: Money(cents: 2_000), count: 3), Money(cents: 667))
        XCTAssertEqual(Money.average(of: Money(cents: 5), count: 2), Money(cents: 3))
        XCTAssertEqual(Money.average(of: Money(cents: 1), count: 2), Money(cents: 1))
        XCTAssertEqual(Money.average(of: Money(cents: 1), count: 3), Money(cents: 0))
        XCTAssertEqual(Money.average(of: Money(cents: -5), count: 2), Money(cents: -3))
        XCTAssertEqual(Money.average(of: Money(cents: -1), count: 2), Money(cents: -1))
        XCTAssertEqual(Money.average(of: Money(cents: -1), count: 3), Money(cents: 0))
        XCTAssertEqual(Money.average(of: Money(cents: -1_000), count: 3), Money(cents: -333))
        XCTAssertEqual(Money.average(of: Money(cents: 999), count: 1), Money(cents: 999))
        XCTAssertEqual(Money.average(of: .zero, count: 7), .zero)
    }

    func testAverageWithNonPositiveCountIsZero() {
        XCTAssertEqual(Money.average(of: Money(cents: 1_000), count: 0), .zero)
        XCTAssertEqual(Money.average(of: Money(cents: 1_000), count: -3), .zero)
        XCTAssertEqual(Money.average(of: Money(cents: Int64.min), count: Int64.min), .zero)
    }

    func testAverageOfHugeTotalsDoesNotOverflow() {
        XCTAssertEqual(Money.average(of: Money(cents: .max), count: 1).cents, .max)
        XCTAssertEqual(Money.average(of: Money(cents: .min), count: 1).cents, .min)
        XCTAssertEqual(Money.average(of: Money(cents: .max), count: 2).cents, 4_611_686_018_427_387_904) // .5 rounds up
        XCTAssertEqual(Money.average(of: Money(cents: .min), count: 2).cents, -4_611_686_018_427_387_904) // exact
        XCTAssertEqual(Money.average(of: Money(cents: .min + 1), count: 2).cents, -4_611_686_018_427_387_904) // -.5 rounds down
        XCTAssertEqual(Money.average(of: Money(cents: .max), count: .max).cents, 1)
        XCTAssertEqual(Money.average(of: Money(cents: .min), count: .max).cents, -1)
        XCTAssertEqual(Money.average(of: Money(cents: .max / 2), count: .max).cents, 0) // just under one half
        XCTAssertEqual(Money.average(of: Money(cents: .max / 2 + 1), count: .max).cents, 1) // just over one half
        XCTAssertEqual(Money.average(of: Money(cents: .min), count: 3).cents, -3_074_457_345_618_258_603) // -…602.67
    }

    func testAverageMatchesExactRationalRounding() {
        var random = SeededRandom(seed: 2024)
        for _ in 0..<10_000 {
            let total = Int64(truncatingIfNeeded: random.next() % 2_000_001) - 1_000_000
            let count = Int64(random.next() % 50) + 1
            // Reference: round(total / count) half away from zero via doubled numerator.
            let doubled = 2 * total
            let reference = doubled >= 0 ? (doubled + count) / (2 * count) : -((-doubled + count) / (2 * count))
            XCTAssertEqual(Money.average(of: Money(cents: total), count: count).cents, reference, "\(total)/\(count)")
        }
    }

    // MARK: Arithmetic helpers

    func testCheckedArithmeticReturnsNilOnOverflow() {
        XCTAssertEqual(Money(cents: 150).adding(Money(cents: 250)), Money(cents: 400))
        XCTAssertNil(Money(cents: .max).adding(Money(cents: 1)))
        XCTAssertNil(Money(cents: .min).adding(Money(cents: -1)))
        XCTAssertEqual(Money(cents: 100).subtracting(Money(cents: 250)), Money(cents: -150))
        XCTAssertNil(Money(cents: .min).subtracting(Money(cents: 1)))
        XCTAssertEqual(Money(cents: 999).multiplied(by: 3), Money(cents: 2_997))
        XCTAssertNil(Money(cents: .max / 2 + 1).multiplied(by: 2))
        XCTAssertNil(Money(cents: -1).multiplied(by: .min))
    }

    func testComparableAndZero() {
        XCTAssertLessThan(Money(cents: -1), .zero)
        XCTAssertLessThan(Money(cents: 999), Money(cents: 1_000))
        XCTAssertEqual([Money(cents: 3), Money(cents: -2), .zero].sorted(), [Money(cents: -2), .zero, Money(cents: 3)])
        XCTAssertEqual(Money.zero.cents, 0)
        XCTAssertEqual(Set([Money(cents: 1), Money(cents: 1)]).count, 1)
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
