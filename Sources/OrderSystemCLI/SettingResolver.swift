import ArgumentParser
import Logging
import ServiceCore

/// Resolves each setting as flag > environment > default, and says where a bad value came from.
///
/// Environment variables are looked up in order (e.g. `ORDER_DB_HOST`, then `DB_HOST`); an empty variable counts
/// as unset, as in the original.
public struct SettingResolver: Sendable {
    /// The process environment (or a test's).
    public var environment: [String: String]

    /// Creates a resolver over `environment`.
    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// The first non-empty variable of `names`, with its name.
    func lookup(_ names: [String]) -> (name: String, value: String)? {
        for name in names {
            if let value = self.environment[name], !value.isEmpty { return (name, value) }
        }
        return nil
    }

    /// A string setting.
    public func string(_ flag: String?, env names: [String], default defaultValue: String) -> String {
        flag ?? self.lookup(names)?.value ?? defaultValue
    }

    /// An optional string setting (no default).
    public func optionalString(_ flag: String?, env names: [String]) -> String? {
        flag ?? self.lookup(names)?.value
    }

    /// A secret (a password, a URL holding one) from the environment only: the first of `names` that is set, either
    /// as `NAME` or as `NAME_FILE` (a file holding it, as container and Kubernetes secrets are mounted; one trailing
    /// newline is dropped), with the variable it came from. Setting both of one name is an error, and so is a file
    /// that cannot be read; neither error shows the secret.
    public func secret(env names: [String]) throws -> (value: String, source: String)? {
        for name in names {
            let direct = self.environment[name].flatMap { $0.isEmpty ? nil : $0 }
            let file = self.environment["\(name)_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            switch (direct, file) {
            case (.some, .some):
                throw ValidationError("\(name) and \(name)_FILE are both set: set one of them")
            case (.some(let value), nil):
                return (value, name)
            case (nil, .some(let path)):
                return (try SettingFile.text(at: path, variable: "\(name)_FILE"), "\(name)_FILE")
            case (nil, nil):
                continue
            }
        }
        return nil
    }

    /// A true/false setting (`true`, `false`, `1`, `0`, `yes`, `no`, `on`, `off`).
    public func bool(_ flag: Bool?, option: String, env names: [String], default defaultValue: Bool) throws -> Bool {
        if let flag { return flag }
        guard let found = self.lookup(names) else { return defaultValue }
        switch found.value.trimmingWhitespace().lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ValidationError("\(found.name)='\(found.value)' is not true or false")
        }
    }

    /// An integer setting within `range`.
    public func int(
        _ flag: Int?,
        option: String,
        env names: [String],
        default defaultValue: Int,
        range: ClosedRange<Int>
    ) throws -> Int {
        let (value, source): (Int, String)
        if let flag {
            (value, source) = (flag, "--\(option)")
        } else if let found = self.lookup(names) {
            guard let parsed = Int(found.value.trimmingWhitespace()) else {
                throw ValidationError("\(found.name)='\(found.value)' is not an integer")
            }
            (value, source) = (parsed, found.name)
        } else {
            return defaultValue
        }
        guard range.contains(value) else {
            throw ValidationError("\(source)=\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A port: 0 (any free port) to 65535.
    public func port(_ flag: Int?, option: String, env names: [String], default defaultValue: Int) throws -> Int {
        try self.int(flag, option: option, env: names, default: defaultValue, range: 0...65535)
    }

    /// A port that is off unless set.
    public func optionalPort(_ flag: Int?, option: String, env names: [String]) throws -> Int? {
        guard flag != nil || self.lookup(names) != nil else { return nil }
        return try self.port(flag, option: option, env: names, default: 0)
    }

    /// A fraction in 0...1.
    public func fraction(_ flag: Double?, option: String, env names: [String], default defaultValue: Double) throws -> Double {
        let (value, source): (Double, String)
        if let flag {
            (value, source) = (flag, "--\(option)")
        } else if let found = self.lookup(names) {
            guard let parsed = Double(found.value.trimmingWhitespace()) else {
                throw ValidationError("\(found.name)='\(found.value)' is not a number")
            }
            (value, source) = (parsed, found.name)
        } else {
            return defaultValue
        }
        guard value >= 0, value <= 1 else { throw ValidationError("\(source)=\(value) must be between 0 and 1") }
        return value
    }

    /// A duration such as `250ms`, `1s`, `24h`.
    public func duration(_ flag: String?, option: String, env names: [String], default defaultValue: Duration) throws -> Duration {
        guard let (text, source) = self.raw(flag, option: option, env: names) else { return defaultValue }
        guard let duration = DurationParser.parse(text) else {
            throw ValidationError("\(source)='\(text)' is not a duration (examples: 250ms, 1s, 10m, 24h)")
        }
        return duration
    }

    /// A duration above zero: a timeout of nothing would close every connection at once.
    public func positiveDuration(
        _ flag: String?, option: String, env names: [String], default defaultValue: Duration
    ) throws -> Duration {
        let value = try self.duration(flag, option: option, env: names, default: defaultValue)
        guard value > .zero else {
            let source = self.raw(flag, option: option, env: names)?.1 ?? "--\(option)"
            throw ValidationError("\(source) must be more than 0")
        }
        return value
    }

    /// A comma-separated list of durations.
    public func durations(
        _ flag: String?,
        option: String,
        env names: [String],
        default defaultValue: [Duration]
    ) throws -> [Duration] {
        guard let (text, source) = self.raw(flag, option: option, env: names) else { return defaultValue }
        guard let durations = DurationParser.parseList(text), !durations.isEmpty else {
            throw ValidationError("\(source)='\(text)' is not a list of durations (example: 1s,10s,60s)")
        }
        return durations
    }

    /// One of a fixed set of values.
    public func choice<T: RawRepresentable & CaseIterable>(
        _ flag: String?,
        option: String,
        env names: [String],
        default defaultValue: T
    ) throws -> T where T.RawValue == String {
        guard let (text, source) = self.raw(flag, option: option, env: names) else { return defaultValue }
        guard let value = T(rawValue: text.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(source)='\(text)' is not one of: \(allowed)")
        }
        return value
    }

    /// A log level.
    public func logLevel(_ flag: String?) throws -> Logger.Level {
        guard let (text, source) = self.raw(flag, option: "log-level", env: ["LOG_LEVEL"]) else { return .info }
        // The original used logrus names; "warn" and "fatal"/"panic" map onto swift-log's levels.
        switch text.lowercased() {
        case "warn": return .warning
        case "fatal", "panic": return .critical
        default:
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ValidationError("\(source)='\(text)' is not a log level (trace, debug, info, notice, warning, error, critical)")
            }
            return level
        }
    }

    private func raw(_ flag: String?, option: String, env names: [String]) -> (String, String)? {
        if let flag { return (flag, "--\(option)") }
        if let found = self.lookup(names) { return (found.value, found.name) }
        return nil
    }
}
