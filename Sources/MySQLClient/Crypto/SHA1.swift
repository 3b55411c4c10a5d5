/// SHA-1 (FIPS 180-4 §6.1, RFC 3174).
///
/// SHA-1 is broken for collision resistance, but `mysql_native_password`'s scramble and the RSA-OAEP padding MySQL
/// servers decrypt are defined with it, and neither depends on collision resistance.
enum SHA1 {
    /// The 20-byte digest of `message`.
    static func hash(_ message: [UInt8]) -> [UInt8] {
        var state: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var schedule = [UInt32](repeating: 0, count: 80)
        SHABlocks.forEach(in: message) { block in
            for t in 0..<16 { schedule[t] = SHABlocks.word(t, of: block) }
            for t in 16..<80 {
                schedule[t] = (schedule[t - 3] ^ schedule[t - 8] ^ schedule[t - 14] ^ schedule[t - 16]).rotatedLeft(by: 1)
            }
            var (a, b, c, d, e) = (state[0], state[1], state[2], state[3], state[4])
            for t in 0..<80 {
                let f: UInt32
                let k: UInt32
                switch t {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)  // Ch
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)  // Parity
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)  // Maj
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)  // Parity
                }
                let temp = a.rotatedLeft(by: 5) &+ f &+ e &+ k &+ schedule[t]
                (e, d, c, b, a) = (d, c, b.rotatedLeft(by: 30), a, temp)
            }
            state[0] &+= a
            state[1] &+= b
            state[2] &+= c
            state[3] &+= d
            state[4] &+= e
        }
        return SHABlocks.digest(state)
    }
}
