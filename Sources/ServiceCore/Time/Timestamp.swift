// A UTC instant with microsecond precision, with RFC 3339 parsing and formatting.
//
// Civil-date conversions use Howard Hinnant's `days_from_civil` / `civil_from_days`
// algorithms (proleptic Gregorian calendar); no Foundation calendars or formatters.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Android)
import Android
#elseif canImport(Darwin)
import Darwin
#endif

/// A UTC instant with microsecond precision, stored as microseconds since 1970-01-01T00:00:00Z.
///
/// Ordering, equality and hashing use `microsecondsSinceEpoch`. Instants before 1970 are negative.
/// The RFC 3339 text form covers years 0001–9999 (see `rfc3339Range`).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z (negative before the epoch).
    public var microsecondsSinceEpoch: Int64

    /// Creates a timestamp from microseconds since 1970-01-01T00:00:00Z.
    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// Creates a timestamp from whole seconds since the epoch, saturating at the `Int64` microsecond range.
    public init(secondsSinceEpoch: Int64) {
        let (micros, overflow) = secondsSinceEpoch.multipliedReportingOverflow(by: Self.microsPerSecond)
        if overflow {
            microsecondsSinceEpoch = secondsSinceEpoch < 0 ? .min : .max
        } else {
            microsecondsSinceEpoch = micros
        }
    }

    /// The 1970-01-01T00:00:00Z instant.
    public static let epoch = Timestamp(microsecondsSinceEpoch: 0)

    /// The instants representable in RFC 3339 text: 0001-01-01T00:00:00.000000Z ... 9999-12-31T23:59:59.999999Z.
    public static let rfc3339Range: ClosedRange<Timestamp> =
        Timestamp(microsecondsSinceEpoch: -62_135_596_800_000_000)
            ... Timestamp(microsecondsSinceEpoch: 253_402_300_799_999_999)

    /// The current wall-clock time from `clock_gettime(CLOCK_REALTIME)`, truncated to microseconds.
    public static func now() -> Timestamp {
        var spec = timespec()
        guard clock_gettime(CLOCK_REALTIME, &spec) == 0 else {
            return .epoch // Cannot fail for CLOCK_REALTIME on supported platforms.
        }
        // tv_nsec is in 0..<1_000_000_000, so integer division truncates (floors) to microseconds.
        // Saturating construction: even an absurd system clock cannot trap.
        return Timestamp(secondsSinceEpoch: Int64(spec.tv_sec)).adding(microseconds: Int64(spec.tv_nsec) / 1_000)
    }

    /// Whole seconds since the epoch, rounded toward negative infinity (floor).
    public var secondsSinceEpoch: Int64 {
        Self.floorDivide(microsecondsSinceEpoch, by: Self.microsPerSecond).quotient
    }

    /// The timestamp moved by `seconds` (rounded to the nearest microsecond).
    ///
    /// Never traps: NaN leaves the timestamp unchanged; infinities and results beyond the
    /// `Int64` microsecond range saturate at `Int64.min` / `Int64.max` microseconds.
    public func adding(seconds: Double) -> Timestamp {
        guard !seconds.isNaN else { return self }
        let micros = (seconds * 1_000_000).rounded()
        // 2^63 is exactly representable; anything at or beyond it saturates.
        if micros >= 9_223_372_036_854_775_808.0 {
            return adding(microseconds: .max)
        }
        if micros < -9_223_372_036_854_775_808.0 {
            return adding(microseconds: .min)
        }
        return adding(microseconds: Int64(micros))
    }

    /// The timestamp moved by `microseconds`, saturating at the `Int64` range instead of trapping.
    public func adding(microseconds: Int64) -> Timestamp {
        let (sum, overflow) = microsecondsSinceEpoch.addingReportingOverflow(microseconds)
        if overflow {
            return Timestamp(microsecondsSinceEpoch: microseconds < 0 ? .min : .max)
        }
        return Timestamp(microsecondsSinceEpoch: sum)
    }

    /// The elapsed time from `other` to `self` in seconds (negative if `self` is earlier).
    public func seconds(since other: Timestamp) -> Double {
        let (difference, overflow) = microsecondsSinceEpoch.subtractingReportingOverflow(other.microsecondsSinceEpoch)
        if overflow {
            return (Double(microsecondsSinceEpoch) - Double(other.microsecondsSinceEpoch)) / 1_000_000
        }
        return Double(difference) / 1_000_000
    }

    /// Orders timestamps chronologically.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    /// The `rfc3339` form.
    public var description: String { rfc3339 }

    // MARK: Formatting

    /// RFC 3339 text in UTC with exactly six fractional digits, e.g. `"2026-11-25T13:47:39.123456Z"`.
    ///
    /// Instants outside `rfc3339Range` (years before 0001 or after 9999) are clamped to the
    /// nearest end of that range, so the output is always valid RFC 3339 of fixed length 27.
    public var rfc3339: String {
        let clamped = min(max(self, Self.rfc3339Range.lowerBound), Self.rfc3339Range.upperBound)
        let (days, microsOfDay) = Self.floorDivide(clamped.microsecondsSinceEpoch, by: Self.microsPerDay)
        let (year, month, day) = Self.civil(fromDays: days)
        let secondsOfDay = microsOfDay / Self.microsPerSecond
        let fraction = microsOfDay % Self.microsPerSecond
        return String(unsafeUninitializedCapacity: 27) { buffer in
            func put(_ value: Int64, digits: Int, at offset: Int) {
                var value = value
                var position = offset + digits
                while position > offset {
                    position -= 1
                    buffer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
                    value /= 10
                }
            }
            put(year, digits: 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            put(month, digits: 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            put(day, digits: 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            put(secondsOfDay / 3600, digits: 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            put(secondsOfDay / 60 % 60, digits: 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            put(secondsOfDay % 60, digits: 2, at: 17)
            buffer[19] = UInt8(ascii: ".")
            put(fraction, digits: 6, at: 20)
            buffer[26] = UInt8(ascii: "Z")
            return 27
        }
    }

    // MARK: Parsing

    /// Parses an RFC 3339 date-time; returns `nil` for anything invalid.
    ///
    /// Accepted form: `YYYY-MM-DD` + (`T` | `t` | space) + `hh:mm:ss` + optional `.` and 1–9
    /// fractional digits + (`Z` | `z` | `+hh:mm` | `-hh:mm`). This includes Go's `time.Time`
    /// JSON output (RFC3339Nano), e.g. `"2024-01-15T10:30:00.123456789Z"` and `"2024-01-15T10:30:00+07:00"`.
    ///
    /// - Fractional digits beyond the sixth are truncated, not rounded.
    /// - Ranges are validated: month 1–12, day 1–28/29/30/31 per month with Gregorian leap years,
    ///   hour 0–23, minute 0–59, second 0–60, offset hours 0–23 and minutes 0–59.
    /// - A leap second (`:60`) is accepted and clamped to `:59.999999` of the same minute, which keeps ordering.
    /// - `-00:00` is treated as UTC.
    /// - The resulting UTC instant must lie within `rfc3339Range` (years 0001–9999).
    public init?(rfc3339 text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Self.parseRFC3339($0) }) else { return nil }
        self = parsed
    }

    private static func parseRFC3339(_ bytes: UnsafeBufferPointer<UInt8>) -> Timestamp? {
        // Minimum: "YYYY-MM-DDThh:mm:ssZ" (20 bytes); maximum adds ".fffffffff" and "+hh:mm".
        guard bytes.count >= 20, bytes.count <= 35 else { return nil }

        func digits(_ offset: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for index in offset..<(offset + count) {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }

        guard let year = digits(0, 4), bytes[4] == UInt8(ascii: "-"),
              let month = digits(5, 2), bytes[7] == UInt8(ascii: "-"),
              let day = digits(8, 2),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              let hour = digits(11, 2), bytes[13] == UInt8(ascii: ":"),
              let minute = digits(14, 2), bytes[16] == UInt8(ascii: ":"),
              var second = digits(17, 2)
        else { return nil }

        guard (1...12).contains(month),
              day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }

        var index = 19
        var fractionMicros: Int64 = 0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            var scale: Int64 = 100_000
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                // Digits beyond the sixth are validated but truncated.
                fractionMicros += Int64(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            let fractionDigits = index - fractionStart
            guard fractionDigits >= 1, fractionDigits <= 9 else { return nil }
        }

        guard index < bytes.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = bytes[index] == UInt8(ascii: "+") ? 1 : -1
            guard bytes.count - index == 6,
                  let offsetHours = digits(index + 1, 2), bytes[index + 3] == UInt8(ascii: ":"),
                  let offsetMinutes = digits(index + 4, 2),
                  offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            index += 6
        default:
            return nil
        }
        guard index == bytes.count else { return nil }

        if second == 60 {
            second = 59
            fractionMicros = microsPerSecond - 1
        }
        let days = days(fromCivilYear: year, month: month, day: day)
        let localSeconds = days * 86_400 + hour * 3600 + minute * 60 + second
        let micros = (localSeconds - offsetSeconds) * microsPerSecond + fractionMicros
        let timestamp = Timestamp(microsecondsSinceEpoch: micros)
        guard rfc3339Range.contains(timestamp) else { return nil }
        return timestamp
    }

    // MARK: Civil calendar (Howard Hinnant, proleptic Gregorian)

    private static let microsPerSecond: Int64 = 1_000_000
    private static let microsPerDay: Int64 = 86_400_000_000

    /// Floor division with a non-negative remainder (`divisor` must be positive).
    static func floorDivide(_ value: Int64, by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    private static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (`days_from_civil`).
    static func days(fromCivilYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400                                            // [0, 399]
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1 // [0, 365]
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear  // [0, 146096]
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date for days since 1970-01-01 (`civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097                                                        // [0, 146096]
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365 // [0, 399]
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)          // [0, 365]
        let shiftedMonth = (5 * dayOfYear + 2) / 153                                            // [0, 11]
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1                                  // [1, 31]
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9                     // [1, 12]
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
