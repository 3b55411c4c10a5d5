import Timing
/// Reads durations as people write them in flags and environment variables: `250ms`, `1.5s`, `10m`, `24h`,
/// or a bare number of seconds.
public enum DurationParser {
    /// The duration, or nil when `text` is not one.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace()
        let units: [(suffix: String, nanoseconds: Double)] = [
            ("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9),
        ]
        var number = Substring(trimmed)
        var scale = 1e9
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            number = trimmed.dropLast(unit.suffix.count)
            scale = unit.nanoseconds
            break
        }
        guard !number.isEmpty, let value = Double(number), value.isFinite, value >= 0 else { return nil }
        let nanoseconds = value * scale
        guard nanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// A comma-separated list of durations, e.g. `1s,10s,60s`.
    public static func parseList(_ text: String) -> [Duration]? {
        let parts = text.split(separator: ",")
        guard !parts.isEmpty else { return nil }
        var result: [Duration] = []
        for part in parts {
            guard let duration = Self.parse(String(part)) else { return nil }
            result.append(duration)
        }
        return result
    }

    /// `1s`, `250ms`, `1.5s`: a short form for logs and help texts.
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.totalNanoseconds
        if nanoseconds % 1_000_000_000 == 0 {
            let seconds = nanoseconds / 1_000_000_000
            if seconds % 3600 == 0 && seconds > 0 { return "\(seconds / 3600)h" }
            if seconds % 60 == 0 && seconds > 0 { return "\(seconds / 60)m" }
            return "\(seconds)s"
        }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        return "\(nanoseconds)ns"
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = self.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = self.lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
