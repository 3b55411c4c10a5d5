import XCTest

@testable import MySQLClient

/// SHA-1 and SHA-256 against known answers: the FIPS 180 / NIST examples, and messages around the padding
/// boundaries (bytes 0, 1, 2, … of the given length) hashed with Python's hashlib.
final class HashTests: XCTestCase {
    private static let nist448 = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
    private static let nist896 = Array(
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            .utf8)
    private static let millionA = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)

    private static func counting(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0) }
    }

    /// 55 bytes is the longest tail that fits the length in its block, 56 the shortest that needs another; 64 is a
    /// whole block, 119/120 the same boundary after a whole block, 1000 several blocks and a tail.
    private static let boundaryLengths = [55, 56, 63, 64, 65, 119, 120, 1000]

    func testSHA1KnownAnswers() {
        XCTAssertEqual(SHA1.hash([]), Fixture.bytes("da39a3ee5e6b4b0d3255bfef95601890afd80709"))
        XCTAssertEqual(SHA1.hash(Array("abc".utf8)), Fixture.bytes("a9993e364706816aba3e25717850c26c9cd0d89d"))
        XCTAssertEqual(SHA1.hash(Self.nist448), Fixture.bytes("84983e441c3bd26ebaae4aa1f95129e5e54670f1"))
        XCTAssertEqual(SHA1.hash(Self.nist896), Fixture.bytes("a49b2446a02c645bf419f995b67091253a04a259"))
        XCTAssertEqual(SHA1.hash(Self.millionA), Fixture.bytes("34aa973cd4c4daa4f61eeb2bdbad27316534016f"))
    }

    func testSHA256KnownAnswers() {
        XCTAssertEqual(
            SHA256.hash([]), Fixture.bytes("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        XCTAssertEqual(
            SHA256.hash(Array("abc".utf8)),
            Fixture.bytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        XCTAssertEqual(
            SHA256.hash(Self.nist448),
            Fixture.bytes("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"))
        XCTAssertEqual(
            SHA256.hash(Self.nist896),
            Fixture.bytes("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"))
        XCTAssertEqual(
            SHA256.hash(Self.millionA),
            Fixture.bytes("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"))
    }

    func testSHA1AtPaddingBoundaries() {
        let expected = [
            "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2",
            "636e2ec698dac903498e648bd2f3af641d3c88cb",
            "6d942da0c4392b123528f2905c713a3ce28364bd",
            "c6138d514ffa2135bfce0ed0b8fac65669917ec7",
            "69bd728ad6e13cd76ff19751fde427b00e395746",
            "41c89d06001bab4ab78736b44efe7ce18ce6ae08",
            "d3dbd653bd8597b7475321b60a36891278e6a04a",
            "af0b191c2de46fe13fe0908f5a6a4e90e0cafc46",
        ]
        for (length, digest) in zip(Self.boundaryLengths, expected) {
            XCTAssertEqual(SHA1.hash(Self.counting(length)), Fixture.bytes(digest), "length \(length)")
        }
    }

    func testSHA256AtPaddingBoundaries() {
        let expected = [
            "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59",
            "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562",
            "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488",
            "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108",
            "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781",
            "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6",
            "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c",
            "a8af099bf2e878609558dbf69d8f88f4a31040a8cf84b549a0cfa912f12ffc3f",
        ]
        for (length, digest) in zip(Self.boundaryLengths, expected) {
            XCTAssertEqual(SHA256.hash(Self.counting(length)), Fixture.bytes(digest), "length \(length)")
        }
    }
}
