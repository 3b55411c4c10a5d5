import NIOCore

extension ByteBuffer {
    /// Reads a length-encoded integer (`int<lenenc>`); `nil` when the buffer is too short or the first byte is not a
    /// valid prefix (`0xFB` is NULL in rows and `0xFF` an error header, never an integer).
    mutating func readLengthEncodedInteger() -> UInt64? {
        let save = self.readerIndex
        guard let first = self.readInteger(as: UInt8.self) else { return nil }
        let value: UInt64?
        switch first {
        case 0..<0xFB: value = UInt64(first)
        case 0xFC: value = self.readInteger(endianness: .little, as: UInt16.self).map(UInt64.init)
        case 0xFD:
            if let bytes = self.readBytes(length: 3) {
                value = UInt64(bytes[0]) | UInt64(bytes[1]) << 8 | UInt64(bytes[2]) << 16
            } else {
                value = nil
            }
        case 0xFE: value = self.readInteger(endianness: .little, as: UInt64.self)
        default: value = nil
        }
        if value == nil { self.moveReaderIndex(to: save) }
        return value
    }

    /// Writes `value` as a length-encoded integer (`int<lenenc>`).
    mutating func writeLengthEncodedInteger(_ value: UInt64) {
        switch value {
        case 0..<0xFB: self.writeInteger(UInt8(value))
        case 0xFB...0xFFFF:
            self.writeInteger(UInt8(0xFC))
            self.writeInteger(UInt16(value), endianness: .little)
        case 0x1_0000...0xFF_FFFF:
            self.writeInteger(UInt8(0xFD))
            self.writeInteger(UInt8(truncatingIfNeeded: value))
            self.writeInteger(UInt8(truncatingIfNeeded: value >> 8))
            self.writeInteger(UInt8(truncatingIfNeeded: value >> 16))
        default:
            self.writeInteger(UInt8(0xFE))
            self.writeInteger(value, endianness: .little)
        }
    }

    /// Reads a length-encoded byte string (`string<lenenc>`); `nil` when truncated.
    mutating func readLengthEncodedSlice() -> ByteBuffer? {
        let save = self.readerIndex
        guard let length = self.readLengthEncodedInteger(), length <= UInt64(Int.max),
            let slice = self.readSlice(length: Int(length))
        else {
            self.moveReaderIndex(to: save)
            return nil
        }
        return slice
    }

    /// Reads a length-encoded UTF-8 string; `nil` when truncated.
    mutating func readLengthEncodedString() -> String? {
        guard var slice = self.readLengthEncodedSlice() else { return nil }
        return slice.readString(length: slice.readableBytes)
    }

    /// Writes `bytes` as a length-encoded byte string.
    mutating func writeLengthEncodedBytes(_ bytes: some Collection<UInt8>) {
        self.writeLengthEncodedInteger(UInt64(bytes.count))
        self.writeBytes(bytes)
    }

    /// Reads a NUL-terminated string (`string<NUL>`); `nil` when no NUL follows.
    mutating func readMySQLCString() -> String? {
        guard let end = self.readableBytesView.firstIndex(of: 0) else { return nil }
        let string = self.readString(length: end - self.readerIndex)
        self.moveReaderIndex(forwardBy: 1)
        return string
    }

    /// Writes `string` followed by a NUL byte.
    mutating func writeMySQLCString(_ string: String) {
        self.writeString(string)
        self.writeInteger(UInt8(0))
    }
}
