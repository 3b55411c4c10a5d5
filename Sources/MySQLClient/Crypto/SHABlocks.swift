/// The message framing SHA-1 and SHA-256 share (FIPS 180-4 §5.1.1, §5.2.1): 64-byte blocks, the last ones padded with
/// 0x80, zeros and the message length in bits as a big-endian 64-bit number.
enum SHABlocks {
    /// Calls `body` with each 64-byte block of the padded `message`, in order.
    ///
    /// The full blocks are handed out straight from `message`; only the tail (one or two blocks) is copied, so
    /// hashing a large message does not duplicate it.
    static func forEach(in message: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) {
        let fullBlockBytes = message.count / 64 * 64
        message.withUnsafeBytes { bytes in
            for start in stride(from: 0, to: fullBlockBytes, by: 64) {
                body(UnsafeRawBufferPointer(rebasing: bytes[start..<start + 64]))
            }
        }
        var tail = Array(message[fullBlockBytes...])
        tail.append(0x80)
        // The length needs the last 8 bytes of a block: a tail of more than 55 bytes spills into a second block.
        let paddedCount = tail.count <= 56 ? 64 : 128
        tail.append(contentsOf: repeatElement(0, count: paddedCount - 8 - tail.count))
        tail.append(contentsOf: (UInt64(message.count) &* 8).bigEndianBytes)
        tail.withUnsafeBytes { bytes in
            for start in stride(from: 0, to: paddedCount, by: 64) {
                body(UnsafeRawBufferPointer(rebasing: bytes[start..<start + 64]))
            }
        }
    }

    /// The `index`th big-endian 32-bit word of a block.
    @inline(__always)
    static func word(_ index: Int, of block: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(bigEndian: block.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
    }

    /// The final hash value: the state words, big-endian, in order.
    static func digest(_ state: [UInt32]) -> [UInt8] {
        state.flatMap(\.bigEndianBytes)
    }
}

extension FixedWidthInteger {
    /// The value's bytes, most significant first.
    var bigEndianBytes: [UInt8] {
        (0..<Self.bitWidth / 8).reversed().map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) }
    }
}

extension UInt32 {
    @inline(__always)
    func rotatedLeft(by count: UInt32) -> UInt32 { (self << count) | (self >> (32 - count)) }

    @inline(__always)
    func rotatedRight(by count: UInt32) -> UInt32 { (self >> count) | (self << (32 - count)) }
}
