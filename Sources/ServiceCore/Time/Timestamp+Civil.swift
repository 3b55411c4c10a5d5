/// A UTC date and time of day with microseconds, as SQL `DATETIME(6)`/`TIMESTAMP(6)` columns hold them.
public struct CivilDateTime: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var microsecond: Int

    /// Creates a value; nothing is validated here (``Timestamp/init(civil:)`` does).
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
    }
}

extension Timestamp {
    /// The instant's UTC calendar date and time of day.
    public var civil: CivilDateTime {
        let (days, microsOfDay) = Self.floorDivide(self.microsecondsSinceEpoch, by: 86_400_000_000)
        let date = Self.civil(fromDays: days)
        let seconds = microsOfDay / 1_000_000
        return CivilDateTime(
            year: Int(date.year), month: Int(date.month), day: Int(date.day),
            hour: Int(seconds / 3600), minute: Int(seconds / 60 % 60), second: Int(seconds % 60),
            microsecond: Int(microsOfDay % 1_000_000)
        )
    }

    /// The instant of a UTC calendar date and time; nil when a field is out of range.
    public init?(civil: CivilDateTime) {
        guard (1...9999).contains(civil.year), (1...12).contains(civil.month), civil.day >= 1,
            Int64(civil.day) <= Self.daysInMonth(year: Int64(civil.year), month: Int64(civil.month)),
            (0...23).contains(civil.hour), (0...59).contains(civil.minute), (0...59).contains(civil.second),
            (0...999_999).contains(civil.microsecond)
        else { return nil }
        let days = Self.days(fromCivilYear: Int64(civil.year), month: Int64(civil.month), day: Int64(civil.day))
        let seconds = Int64(civil.hour * 3600 + civil.minute * 60 + civil.second)
        self.init(microsecondsSinceEpoch: days * 86_400_000_000 + seconds * 1_000_000 + Int64(civil.microsecond))
    }
}
