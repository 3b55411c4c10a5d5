import NIOCore

/// Primitive AMQP 0-9-1 types on `ByteBuffer`. Every reader throws a protocol error on truncated input; none traps.
extension ByteBuffer {
    mutating func readAMQPInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws -> T {
        guard let value = self.readInteger(endianness: .big, as: T.self) else {
            throw AMQPError.protocolError("truncated \(T.self)")
        }
        return value
    }

    mutating func readAMQPShortString() throws -> String {
        let length: UInt8 = try self.readAMQPInteger()
        guard let string = self.readString(length: Int(length)) else {
            throw AMQPError.protocolError("truncated short string")
        }
        return string
    }

    mutating func readAMQPLongBytes() throws -> ByteBuffer {
        let length: UInt32 = try self.readAMQPInteger()
        guard length <= Int32.max, let slice = self.readSlice(length: Int(length)) else {
            throw AMQPError.protocolError("truncated long string")
        }
        return slice
    }

    mutating func readAMQPLongString() throws -> String {
        var bytes = try self.readAMQPLongBytes()
        return bytes.readString(length: bytes.readableBytes) ?? ""
    }

    /// Reads `count` packed bits (AMQP packs consecutive bit fields into octets, least significant bit first).
    mutating func readAMQPBits(_ count: Int) throws -> [Bool] {
        var bits: [Bool] = []
        bits.reserveCapacity(count)
        var octet: UInt8 = 0
        for index in 0..<count {
            if index % 8 == 0 { octet = try self.readAMQPInteger() }
            bits.append(octet & (1 << UInt8(index % 8)) != 0)
        }
        return bits
    }

    mutating func writeAMQPShortString(_ string: String) throws {
        let count = string.utf8.count
        guard count <= 255 else {
            throw AMQPError.invalidArgument("short string of \(count) bytes (at most 255): \(string.prefix(40))...")
        }
        self.writeInteger(UInt8(count))
        self.writeString(string)
    }

    mutating func writeAMQPLongString(_ string: String) {
        self.writeInteger(UInt32(string.utf8.count))
        self.writeString(string)
    }

    mutating func writeAMQPLongBytes(_ bytes: ByteBuffer) {
        self.writeInteger(UInt32(bytes.readableBytes))
        var bytes = bytes
        self.writeBuffer(&bytes)
    }

    mutating func writeAMQPBits(_ bits: Bool...) {
        var octet: UInt8 = 0
        for (index, bit) in bits.enumerated() {
            if index > 0, index % 8 == 0 {
                self.writeInteger(octet)
                octet = 0
            }
            if bit { octet |= 1 << UInt8(index % 8) }
        }
        self.writeInteger(octet)
    }
}
