import NIOCore
import NIOEmbedded
import XCTest

@testable import RedisClient

final class RESPParserTests: XCTestCase {
    private let fixtures: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString(ByteBuffer(string: "OK"))),
        ("+\r\n", .simpleString(ByteBuffer())),
        ("-WRONGTYPE Operation against a key\r\n", .error(ByteBuffer(string: "WRONGTYPE Operation against a key"))),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        (":-9223372036854775808\r\n", .integer(.min)),
        ("$5\r\nhello\r\n", .bulkString(ByteBuffer(string: "hello"))),
        ("$0\r\n\r\n", .bulkString(ByteBuffer())),
        ("$4\r\na\r\nb\r\n", .bulkString(ByteBuffer(string: "a\r\nb"))),
        ("$-1\r\n", .bulkString(nil)),
        ("*0\r\n", .array([])),
        ("*-1\r\n", .array(nil)),
        (
            "*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n$-1\r\n*-1\r\n",
            .array([.integer(1), .bulkString(ByteBuffer(string: "foo")), .array([.bulkString(nil), .array(nil)])])
        ),
        ("*2\r\n*1\r\n+a\r\n-ERR x\r\n", .array([.array([.simpleString(ByteBuffer(string: "a"))]), .error(ByteBuffer(string: "ERR x"))])),
    ]

    private func parseAll(_ chunks: [ByteBuffer], limits: RESPLimits = .init()) throws -> [RESPValue] {
        let parser = RESPParser(limits: limits)
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for chunk in chunks {
            buffer.writeImmutableBuffer(chunk)
            while let value = try parser.next(from: &buffer) { values.append(value) }
        }
        XCTAssertEqual(buffer.readableBytes, 0, "bytes left over")
        return values
    }

    func testEveryFixtureDecodesToItsValue() throws {
        for (text, expected) in self.fixtures {
            XCTAssertEqual(try self.parseAll([ByteBuffer(string: text)]), [expected], text.debugDescription)
        }
    }

    func testValueSplitAtEveryByteDecodesTheSame() throws {
        for (text, expected) in self.fixtures {
            let bytes = Array(text.utf8)
            for split in 0...bytes.count {
                let chunks = [ByteBuffer(bytes: bytes[..<split]), ByteBuffer(bytes: bytes[split...])]
                XCTAssertEqual(try self.parseAll(chunks), [expected], "\(text.debugDescription) split at \(split)")
            }
        }
    }

    func testAllFixturesFedOneByteAtATimeDecodeInOrder() throws {
        let stream = self.fixtures.map(\.0).joined()
        let chunks = stream.utf8.map { ByteBuffer(bytes: [$0]) }
        XCTAssertEqual(try self.parseAll(chunks), self.fixtures.map(\.1))
    }

    func testIncompleteValueConsumesNothing() throws {
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nfoo\r\n$3\r\nba")
        XCTAssertNil(try RESPParser().next(from: &buffer))
        XCTAssertEqual(buffer.readerIndex, 0)
    }

    func testEncodedValuesDecodeBackToThemselves() throws {
        var buffer = ByteBuffer()
        for (_, value) in self.fixtures { RESPEncoder.encode(value, into: &buffer) }
        XCTAssertEqual(try self.parseAll([buffer]), self.fixtures.map(\.1))
    }

    func testCommandIsEncodedAsArrayOfBulkStrings() {
        var buffer = ByteBuffer()
        RESPEncoder.encode(
            RedisCommand("SET", ["k", RedisArgument([0xFF, 0x00]), RedisArgument(ByteBuffer(string: "é")), 42]),
            into: &buffer
        )
        XCTAssertEqual(
            Array(buffer.readableBytesView),
            Array("*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n".utf8) + [0xFF, 0x00] + Array("\r\n$2\r\né\r\n$2\r\n42\r\n".utf8)
        )
    }

    func testMalformedInputThrowsProtocolError() {
        let malformed = [
            "?x\r\n", ":12a\r\n", ":\r\n", ":-\r\n", ":99999999999999999999\r\n", "$abc\r\n", "$-2\r\n", "*-5\r\n",
            "$3\r\nfooXY", "+OK\rX", "*1\r\n!\r\n", ":123456789012345678901\r\n",
        ]
        for text in malformed {
            var buffer = ByteBuffer(string: text)
            XCTAssertThrowsError(try RESPParser().next(from: &buffer), text.debugDescription) { error in
                XCTAssertEqual((error as? RedisError)?.code, .protocolError)
            }
        }
    }

    func testBulkStringOverTheLimitIsRejectedBeforeItArrives() {
        var buffer = ByteBuffer(string: "$1025\r\n")
        XCTAssertThrowsError(try RESPParser(limits: .init(maximumBulkLength: 1024)).next(from: &buffer)) { error in
            XCTAssertEqual((error as? RedisError)?.code, .protocolError)
        }
        var ok = ByteBuffer(string: "$1024\r\n" + String(repeating: "x", count: 1024) + "\r\n")
        XCTAssertNotNil(try RESPParser(limits: .init(maximumBulkLength: 1024)).next(from: &ok))
    }

    func testDefaultBulkLimitIs512MiB() {
        XCTAssertEqual(RESPLimits().maximumBulkLength, 512 * 1024 * 1024)
        var buffer = ByteBuffer(string: "$\(512 * 1024 * 1024 + 1)\r\n")
        XCTAssertThrowsError(try RESPParser().next(from: &buffer))
    }

    func testNestingDeeperThanTheLimitIsRejected() throws {
        let limit = RESPLimits().maximumDepth
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: limit + 1) + ":1\r\n")
        XCTAssertThrowsError(try RESPParser().next(from: &deep)) { error in
            XCTAssertEqual((error as? RedisError)?.code, .protocolError)
        }
        var allowed = ByteBuffer(string: String(repeating: "*1\r\n", count: limit) + ":1\r\n")
        XCTAssertNotNil(try RESPParser().next(from: &allowed))
    }

    func testHugeDeclaredLengthsWithUnlimitedLimitsWaitInsteadOfTrapping() throws {
        let unlimited = RESPLimits(maximumBulkLength: .max, maximumDepth: 32, maximumArrayCount: .max)
        for text in ["$9223372036854775807\r\n", "*9223372036854775807\r\n:1\r\n"] {
            var buffer = ByteBuffer(string: text)
            XCTAssertNil(try RESPParser(limits: unlimited).next(from: &buffer), text.debugDescription)
        }
    }

    func testArrayCountOverTheLimitIsRejected() {
        var buffer = ByteBuffer(string: "*11\r\n")
        XCTAssertThrowsError(try RESPParser(limits: .init(maximumArrayCount: 10)).next(from: &buffer))
    }

    /// Each part of an array can be within its limits while the whole grows without end: the bytes of one reply
    /// still arriving are bounded too. Complete values before it do not count.
    func testAReplyStillArrivingOverTheReplyLimitIsRejected() throws {
        let limits = RESPLimits(maximumBulkLength: 30, maximumReplyLength: 64)
        let element = "$30\r\n" + String(repeating: "x", count: 30) + "\r\n"
        var growing = ByteBuffer(string: "*3\r\n" + element + element)
        XCTAssertThrowsError(try RESPParser(limits: limits).next(from: &growing)) { error in
            XCTAssertEqual((error as? RedisError)?.code, .protocolError)
            XCTAssertTrue("\(error)".contains("more than 64 bytes"), "\(error)")
        }
        var waiting = ByteBuffer(string: ":1\r\n:2\r\n*2\r\n" + element)
        var values: [RESPValue] = []
        try RESPParser(limits: limits).parseAll(from: &waiting) { values.append($0) }
        XCTAssertEqual(values, [.integer(1), .integer(2)], "complete values are not counted; 41 bytes still wait")
        XCTAssertEqual(RESPLimits().maximumReplyLength, 1024 * 1024 * 1024)
    }

    func testEndlessLineIsRejectedAtTheLineLimit() {
        var buffer = ByteBuffer(string: "+" + String(repeating: "a", count: 200))
        XCTAssertThrowsError(try RESPParser(limits: .init(maximumLineLength: 100)).next(from: &buffer))
    }

    func testRandomInputNeverCrashesTheParser() {
        var generator = SplitMix64(seed: 0x5EED)
        let alphabet = Array("+-:$*\r\n0123456789-abc".utf8)
        let parser = RESPParser(limits: .init(maximumBulkLength: 64, maximumDepth: 8, maximumLineLength: 64))
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 40)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                bytes.append(
                    generator.next() % 4 == 0 ? UInt8(truncatingIfNeeded: generator.next())
                        : alphabet[Int(generator.next() % UInt64(alphabet.count))]
                )
            }
            var buffer = ByteBuffer(bytes: bytes)
            while true {
                guard (try? parser.next(from: &buffer)) != nil else { break }
            }
        }
    }

    func testRandomValidValuesSurviveRandomSplits() throws {
        var generator = SplitMix64(seed: 42)
        func randomValue(depth: Int) -> RESPValue {
            switch generator.next() % (depth < 4 ? 7 : 5) {
            case 0: .simpleString(ByteBuffer(string: String(repeating: "s", count: Int(generator.next() % 5))))
            case 1: .error(ByteBuffer(string: "ERR e\(generator.next() % 100)"))
            case 2: .integer(Int64(bitPattern: generator.next()))
            case 3: .bulkString(ByteBuffer(bytes: (0..<(generator.next() % 12)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }))
            case 4: .bulkString(nil)
            case 5: .array(nil)
            default: .array((0..<(generator.next() % 4)).map { _ in randomValue(depth: depth + 1) })
            }
        }
        for _ in 0..<300 {
            let values = (0..<5).map { _ in randomValue(depth: 0) }
            var stream = ByteBuffer()
            for value in values { RESPEncoder.encode(value, into: &stream) }
            var chunks: [ByteBuffer] = []
            while stream.readableBytes > 0 {
                chunks.append(stream.readSlice(length: min(stream.readableBytes, Int(generator.next() % 7) + 1))!)
            }
            XCTAssertEqual(try self.parseAll(chunks), values)
        }
    }

    func testDecoderHandlerEmitsValuesAndFailsOnGarbage() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPValueDecoder()))
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n:1"))
        XCTAssertEqual(try channel.readInbound(as: RESPValue.self), .simpleString(ByteBuffer(string: "OK")))
        XCTAssertNil(try channel.readInbound(as: RESPValue.self))
        try channel.writeInbound(ByteBuffer(string: "\r\n"))
        XCTAssertEqual(try channel.readInbound(as: RESPValue.self), .integer(1))
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(string: "!bad\r\n"))) { error in
            XCTAssertEqual((error as? RedisError)?.code, .protocolError)
        }
        _ = try? channel.finish()
    }

    func testCommandEncoderHandlerWritesRESP() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(RESPCommandEncoder()))
        try channel.writeOutbound(RedisCommand.get("k"))
        XCTAssertEqual(try channel.readOutbound(as: ByteBuffer.self), ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
        _ = try channel.finish()
    }
}

/// A small seeded generator, so random tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
