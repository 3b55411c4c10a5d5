import NIOCore
import XCTest

@testable import MySQLClient

final class PacketTests: XCTestCase {
    func testLengthEncodedIntegersUseTheDocumentedPrefixes() {
        let cases: [(UInt64, String)] = [
            (0, "00"), (250, "fa"), (251, "fcfb00"), (0xFFFF, "fcffff"), (0x1_0000, "fd000001"),
            (0xFF_FFFF, "fdffffff"), (0x100_0000, "fe0000000100000000"), (UInt64.max, "feffffffffffffffff"),
        ]
        for (value, hex) in cases {
            var buffer = ByteBuffer()
            buffer.writeLengthEncodedInteger(value)
            XCTAssertEqual(Array(buffer.readableBytesView), Fixture.bytes(hex), "\(value)")
            XCTAssertEqual(buffer.readLengthEncodedInteger(), value)
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testTruncatedOrInvalidLengthEncodedIntegersReadAsNilWithoutConsuming() {
        for hex in ["", "fc01", "fd0102", "fe01020304050607", "fb", "ff"] {
            var buffer = Fixture.buffer(hex)
            XCTAssertNil(buffer.readLengthEncodedInteger(), hex)
            XCTAssertEqual(buffer.readableBytes, hex.count / 2, hex)
        }
    }

    func testLengthEncodedStringLongerThanTheBufferIsNil() {
        var buffer = Fixture.buffer("05 616263")
        XCTAssertNil(buffer.readLengthEncodedString())
    }

    func testSmallPayloadIsFramedWithLengthAndSequence() {
        var out = ByteBuffer()
        let next = MySQLPacketEncoder.encode(payload: Fixture.buffer("0e"), sequenceID: 0, into: &out)
        XCTAssertEqual(Array(out.readableBytesView), Fixture.bytes("01000000 0e"))
        XCTAssertEqual(next, 1)
    }

    func testPayloadOf16MBOrMoreIsSplitAndJoinedBack() throws {
        for size in [mySQLMaximumPacketPayload - 1, mySQLMaximumPacketPayload, mySQLMaximumPacketPayload + 5,
                     2 * mySQLMaximumPacketPayload]
        {
            var payload = ByteBuffer()
            payload.writeRepeatingByte(0xAB, count: size)
            var out = ByteBuffer()
            let next = MySQLPacketEncoder.encode(payload: payload, sequenceID: 3, into: &out)
            let parts = size / mySQLMaximumPacketPayload + 1
            XCTAssertEqual(out.readableBytes, size + 4 * parts, "size \(size)")
            XCTAssertEqual(next, UInt8(3 + parts))
            var decoder = MySQLPacketDecoder()
            let packet = try XCTUnwrap(try decoder.next(from: &out))
            XCTAssertEqual(packet.payload.readableBytes, size)
            XCTAssertEqual(packet.sequenceID, UInt8(3 + parts - 1))
            XCTAssertEqual(out.readableBytes, 0)
        }
    }

    func testDecoderWaitsForCompletePacketsAcrossArbitraryChunks() throws {
        var stream = ByteBuffer()
        MySQLPacketEncoder.encode(payload: Fixture.buffer("010203"), sequenceID: 1, into: &stream)
        MySQLPacketEncoder.encode(payload: Fixture.buffer(""), sequenceID: 2, into: &stream)
        MySQLPacketEncoder.encode(payload: Fixture.buffer("ff"), sequenceID: 3, into: &stream)
        let bytes = Array(stream.readableBytesView)
        var decoder = MySQLPacketDecoder()
        var buffer = ByteBuffer()
        var packets: [MySQLPacket] = []
        for byte in bytes {
            buffer.writeInteger(byte)
            while let packet = try decoder.next(from: &buffer) { packets.append(packet) }
        }
        XCTAssertEqual(packets.map(\.sequenceID), [1, 2, 3])
        XCTAssertEqual(packets.map { Array($0.payload.readableBytesView) }, [[1, 2, 3], [], [0xFF]])
    }

    func testDecoderRejectsPacketsOverItsLimit() {
        var decoder = MySQLPacketDecoder(maximumPayloadLength: 10)
        var buffer = Fixture.buffer("0b0000 00 0102030405060708090a0b")
        XCTAssertThrowsError(try decoder.next(from: &buffer)) { error in
            XCTAssertEqual((error as? MySQLError)?.code, .packetTooLarge)
            XCTAssertFalse((error as? MySQLError)?.isTransient ?? true, "the same statement gets the same reply")
            XCTAssertTrue("\(error)".contains("at least 11 bytes, over the limit of 10 bytes"), "\(error)")
        }
        // Exactly the limit is a packet like any other.
        var atLimit = Fixture.buffer("0a0000 00 0102030405060708090a")
        XCTAssertEqual(try decoder.next(from: &atLimit)?.payload.readableBytes, 10)
    }

    /// The header alone decides: a packet over the limit is refused before its payload is waited for, so the client
    /// never buffers it (here the 16 MB part announced has not arrived at all).
    func testDecoderRefusesAnOversizedPacketFromItsHeaderAlone() {
        var decoder = MySQLPacketDecoder(maximumPayloadLength: 1 << 20)
        var buffer = Fixture.buffer("ffffff 01")
        XCTAssertThrowsError(try decoder.next(from: &buffer)) { error in
            XCTAssertEqual((error as? MySQLError)?.code, .packetTooLarge)
        }
    }

    func testOKPacketCarriesAffectedRowsAndLastInsertID() throws {
        let ok = try MySQLOKPacket(payload: Fixture.buffer("00 03 fc1027 0300 0100"))
        XCTAssertEqual(ok.affectedRows, 3)
        XCTAssertEqual(ok.lastInsertID, 10000)
        XCTAssertEqual(ok.status, [.inTransaction, .autocommit])
        XCTAssertEqual(ok.warnings, 1)
    }

    func testErrorPacketBecomesServerErrorWithStateAndMessage() throws {
        var payload = Fixture.buffer("ff 2604 23 3233303030")
        payload.writeString("Duplicate entry 'a' for key 'PRIMARY'")
        let error = try parseErrorPacket(payload)
        XCTAssertEqual(error.code, .server)
        XCTAssertEqual(error.serverErrorNumber, 1062)
        XCTAssertEqual(error.sqlState, "23000")
        XCTAssertTrue(error.isDuplicateKey)
        XCTAssertEqual(error.message, "Duplicate entry 'a' for key 'PRIMARY'")
    }

    func testErrorPacketBeforeHandshakeMayLackSQLState() throws {
        var payload = Fixture.buffer("ff 1004")
        payload.writeString("Too many connections")
        let error = try parseErrorPacket(payload)
        XCTAssertEqual(error.serverErrorNumber, 1040)
        XCTAssertNil(error.sqlState)
        XCTAssertEqual(error.message, "Too many connections")
    }

    func testExecuteEncodesTypesNullBitmapAndValues() {
        let statement = MySQLPreparedStatement(id: 7, parameterCount: 4, columns: [])
        let payload = MySQLCommand.execute(
            statement,
            [.int(-2), .null, .string("ab"), .dateTime(.init(year: 2026, month: 11, day: 25, hour: 13, minute: 47,
                                                             second: 39, microsecond: 123456))]
        ).encode()
        XCTAssertEqual(
            Array(payload.readableBytesView),
            Fixture.bytes(
                """
                17 07000000 00 01000000
                02 01
                0800 0600 fd00 0c00
                feffffffffffffff
                02 6162
                0b ea07 0b 19 0d 2f 27 40e20100
                """))
    }
}
