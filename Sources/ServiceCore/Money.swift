// Exact money amounts in integer cents; parsing and formatting never go through Double.

/// An exact amount of money in integer cents (two decimal places).
///
/// Text is parsed digit by digit without `Double`, so `0.10 + 0.20 == 0.30` exactly.
///
/// Arithmetic: the `+` / `-` operators (from `AdditiveArithmetic`) use normal Swift arithmetic and
/// therefore **trap on `Int64` overflow**. They are meant for amounts that were already validated to
/// sane bounds (order totals are many orders of magnitude below `Int64` cents). For unvalidated
/// amounts use `adding(_:)`, `subtracting(_:)` and `multiplied(by:)`, which return `nil` on overflow.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible, AdditiveArithmetic {
    /// The amount in cents (hundredths of the currency unit); negative for negative amounts.
    public var cents: Int64

    /// Creates an amount from a number of cents.
    public init(cents: Int64) {
        self.cents = cents
    }

    /// Zero cents.
    public static let zero = Money(cents: 0)

    /// Why a text could not be parsed as `Money`.
    public enum ParseError: Error, Sendable, Equatable {
        /// The text is not a number in JSON (RFC 8259) number syntax: empty, stray characters,
        /// whitespace, a leading `+`, leading zeros, a bare `.`, a missing exponent, and so on.
        case notANumber
        /// The value has a non-zero digit below one cent (e.g. `"1.005"`, `"1e-3"`).
        /// Trailing zeros are fine: `"1.500"` parses as 1.50.
        case tooManyDecimals
        /// The magnitude in cents exceeds `Int64.max` (92233720368547758.07). The range is
        /// symmetric, so `-92233720368547758.08` is also out of range.
        case outOfRange
    }

    /// Parses the exact text of a JSON number, e.g. `"99.99"`, `"100"`, `"99.9"`, `"1e2"`, `"0.10"`, `"-5"`.
    ///
    /// The text must match the RFC 8259 number grammar exactly (no surrounding whitespace). Exponent
    /// forms are evaluated exactly: `"1.5e1"` is 15.00, `"12345e-2"` is 123.45. Negative values parse
    /// to negative cents (`"-0"` is zero); checking sign and bounds is the caller's job.
    ///
    /// - Throws: `.notANumber` for bad syntax, `.tooManyDecimals` if a non-zero digit falls below one
    ///   cent, `.outOfRange` if the magnitude exceeds `Int64.max` cents.
    public init(jsonNumber text: String) throws(ParseError) {
        var text = text
        let result = text.withUTF8 { Self.parse($0) }
        switch result {
        case .success(let cents): self.cents = cents
        case .failure(let error): throw error
        }
    }

    /// Parses a decimal string as MySQL prints `DECIMAL(10,2)`, e.g. `"99.90"`, `"-0.50"`, `"100.00"`, `"0.00"`.
    ///
    /// Same rules as `init(jsonNumber:)` (exponents are accepted too); returns `nil` instead of throwing.
    public init?(decimalString: String) {
        guard let money = try? Money(jsonNumber: decimalString) else { return nil }
        self = money
    }

    // MARK: Formatting

    /// The shortest exact decimal form, valid as JSON number text:
    /// 99.90 → `"99.9"`, 100.00 → `"100"`, 0.05 → `"0.05"`, 0 → `"0"`, -1.50 → `"-1.5"`.
    public var description: String {
        let units = cents.magnitude / 100
        let fraction = cents.magnitude % 100
        let sign = cents < 0 ? "-" : ""
        if fraction == 0 {
            return "\(sign)\(units)"
        }
        if fraction % 10 == 0 {
            return "\(sign)\(units).\(fraction / 10)"
        }
        return "\(sign)\(units).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The fixed two-decimal form for SQL `DECIMAL` parameters: `"99.90"`, `"-0.05"`, `"0.00"`.
    public var decimalString: String {
        let units = cents.magnitude / 100
        let fraction = cents.magnitude % 100
        let sign = cents < 0 ? "-" : ""
        return "\(sign)\(units).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    // MARK: Arithmetic

    /// The sum; traps on `Int64` overflow (see the type's documentation; use `adding(_:)` for untrusted values).
    public static func + (lhs: Money, rhs: Money) -> Money {
        Money(cents: lhs.cents + rhs.cents)
    }

    /// The difference; traps on `Int64` overflow (use `subtracting(_:)` for untrusted values).
    public static func - (lhs: Money, rhs: Money) -> Money {
        Money(cents: lhs.cents - rhs.cents)
    }

    /// The sum, or `nil` if it overflows `Int64` cents.
    public func adding(_ other: Money) -> Money? {
        let (sum, overflow) = cents.addingReportingOverflow(other.cents)
        return overflow ? nil : Money(cents: sum)
    }

    /// The difference `self - other`, or `nil` if it overflows `Int64` cents.
    public func subtracting(_ other: Money) -> Money? {
        let (difference, overflow) = cents.subtractingReportingOverflow(other.cents)
        return overflow ? nil : Money(cents: difference)
    }

    /// The amount times `factor` (e.g. unit price × quantity), or `nil` if it overflows `Int64` cents.
    public func multiplied(by factor: Int64) -> Money? {
        let (product, overflow) = cents.multipliedReportingOverflow(by: factor)
        return overflow ? nil : Money(cents: product)
    }

    /// The average of `total` over `count` items, rounded to whole cents half away from zero.
    ///
    /// Exact integer arithmetic (no `Double`) that cannot overflow for any `Int64` total;
    /// a `count` of zero or less returns `.zero`. Examples: 10.00 / 3 = 3.33, 0.05 / 2 = 0.03,
    /// 0.01 / 2 = 0.01, 0.01 / 3 = 0.00, -0.05 / 2 = -0.03.
    public static func average(of total: Money, count: Int64) -> Money {
        guard count > 0 else { return .zero }
        // count >= 1, so neither division nor remainder can overflow (even for Int64.min).
        let (quotient, remainder) = total.cents.quotientAndRemainder(dividingBy: count)
        // Round half away from zero: |remainder| / count >= 1/2  <=>  2|remainder| >= count.
        // |remainder| < count <= Int64.max, so 2|remainder| fits in UInt64.
        guard remainder.magnitude * 2 >= count.magnitude else { return Money(cents: quotient) }
        // Here count >= 2, so |quotient| <= |total| / 2 and moving one cent away from zero cannot overflow.
        return Money(cents: total.cents < 0 ? quotient - 1 : quotient + 1)
    }

    /// Orders amounts by value.
    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.cents < rhs.cents
    }

    // MARK: Parsing

    /// Parses JSON number text into cents exactly.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<Int64, ParseError> {
        let zero = UInt8(ascii: "0")
        let nine = UInt8(ascii: "9")
        @inline(__always) func isDigit(_ index: Int) -> Bool {
            index < bytes.count && bytes[index] >= zero && bytes[index] <= nine
        }

        // 1. Validate the RFC 8259 number grammar and locate the parts.
        var index = 0
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let integerStart = index
        guard isDigit(index) else { return .failure(.notANumber) }
        if bytes[index] == zero {
            index += 1
            if isDigit(index) { return .failure(.notANumber) } // leading zero
        } else {
            while isDigit(index) { index += 1 }
        }
        let integerEnd = index
        var fractionStart = index
        var fractionEnd = index
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fractionStart = index
            guard isDigit(index) else { return .failure(.notANumber) }
            while isDigit(index) { index += 1 }
            fractionEnd = index
        }
        // Exponent, saturated far beyond any meaningful magnitude so huge exponents cannot overflow.
        let exponentLimit = 100_000_000
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard isDigit(index) else { return .failure(.notANumber) }
            while isDigit(index) {
                if exponent < exponentLimit {
                    exponent = exponent * 10 + Int(bytes[index] - zero)
                }
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        guard index == bytes.count else { return .failure(.notANumber) }

        // 2. The digits (integer part then fraction part) form an integer D; value = D × 10^(exponent - fractionCount).
        let integerCount = integerEnd - integerStart
        let fractionCount = fractionEnd - fractionStart
        let digitCount = integerCount + fractionCount
        @inline(__always) func digit(_ position: Int) -> UInt8 {
            position < integerCount
                ? bytes[integerStart + position] - zero
                : bytes[fractionStart + position - integerCount] - zero
        }
        var first = 0
        while first < digitCount, digit(first) == 0 { first += 1 }
        if first == digitCount { return .success(0) } // zero, whatever the sign or exponent
        var last = digitCount - 1
        while digit(last) == 0 { last -= 1 }

        // 3. cents = D' × 10^shift, where D' are the significant digits first...last (last is non-zero).
        let shift = exponent - fractionCount + 2 + (digitCount - 1 - last)
        if shift < 0 { return .failure(.tooManyDecimals) }
        let significantCount = last - first + 1
        // Int64.max has 19 digits; anything longer cannot fit.
        if significantCount + shift > 19 { return .failure(.outOfRange) }
        var magnitude: UInt64 = 0
        for position in first...last {
            magnitude = magnitude * 10 + UInt64(digit(position)) // at most 19 digits: fits in UInt64
        }
        for _ in 0..<shift {
            magnitude *= 10 // total digits <= 19: fits in UInt64
        }
        guard magnitude <= UInt64(Int64.max) else { return .failure(.outOfRange) }
        let cents = Int64(magnitude)
        return .success(negative ? -cents : cents)
    }
}
