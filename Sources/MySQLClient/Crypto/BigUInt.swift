/// A non-negative integer of any size, with just what RSA needs: big-endian bytes in and out, comparison, and
/// ``modularPower(base:exponent:modulus:)`` (in MontgomeryModulus.swift).
///
/// Not constant-time. That is fine for the client's public-key operation, whose inputs the server already knows or
/// chose at random per message; private-key operations run only in tests.
struct BigUInt: Comparable, Sendable {
    /// Little-endian 64-bit limbs without high zero limbs, so that equal values have equal limbs; zero has none.
    let limbs: [UInt64]

    init(limbs: [UInt64]) {
        var limbs = limbs
        while limbs.last == 0 { limbs.removeLast() }
        self.limbs = limbs
    }

    init(_ value: UInt64) {
        self.init(limbs: [value])
    }

    /// The integer a big-endian byte string spells; leading zeros are allowed.
    init(bigEndianBytes bytes: [UInt8]) {
        var limbs: [UInt64] = []
        limbs.reserveCapacity((bytes.count + 7) / 8)
        var end = bytes.count
        while end > 0 {
            let start = max(0, end - 8)
            limbs.append(bytes[start..<end].reduce(0) { $0 << 8 | UInt64($1) })
            end = start
        }
        self.init(limbs: limbs)
    }

    /// The value as exactly `count` big-endian bytes, zero-padded on the left (RSA's I2OSP); nil when it needs more.
    func bigEndianBytes(count: Int) -> [UInt8]? {
        guard (self.bitCount + 7) / 8 <= count else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        for position in 0..<min(count, self.limbs.count * 8) {
            bytes[count - 1 - position] = UInt8(truncatingIfNeeded: self.limbs[position / 8] >> (position % 8 * 8))
        }
        return bytes
    }

    /// The number of bits up to and including the highest set one; 0 for zero.
    var bitCount: Int {
        guard let top = self.limbs.last else { return 0 }
        return self.limbs.count * 64 - top.leadingZeroBitCount
    }

    var isOdd: Bool { (self.limbs.first ?? 0) & 1 == 1 }

    /// Bit `index`, counting from the least significant (0).
    func bit(_ index: Int) -> Bool {
        let limb = index / 64
        return limb < self.limbs.count && (self.limbs[limb] >> (index % 64)) & 1 == 1
    }

    static func < (lhs: BigUInt, rhs: BigUInt) -> Bool {
        guard lhs.limbs.count == rhs.limbs.count else { return lhs.limbs.count < rhs.limbs.count }
        for (left, right) in zip(lhs.limbs.reversed(), rhs.limbs.reversed()) where left != right {
            return left < right
        }
        return false
    }
}
