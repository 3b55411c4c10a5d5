/// A calendar date and wall-clock time with microseconds, as MySQL stores `DATETIME(6)`, `TIMESTAMP(6)` and `DATE`.
///
/// No time zone: MySQL sends `TIMESTAMP` values in the session's time zone (set `time_zone = '+00:00'` for UTC).
/// Thread-safety: an immutable value; `Sendable`.
public struct MySQLDateTime: Equatable, Hashable, Sendable, CustomStringConvertible, Codable {
    /// The year (0...9999).
    public var year: Int
    /// The month (1...12; 0 in MySQL's zero date).
    public var month: Int
    /// The day of the month (1...31; 0 in MySQL's zero date).
    public var day: Int
    /// The hour (0...23).
    public var hour: Int
    /// The minute (0...59).
    public var minute: Int
    /// The second (0...59).
    public var second: Int
    /// The microsecond (0...999_999).
    public var microsecond: Int

    /// Creates a date-time; the time defaults to midnight.
    public init(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, microsecond: Int = 0
    ) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
    }

    /// Parses MySQL's text form: `YYYY-MM-DD`, `YYYY-MM-DD hh:mm:ss` or `YYYY-MM-DD hh:mm:ss.ffffff` (1 to 6
    /// fractional digits); `nil` for anything else.
    public init?(mySQLText text: String) {
        let utf8 = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= utf8.count, !range.isEmpty else { return nil }
            var value = 0
            for byte in utf8[range] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard utf8.count >= 10, utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10)
        else { return nil }
        self.init(year: year, month: month, day: day)
        if utf8.count == 10 { return }
        guard utf8.count >= 19, utf8[10] == UInt8(ascii: " ") || utf8[10] == UInt8(ascii: "T"),
            utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        self.hour = hour
        self.minute = minute
        self.second = second
        if utf8.count == 19 { return }
        guard utf8[19] == UInt8(ascii: "."), utf8.count <= 26, let fraction = number(20..<utf8.count) else {
            return nil
        }
        var micro = fraction
        for _ in 0..<(26 - utf8.count) { micro *= 10 }
        self.microsecond = micro
    }

    /// `YYYY-MM-DD hh:mm:ss.ffffff`, MySQL's literal form.
    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(self.year, 4))-\(pad(self.month, 2))-\(pad(self.day, 2)) "
            + "\(pad(self.hour, 2)):\(pad(self.minute, 2)):\(pad(self.second, 2)).\(pad(self.microsecond, 6))"
    }
}
