/// Base64 decoding (RFC 4648 §4, the standard alphabet with `=` padding), for PEM bodies.
enum Base64 {
    /// The bytes `text` encodes. Whitespace anywhere is skipped, as PEM wraps its body in lines; anything else
    /// outside the alphabet, a length that is not a multiple of four, or padding before the end is an error.
    static func decode(_ text: some Sequence<UInt8>) throws(RSAError) -> [UInt8] {
        var output: [UInt8] = []
        var group: UInt32 = 0
        var groupCount = 0
        var padding = 0
        for character in text {
            if character == UInt8(ascii: " ") || character == UInt8(ascii: "\t") || character == UInt8(ascii: "\n")
                || character == UInt8(ascii: "\r")
            {
                continue
            }
            let value: UInt32
            if character == UInt8(ascii: "=") {
                // At most two, and only in the last group.
                guard groupCount >= 2, padding < 2 else { throw .invalidPEM("misplaced base64 padding") }
                padding += 1
                value = 0
            } else {
                guard padding == 0 else { throw .invalidPEM("base64 data after padding") }
                guard let sextet = Self.sextet(character) else {
                    throw .invalidPEM("invalid base64 character 0x\(String(character, radix: 16))")
                }
                value = sextet
            }
            group = group << 6 | value
            groupCount += 1
            if groupCount == 4 {
                output.append(UInt8(truncatingIfNeeded: group >> 16))
                if padding < 2 { output.append(UInt8(truncatingIfNeeded: group >> 8)) }
                if padding < 1 { output.append(UInt8(truncatingIfNeeded: group)) }
                group = 0
                groupCount = 0
            }
        }
        guard groupCount == 0 else { throw .invalidPEM("truncated base64 (length not a multiple of four)") }
        return output
    }

    private static func sextet(_ character: UInt8) -> UInt32? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(character - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(character - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(character - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
