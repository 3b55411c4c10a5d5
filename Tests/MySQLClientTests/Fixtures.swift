import NIOCore

@testable import MySQLClient

/// Byte fixtures and builders for server packets.
enum Fixture {
    /// Bytes from a hex string (whitespace ignored).
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    static func buffer(_ hex: String) -> ByteBuffer { ByteBuffer(bytes: bytes(hex)) }

    static func packet(_ hex: String, sequenceID: UInt8) -> MySQLPacket {
        MySQLPacket(sequenceID: sequenceID, payload: buffer(hex))
    }

    static func packet(_ bytes: [UInt8], sequenceID: UInt8) -> MySQLPacket {
        MySQLPacket(sequenceID: sequenceID, payload: ByteBuffer(bytes: bytes))
    }

    /// The nonce in ``mariaDBHandshake``: "12345678" + "abcdefghijkl".
    static let nonce = Array("12345678abcdefghijkl".utf8)

    /// A MariaDB 10.11 HandshakeV10 offering mysql_native_password.
    static let mariaDBHandshake = """
        0a 352e352e352d31302e31312e362d4d617269614442 00
        08000000 3132333435363738 00 fff7 2d 0200 ff81 15 000000000000 1d000000
        6162636465666768696a6b6c 00
        6d7973716c5f6e61746976655f70617373776f7264 00
        """

    /// A MySQL 8 HandshakeV10 offering caching_sha2_password (same nonce).
    static let mySQL8Handshake = """
        0a 382e302e3336 00
        0b000000 3132333435363738 00 ffff ff 0200 ffdf 15 00000000000000000000
        6162636465666768696a6b6c 00
        63616368696e675f736861325f70617373776f7264 00
        """

    /// `OK_Packet`: 0 affected rows, status autocommit.
    static let ok = "00 00 00 0200 0000"

    /// A `ColumnDefinition41` payload.
    static func column(
        _ name: String, type: MySQLType, flags: UInt16 = 0, characterSet: UInt16 = 45, decimals: UInt8 = 0
    ) -> [UInt8] {
        var buffer = ByteBuffer()
        for text in ["def", "order_db", "t", "t", name, name] {
            buffer.writeLengthEncodedBytes(Array(text.utf8))
        }
        buffer.writeInteger(UInt8(0x0C))
        buffer.writeInteger(characterSet, endianness: .little)
        buffer.writeInteger(UInt32(255), endianness: .little)
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(flags, endianness: .little)
        buffer.writeInteger(decimals)
        buffer.writeInteger(UInt16(0), endianness: .little)
        return Array(buffer.readableBytesView)
    }
}

/// A small deterministic random generator (SplitMix64) for seeded fuzzing.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
