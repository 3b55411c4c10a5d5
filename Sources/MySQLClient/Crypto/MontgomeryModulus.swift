/// Multiplication modulo an odd `n` in Montgomery form, where `x` is kept as `x·R mod n` with `R = 2^(64·s)` for
/// `n`'s `s` limbs.
///
/// A Montgomery product `a·b·R⁻¹ mod n` needs no division: each step adds the multiple of `n` that clears the lowest
/// limb, then drops that limb. This is the CIOS method (Koç, Acar and Kaliski, "Analyzing and Comparing Montgomery
/// Multiplication Algorithms", 1996).
struct MontgomeryModulus {
    /// `n`, `s` limbs.
    private let modulus: [UInt64]
    /// `−n⁻¹ mod 2⁶⁴`: multiplying the lowest limb by it gives the multiple of `n` that clears that limb.
    private let negatedInverse: UInt64
    /// `R² mod n`: one Montgomery product with it puts a value into Montgomery form.
    private let rSquared: [UInt64]

    /// - Precondition: `modulus` is odd and greater than 1.
    init(_ modulus: BigUInt) {
        precondition(modulus.isOdd && modulus > BigUInt(1), "a Montgomery modulus must be odd and greater than 1")
        let n = modulus.limbs
        self.modulus = n

        // Newton's iteration x ← x·(2 − n₀·x) doubles the number of correct low bits of n₀⁻¹. An odd n₀ is its own
        // inverse modulo 8 (3 bits), so five steps give 96 ≥ 64.
        var inverse = n[0]
        for _ in 0..<5 { inverse = inverse &* (2 &- n[0] &* inverse) }
        self.negatedInverse = 0 &- inverse

        // R mod n, the Montgomery form of 1, by doubling from the largest power of two below n (which needs no
        // reduction).
        let topBit = modulus.bitCount - 1
        var one = [UInt64](repeating: 0, count: n.count)
        one[topBit / 64] = 1 << UInt64(topBit % 64)
        for _ in topBit..<(64 * n.count) { Self.double(&one, modulo: n) }
        // R² mod n is the Montgomery form of 2^(64·s): raise 2 to that power on Montgomery forms, where squaring is a
        // Montgomery product and multiplying by 2 a doubling. A dozen products instead of thousands of doublings.
        let exponent = 64 * n.count
        var power = one
        for index in stride(from: Int.bitWidth - exponent.leadingZeroBitCount - 1, through: 0, by: -1) {
            power = Self.product(power, power, modulus: n, negatedInverse: self.negatedInverse)
            if (exponent >> index) & 1 == 1 { Self.double(&power, modulo: n) }
        }
        self.rSquared = power
    }

    /// `x·R mod n`. `x` may be up to `n`'s limb count long, so it need not be reduced first.
    func montgomeryForm(of x: BigUInt) -> [UInt64] {
        precondition(x.limbs.count <= self.modulus.count, "the value is longer than the modulus")
        return self.product(self.padded(x.limbs), self.rSquared)
    }

    /// The value a Montgomery form `x·R mod n` stands for.
    func value(ofMontgomeryForm x: [UInt64]) -> BigUInt {
        BigUInt(limbs: self.product(x, self.padded([1])))
    }

    /// `a·b·R⁻¹ mod n`, for `a` and `b` of `s` limbs with `a·b < R·n` (true when either is below `n`).
    func product(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        Self.product(a, b, modulus: self.modulus, negatedInverse: self.negatedInverse)
    }

    private static func product(_ a: [UInt64], _ b: [UInt64], modulus: [UInt64], negatedInverse: UInt64)
        -> [UInt64]
    {
        let s = modulus.count
        // t stays below a + n < 2R (Koç et al.), so s + 2 limbs hold it.
        var t = [UInt64](repeating: 0, count: s + 2)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                modulus.withUnsafeBufferPointer { n in
                    t.withUnsafeMutableBufferPointer { t in
                        for i in 0..<s {
                            // t += a·b[i]
                            var carry: UInt64 = 0
                            for j in 0..<s { (carry, t[j]) = Self.multiplyAdd(a[j], b[i], t[j], carry) }
                            let (top, overflow) = t[s].addingReportingOverflow(carry)
                            t[s] = top
                            t[s + 1] = overflow ? 1 : 0
                            // t = (t + m·n) / 2⁶⁴, with m chosen so that the lowest limb becomes zero.
                            let m = t[0] &* negatedInverse
                            carry = Self.multiplyAdd(m, n[0], t[0], 0).high
                            for j in 1..<s { (carry, t[j - 1]) = Self.multiplyAdd(m, n[j], t[j], carry) }
                            let (shiftedTop, shiftedOverflow) = t[s].addingReportingOverflow(carry)
                            t[s - 1] = shiftedTop
                            t[s] = t[s + 1] &+ (shiftedOverflow ? 1 : 0)
                        }
                    }
                }
            }
        }
        // a·b < R·n makes the result below 2n: at most one subtraction reduces it.
        var result = Array(t[0..<s])
        if t[s] != 0 || !Self.isLess(result, modulus) { Self.subtract(modulus, from: &result) }
        return result
    }

    private func padded(_ limbs: [UInt64]) -> [UInt64] {
        limbs + repeatElement(0, count: self.modulus.count - limbs.count)
    }

    /// `x = 2x mod n`, for `x` below `n`.
    private static func double(_ x: inout [UInt64], modulo n: [UInt64]) {
        let carry = x[x.count - 1] >> 63
        for index in stride(from: x.count - 1, to: 0, by: -1) { x[index] = x[index] << 1 | x[index - 1] >> 63 }
        x[0] <<= 1
        // 2x < 2n, so one subtraction is enough; a carry out of the top limb is cancelled by its borrow.
        if carry != 0 || !Self.isLess(x, n) { Self.subtract(n, from: &x) }
    }

    /// `x·y + z + w` as two limbs. It cannot overflow: `(2⁶⁴−1)² + 2·(2⁶⁴−1) = 2¹²⁸ − 1`.
    @inline(__always)
    private static func multiplyAdd(_ x: UInt64, _ y: UInt64, _ z: UInt64, _ w: UInt64)
        -> (high: UInt64, low: UInt64)
    {
        let product = x.multipliedFullWidth(by: y)
        let (low, overflow1) = product.low.addingReportingOverflow(z)
        let (sum, overflow2) = low.addingReportingOverflow(w)
        return (product.high &+ (overflow1 ? 1 : 0) &+ (overflow2 ? 1 : 0), sum)
    }

    /// `x < y` for limb arrays of equal length.
    private static func isLess(_ x: [UInt64], _ y: [UInt64]) -> Bool {
        for index in stride(from: x.count - 1, through: 0, by: -1) where x[index] != y[index] {
            return x[index] < y[index]
        }
        return false
    }

    /// `x -= y` modulo `2^(64·count)`, for limb arrays of equal length; callers know any borrow out is cancelled by a
    /// limb they drop.
    private static func subtract(_ y: [UInt64], from x: inout [UInt64]) {
        var borrow = false
        for index in x.indices {
            let (difference, borrow1) = x[index].subtractingReportingOverflow(y[index])
            let (result, borrow2) = difference.subtractingReportingOverflow(borrow ? 1 : 0)
            x[index] = result
            borrow = borrow1 || borrow2
        }
    }
}

extension BigUInt {
    /// `base^exponent mod modulus`, by left-to-right square-and-multiply on Montgomery forms.
    ///
    /// - Precondition: `modulus` is odd and greater than 1; `base` has no more limbs than `modulus` (it need not be
    ///   below it).
    static func modularPower(base: BigUInt, exponent: BigUInt, modulus: BigUInt) -> BigUInt {
        let montgomery = MontgomeryModulus(modulus)
        let base = montgomery.montgomeryForm(of: base)
        var result = montgomery.montgomeryForm(of: BigUInt(1))
        for index in stride(from: exponent.bitCount - 1, through: 0, by: -1) {
            result = montgomery.product(result, result)
            if exponent.bit(index) { result = montgomery.product(result, base) }
        }
        return montgomery.value(ofMontgomeryForm: result)
    }
}
