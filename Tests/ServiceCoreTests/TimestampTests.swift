import XCTest
@testable import ServiceCore

final class TimestampTests: XCTestCase {
    private func micros(_ text: String) -> Int64? {
        Timestamp(rfc3339: text)?.microsecondsSinceEpoch
    }

    // MARK: Formatting

    func testFormatsUTCWithExactlySixFractionalDigits() {
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 0).rfc3339, "1970-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 1).rfc3339, "1970-01-01T00:00:00.000001Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 1_705_314_600_123_456).rfc3339, "2024-01-15T10:30:00.123456Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 946_684_800_000_000).rfc3339, "2000-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 1_795_614_459_123_456).rfc3339, "2026-11-25T13:47:39.123456Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 1_795_614_459_123_456).description, "2026-11-25T13:47:39.123456Z")
        for value: Int64 in [0, -1, 123, 1_705_314_600_999_999, -62_135_596_800_000_000, 253_402_300_799_999_999] {
            XCTAssertEqual(Timestamp(microsecondsSinceEpoch: value).rfc3339.utf8.count, 27)
        }
    }

    func testFormatsPreEpochInstants() {
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -1).rfc3339, "1969-12-31T23:59:59.999999Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -2_208_988_800_000_000).rfc3339, "1900-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -62_135_596_800_000_000).rfc3339, "0001-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 253_402_300_799_999_999).rfc3339, "9999-12-31T23:59:59.999999Z")
    }

    func testFormattingClampsInstantsOutsideYears1To9999() {
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: .min).rfc3339, "0001-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -62_135_596_800_000_001).rfc3339, "0001-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: .max).rfc3339, "9999-12-31T23:59:59.999999Z")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 253_402_300_800_000_000).rfc3339, "9999-12-31T23:59:59.999999Z")
    }

    // MARK: Parsing

    func testParsesGoRFC3339NanoOutput() {
        XCTAssertEqual(micros("2024-01-15T10:30:00.123456789Z"), 1_705_314_600_123_456)
        XCTAssertEqual(micros("2024-01-15T10:30:00Z"), 1_705_314_600_000_000)
        XCTAssertEqual(micros("2024-01-15T10:30:00.5Z"), 1_705_314_600_500_000)
        XCTAssertEqual(micros("2024-01-15T10:30:00.000001Z"), 1_705_314_600_000_001)
        XCTAssertEqual(micros("2024-01-15T10:30:00.12345678+00:00"), 1_705_314_600_123_456)
    }

    func testParsesPositiveAndNegativeOffsets() {
        XCTAssertEqual(micros("2024-01-15T10:30:00+07:00"), 1_705_314_600_000_000 - 7 * 3_600_000_000)
        XCTAssertEqual(micros("2024-01-15T10:30:00-05:30"), 1_705_314_600_000_000 + 5 * 3_600_000_000 + 30 * 60_000_000)
        XCTAssertEqual(micros("2024-01-15T10:30:00.25+23:59"), 1_705_314_600_250_000 - (23 * 3600 + 59 * 60) * 1_000_000)
        XCTAssertEqual(micros("2024-01-15T10:30:00-00:00"), 1_705_314_600_000_000)
        XCTAssertEqual(micros("2024-01-15T10:30:00+00:00"), 1_705_314_600_000_000)
        // An offset can move the instant across a day, month and year boundary.
        XCTAssertEqual(Timestamp(rfc3339: "2024-01-01T01:00:00+02:00")?.rfc3339, "2023-12-31T23:00:00.000000Z")
        XCTAssertEqual(Timestamp(rfc3339: "2023-12-31T23:00:00-02:00")?.rfc3339, "2024-01-01T01:00:00.000000Z")
    }

    func testFractionDigitsBeyondSixAreTruncatedNotRounded() {
        XCTAssertEqual(micros("2024-01-15T10:30:00.9999999Z"), 1_705_314_600_999_999)
        XCTAssertEqual(micros("2024-01-15T10:30:00.999999999Z"), 1_705_314_600_999_999)
        XCTAssertEqual(micros("1969-12-31T23:59:59.9999999Z"), -1)
    }

    func testAcceptsLowercaseAndSpaceSeparators() {
        let expected: Int64 = 1_705_314_600_000_000
        XCTAssertEqual(micros("2024-01-15t10:30:00z"), expected)
        XCTAssertEqual(micros("2024-01-15 10:30:00Z"), expected)
        XCTAssertEqual(micros("2024-01-15 10:30:00.000+00:00"), expected)
    }

    func testRejectsInvalidDatesAndGarbage() {
        let invalid = [
            "", "garbage", "2024", "2024-01-15", "2024-01-15T10:30", "2024-01-15T10:30:00",
            "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z", "2024-06-31T00:00:00Z", "2024-09-31T00:00:00Z", "2024-11-31T00:00:00Z",
            "2024-01-32T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z",
            "2024-01-15T24:00:00Z", "2024-01-15T10:60:00Z", "2024-01-15T10:30:61Z", "2024-01-15T10:30:99Z",
            "2024-01-15T10:30:00+24:00", "2024-01-15T10:30:00+05:60", "2024-01-15T10:30:00+0700",
            "2024-01-15T10:30:00+07", "2024-01-15T10:30:00+7:00", "2024-01-15T10:30:00 +07:00", "2024-01-15T10:30:00UTC",
            "2024-01-15T10:30:00.Z", "2024-01-15T10:30:00.1234567890Z", "2024-01-15T10:30:00,5Z",
            "2024-01-15T10:30:00Z ", " 2024-01-15T10:30:00Z", "2024-01-15T10:30:00ZZ", "2024-01-15T10:30:00+07:00Z",
            "24-01-15T10:30:00Z", "2024-1-15T10:30:00Z", "2024-01-15X10:30:00Z", "2024/01/15T10:30:00Z",
            "2024-01-15T10-30-00Z", "-2024-01-15T10:30:00Z", "+2024-01-15T10:30:00Z", "2024-01-15T10:30:00.-1Z",
            "２０２４-01-15T10:30:00Z", "2024-01-15T10:30:0aZ", "2024-01-15T10:30:00.12a4Z",
        ]
        for text in invalid {
            XCTAssertNil(Timestamp(rfc3339: text), "should reject \(text.debugDescription)")
        }
    }

    func testLeapYearsFollowGregorianRules() {
        XCTAssertEqual(Timestamp(rfc3339: "2024-02-29T12:00:00Z")?.rfc3339, "2024-02-29T12:00:00.000000Z")
        XCTAssertEqual(Timestamp(rfc3339: "2000-02-29T00:00:00Z")?.rfc3339, "2000-02-29T00:00:00.000000Z")
        XCTAssertEqual(Timestamp(rfc3339: "1600-02-29T00:00:00Z")?.rfc3339, "1600-02-29T00:00:00.000000Z")
        XCTAssertNil(Timestamp(rfc3339: "1900-02-29T00:00:00Z"))
        XCTAssertNil(Timestamp(rfc3339: "2023-02-29T00:00:00Z"))
        // The day after Feb 28 in a common year is Mar 1; in a leap year it is Feb 29.
        let common = Timestamp(rfc3339: "2023-02-28T00:00:00Z")!.adding(seconds: 86_400)
        XCTAssertEqual(common.rfc3339, "2023-03-01T00:00:00.000000Z")
        let leap = Timestamp(rfc3339: "2024-02-28T00:00:00Z")!.adding(seconds: 86_400)
        XCTAssertEqual(leap.rfc3339, "2024-02-29T00:00:00.000000Z")
    }

    func testParsesPreEpochInstants() {
        XCTAssertEqual(micros("1969-12-31T23:59:59.999999Z"), -1)
        XCTAssertEqual(micros("1900-01-01T00:00:00Z"), -2_208_988_800_000_000)
        XCTAssertEqual(micros("0001-01-01T00:00:00Z"), -62_135_596_800_000_000)
        XCTAssertEqual(micros("9999-12-31T23:59:59.999999Z"), 253_402_300_799_999_999)
        XCTAssertEqual(micros("0000-12-31T23:00:00-01:00"), -62_135_596_800_000_000)
    }

    func testParsingRejectsInstantsOutsideYears1To9999() {
        XCTAssertNil(Timestamp(rfc3339: "0001-01-01T00:00:00+00:01"))
        XCTAssertNil(Timestamp(rfc3339: "0000-06-01T00:00:00Z"))
        XCTAssertNil(Timestamp(rfc3339: "9999-12-31T23:59:59-00:01"))
    }

    func testLeapSecondIsClampedToTheEndOfItsMinute() {
        XCTAssertEqual(Timestamp(rfc3339: "2016-12-31T23:59:60Z")?.rfc3339, "2016-12-31T23:59:59.999999Z")
        XCTAssertEqual(Timestamp(rfc3339: "2016-12-31T23:59:60.5Z")?.rfc3339, "2016-12-31T23:59:59.999999Z")
        let before = Timestamp(rfc3339: "2016-12-31T23:59:59.9Z")!
        let leap = Timestamp(rfc3339: "2016-12-31T23:59:60Z")!
        let after = Timestamp(rfc3339: "2017-01-01T00:00:00Z")!
        XCTAssertTrue(before < leap && leap < after)
    }

    // MARK: Round trips

    func testFormatThenParseRoundTripsForManyValues() {
        var random = SeededRandom(seed: 7)
        let low = Timestamp.rfc3339Range.lowerBound.microsecondsSinceEpoch
        let span = UInt64(Timestamp.rfc3339Range.upperBound.microsecondsSinceEpoch - low) + 1
        for _ in 0..<20_000 {
            let value = low + Int64(random.next() % span)
            let timestamp = Timestamp(microsecondsSinceEpoch: value)
            XCTAssertEqual(Timestamp(rfc3339: timestamp.rfc3339), timestamp, timestamp.rfc3339)
        }
    }

    func testEveryDayBoundaryRoundTripsAcrossTheWholeRange() {
        // Every 7th day from 0001-01-01 to 9999-12-31 (plus the last day), checking the calendar arithmetic.
        let firstDay = Timestamp.days(fromCivilYear: 1, month: 1, day: 1)
        let lastDay = Timestamp.days(fromCivilYear: 9999, month: 12, day: 31)
        XCTAssertEqual(firstDay, -719_162)
        XCTAssertEqual(lastDay, 2_932_896)
        for day in Array(stride(from: firstDay, through: lastDay, by: 7)) + [lastDay] {
            let (year, month, dayOfMonth) = Timestamp.civil(fromDays: day)
            XCTAssertEqual(Timestamp.days(fromCivilYear: year, month: month, day: dayOfMonth), day)
            let timestamp = Timestamp(microsecondsSinceEpoch: day * 86_400_000_000)
            XCTAssertEqual(Timestamp(rfc3339: timestamp.rfc3339), timestamp)
        }
    }

    func testConsecutiveDaysAdvanceTheCivilDateByOne() {
        var previous = Timestamp.civil(fromDays: -800_000)
        for day in Int64(-799_999)...Int64(800_000) {
            let current = Timestamp.civil(fromDays: day)
            if current.day == 1 {
                XCTAssertTrue(
                    (current.month == previous.month + 1 && current.year == previous.year)
                        || (current.month == 1 && previous.month == 12 && current.year == previous.year + 1),
                    "day \(day)")
            } else {
                XCTAssertEqual(current.day, previous.day + 1, "day \(day)")
                XCTAssertEqual(current.month, previous.month)
                XCTAssertEqual(current.year, previous.year)
            }
            previous = current
        }
    }

    func testParseThenFormatNormalisesToUTC() {
        let cases = [
            ("2024-01-15T10:30:00+07:00", "2024-01-15T03:30:00.000000Z"),
            ("2024-01-15T10:30:00.1-01:00", "2024-01-15T11:30:00.100000Z"),
            ("1999-12-31 23:59:59.123456789z", "1999-12-31T23:59:59.123456Z"),
            ("1969-07-20T20:17:40Z", "1969-07-20T20:17:40.000000Z"),
        ]
        for (input, output) in cases {
            XCTAssertEqual(Timestamp(rfc3339: input)?.rfc3339, output, input)
        }
    }

    // MARK: Arithmetic and clock

    func testSecondsSinceEpochRoundsDown() {
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 1_999_999).secondsSinceEpoch, 1)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: 0).secondsSinceEpoch, 0)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -1).secondsSinceEpoch, -1)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -1_000_000).secondsSinceEpoch, -1)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: -1_000_001).secondsSinceEpoch, -2)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: .min).secondsSinceEpoch, Int64.min / 1_000_000 - 1)
        XCTAssertEqual(Timestamp(secondsSinceEpoch: 1_705_314_600).rfc3339, "2024-01-15T10:30:00.000000Z")
        XCTAssertEqual(Timestamp(secondsSinceEpoch: .max).microsecondsSinceEpoch, .max)
    }

    func testAddingSecondsAndMeasuringElapsedTime() {
        let start = Timestamp(rfc3339: "2024-01-15T10:30:00Z")!
        let later = start.adding(seconds: 1.5)
        XCTAssertEqual(later.rfc3339, "2024-01-15T10:30:01.500000Z")
        XCTAssertEqual(later.seconds(since: start), 1.5)
        XCTAssertEqual(start.seconds(since: later), -1.5)
        XCTAssertEqual(start.adding(seconds: -0.000001).rfc3339, "2024-01-15T10:29:59.999999Z")
        XCTAssertEqual(start.adding(microseconds: 1).microsecondsSinceEpoch, start.microsecondsSinceEpoch + 1)
    }

    func testAddingNeverTrapsOnExtremeInputs() {
        let start = Timestamp(microsecondsSinceEpoch: 0)
        XCTAssertEqual(start.adding(seconds: .nan), start)
        XCTAssertEqual(start.adding(seconds: .infinity).microsecondsSinceEpoch, .max)
        XCTAssertEqual(start.adding(seconds: -.infinity).microsecondsSinceEpoch, .min)
        XCTAssertEqual(start.adding(seconds: 1e300).microsecondsSinceEpoch, .max)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: .max).adding(microseconds: 1).microsecondsSinceEpoch, .max)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: .min).adding(microseconds: -1).microsecondsSinceEpoch, .min)
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: .max).seconds(since: Timestamp(microsecondsSinceEpoch: .min)), 18_446_744_073_709.551615, accuracy: 1)
    }

    func testComparableOrdersChronologically() {
        let a = Timestamp(rfc3339: "1969-12-31T23:59:59Z")!
        let b = Timestamp(rfc3339: "2024-01-15T10:30:00+07:00")!
        let c = Timestamp(rfc3339: "2024-01-15T10:30:00Z")!
        XCTAssertEqual([c, a, b].sorted(), [a, b, c])
        XCTAssertEqual(Set([c, c, a]).count, 2)
    }

    func testNowIsARecentInstantAtMicrosecondPrecision() {
        let first = Timestamp.now()
        let second = Timestamp.now()
        XCTAssertGreaterThan(first, Timestamp(rfc3339: "2024-01-01T00:00:00Z")!)
        XCTAssertLessThan(first, Timestamp(rfc3339: "2200-01-01T00:00:00Z")!)
        XCTAssertLessThanOrEqual(first, second.adding(seconds: 1)) // wall clock may step, but not wildly
        XCTAssertNotNil(Timestamp(rfc3339: first.rfc3339))
        XCTAssertEqual(Timestamp(rfc3339: first.rfc3339), first)
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
