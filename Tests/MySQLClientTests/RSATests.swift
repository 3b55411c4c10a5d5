import XCTest

@testable import MySQLClient

/// The RSA path of `caching_sha2_password`: big-integer arithmetic, key parsing and OAEP, each checked against
/// values from an independent implementation (Python's `cryptography` and its `pow`).
final class RSATests: XCTestCase {
    /// What `caching_sha2_password` encrypts for "orderpass" and ``Fixture/nonce``.
    private static let xoredPassword = Fixture.bytes("5e4057514746564b1262")

    // MARK: Big integers

    func testBigUIntBytesRoundTripAndCompare() {
        let value = BigUInt(bigEndianBytes: Fixture.bytes("00 0102030405060708 090a"))
        XCTAssertEqual(value.limbs, [0x0304_0506_0708_090A, 0x0102])
        XCTAssertEqual(value.bitCount, 73)
        XCTAssertEqual(value.bigEndianBytes(count: 12), Fixture.bytes("00 00 0102030405060708 090a"))
        XCTAssertNil(value.bigEndianBytes(count: 9))
        XCTAssertEqual(BigUInt(bigEndianBytes: []).bigEndianBytes(count: 2), [0, 0])
        XCTAssertLessThan(BigUInt(0xFFFF_FFFF_FFFF_FFFF), value)
        XCTAssertLessThan(value, BigUInt(bigEndianBytes: Fixture.bytes("0102030405060708 090b")))
        XCTAssertEqual(BigUInt(bigEndianBytes: [0, 0, 7]), BigUInt(7))
    }

    func testModularPowerMatchesPython() {
        func power(_ base: String, _ exponent: String, _ modulus: String) -> [UInt8]? {
            BigUInt.modularPower(
                base: BigUInt(bigEndianBytes: Fixture.bytes(base)),
                exponent: BigUInt(bigEndianBytes: Fixture.bytes(exponent)),
                modulus: BigUInt(bigEndianBytes: Fixture.bytes(modulus))
            ).bigEndianBytes(count: Fixture.bytes(modulus).count)
        }
        // pow(4, 13, 497) = 445
        XCTAssertEqual(power("04", "0d", "01f1"), Fixture.bytes("01bd"))
        XCTAssertEqual(power("04", "", "01f1"), Fixture.bytes("0001"))
        XCTAssertEqual(power("", "0d", "01f1"), Fixture.bytes("0000"))
        // A modulus just below R (2¹⁹² − 237), whose Montgomery products carry into the extra limb, and a base above it.
        XCTAssertEqual(
            power(
                "ffffffffffffffffffffffffffffffffffffffffffffffff", "010000000001234567",
                "ffffffffffffffffffffffffffffffffffffffffffffff13"),
            Fixture.bytes("9ab3ff8a39843c12fa09b663b7e5b45eeb45b26cd5da45a2"))
        XCTAssertEqual(
            power(
                "254c66175d9dc9f81818e811892f902bd23f0824128b2f33", "0381e74ef5e8e25d940ed90475",
                "23171ff4a6a3a4506513270e269e0d37f2a74de452e6b439"),
            Fixture.bytes("129abb171d1a194de5d0e8f221bec99d19992e4464517ec2"))
    }

    // MARK: Keys

    func testSubjectPublicKeyInfoPEMParses() throws {
        let key = try RSAPublicKey(pem: RSATestKey.publicKeyPEM)
        XCTAssertEqual(key.modulus, RSATestKey.modulus)
        XCTAssertEqual(key.publicExponent, RSATestKey.publicExponent)
        XCTAssertEqual(key.modulusByteCount, 256)
    }

    func testPKCS1PEMParsesToTheSameKey() throws {
        XCTAssertEqual(
            try RSAPublicKey(pem: RSATestKey.pkcs1PublicKeyPEM), try RSAPublicKey(pem: RSATestKey.publicKeyPEM))
    }

    func testPEMWithCRLFAndSurroundingTextParses() throws {
        let pem = "key follows\r\n" + RSATestKey.publicKeyPEM.split(separator: "\n").joined(separator: "\r\n")
            + "\r\ntrailing text\r\n"
        XCTAssertEqual(try RSAPublicKey(pem: pem), try RSAPublicKey(pem: RSATestKey.publicKeyPEM))
    }

    func testMalformedPEMIsRejected() {
        var lines = RSATestKey.publicKeyPEM.split(separator: "\n").map(String.init)
        func error(_ pem: String) -> RSAError? {
            do {
                _ = try RSAPublicKey(pem: pem)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(error("not a key"), .invalidPEM("no -----BEGIN line"))
        XCTAssertEqual(
            error(lines.dropLast().joined(separator: "\n")), .invalidPEM("no -----END PUBLIC KEY----- line"))
        XCTAssertEqual(
            error("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            .invalidPEM("unsupported PEM type \"CERTIFICATE\""))

        var badCharacter = lines
        badCharacter[1] = "!" + badCharacter[1].dropFirst()
        XCTAssertEqual(error(badCharacter.joined(separator: "\n")), .invalidPEM("invalid base64 character 0x21"))

        var badLength = lines
        badLength[1].removeLast()
        XCTAssertEqual(
            error(badLength.joined(separator: "\n")),
            .invalidPEM("truncated base64 (length not a multiple of four)"))

        var earlyPadding = lines
        earlyPadding[1] = "AA==" + earlyPadding[1].dropFirst(4)
        XCTAssertEqual(error(earlyPadding.joined(separator: "\n")), .invalidPEM("base64 data after padding"))

        // Valid base64 of a cut-off DER structure: the last body line ("lQIDAQAB") dropped.
        lines.remove(at: lines.count - 2)
        XCTAssertEqual(error(lines.joined(separator: "\n")), .invalidDER("truncated SEQUENCE"))
    }

    func testKeyOfAnotherAlgorithmIsRejected() {
        // An EC P-256 public key (id-ecPublicKey), generated with Python's `cryptography`.
        let ecKey = """
            -----BEGIN PUBLIC KEY-----
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdwzE1c/3D7ih9eFdt2DgBVy6ak9y
            7IGTO+RgKqLwJEihv0QCOw8swNbIMZ4JXHTSd6/nWUDZN9dSilxEbGetCA==
            -----END PUBLIC KEY-----
            """
        XCTAssertThrowsError(try RSAPublicKey(pem: ecKey)) { error in
            XCTAssertEqual(error as? RSAError, .unsupportedAlgorithm("1.2.840.10045.2.1"))
        }
    }

    func testMalformedDERIsRejected() {
        func error(_ hex: String) -> RSAError? {
            do {
                _ = try RSAPublicKey(pkcs1: Fixture.bytes(hex))
                return nil
            } catch {
                return error
            }
        }
        XCTAssertNil(error("3006 0201 0f 0201 03"))  // n = 15, e = 3: tiny but well-formed
        XCTAssertEqual(error("3006 0201 0f 0201 03 00"), .invalidDER("unexpected bytes after the RSAPublicKey"))
        XCTAssertEqual(error("3007 0201 0f 0201 03"), .invalidDER("truncated SEQUENCE"))
        XCTAssertEqual(error("3080 0201 0f 0201 03 0000"), .invalidDER("unsupported length encoding"))
        XCTAssertEqual(error("308106 0201 0f 0201 03"), .invalidDER("non-minimal length"))
        XCTAssertEqual(error("3006 0201 8f 0201 03"), .invalidDER("negative INTEGER"))
        XCTAssertEqual(error("3006 0401 0f 0201 03"), .invalidDER("expected INTEGER, found tag 0x4"))
        XCTAssertEqual(error("3003 0201 0f"), .invalidDER("missing INTEGER"))
        XCTAssertEqual(error("3006 0201 0e 0201 03"), .invalidKey("the modulus is not an odd number above 1"))
        XCTAssertEqual(error("3006 0201 0f 0201 01"), .invalidKey("the public exponent is out of range"))
        XCTAssertEqual(error("3006 0201 0f 0201 11"), .invalidKey("the public exponent is out of range"))
        // A SubjectPublicKeyInfo whose BIT STRING has unused bits.
        XCTAssertThrowsError(
            try RSAPublicKey(
                subjectPublicKeyInfo: Fixture.bytes("3017 300d 0609 2a864886f70d010101 0500 0306 01 3003 020103"))
        ) { error in
            XCTAssertEqual(error as? RSAError, .invalidDER("BIT STRING with unused bits"))
        }
    }

    // MARK: OAEP

    /// A ciphertext Python's `cryptography` produced (OAEP, MGF1-SHA-1, SHA-1, no label): decrypting it with our
    /// modular power and the RFC's decoding proves both agree with another implementation.
    func testCiphertextFromPythonDecrypts() {
        let ciphertext = Fixture.bytes(
            """
            3cb0acc11a11a03e8f72056c6ef8de9b3366f211169b52ecb1520133e55f4bced59b4d09321bdc85e6089bb2620be0ef
            9b6331bdf3d1e6121f105a9439a7b70e4fec867af8d5b95bea5519cfe9d569614b3cde80cc080c4309bafd2994657b4c
            84cc456cbac0bd0c7d4bef558a00908b3a402c01198b700713deff31ef045cadef9b7f9beb7919c44ac21123d0b3e03b
            44e326fe975ca47544dbcc016bdec0932a8e30b124146a93cd84a2f95de90665bb477991473708f111cf0354926db6f2
            927edfe99bc698f5c8b85c2015e0483cb63b66818602334e11f06c86dbfe9cfa61a60e825f329d15dbd39dd8856f0104
            60d41a67f9d7c31f63029cf9184c8f8b
            """)
        XCTAssertEqual(RSATestKey.decrypt(ciphertext), Self.xoredPassword)
    }

    /// With a fixed seed OAEP is deterministic. The expected ciphertext was computed independently in Python (RFC 8017
    /// encoding with hashlib, then `pow`) and decrypts to the message with `cryptography`'s OAEP.
    func testFixedSeedEncryptionMatchesKnownAnswer() throws {
        let key = try RSAPublicKey(pem: RSATestKey.publicKeyPEM)
        let seed = Array("orderSystemOAEPseed!".utf8)
        let expected = Fixture.bytes(
            """
            aa2cecb6dc44090761dbdf291fb8d0f400b0e3614e1307dcac07bd5ffdb0e5aab079fe0c70b1703ee9ca4d68ddf14cb5
            cf574c334f2923c68fd2aa182b3bc83b9630356671a02e820252e15e1655b334477549a69bc52fb962328f1199208ebf
            f446f5ce5f0fc3db8dba49e3f7f2fd6a11f61ac13d0015e7cb66dcf8616aca651f5ae2526cb36c3190b24109424a2355
            0f9e3e6012ed01c14ce0ae1ba385be2ea4d6208d5b9bce68faa18c5157c1348984f139e34142a9b0e5051a06cb610748
            c4617ae75d8f6307497f92ecdfaa4bf86f278965a33ba17018f1883c29ced9abda15f215b0e201966d40558d25968d0f
            f8c19929b7456c7043ff21ef6aac6624
            """)
        XCTAssertEqual(try RSAOAEP.encrypt(Self.xoredPassword, with: key, seed: seed), expected)
    }

    func testRandomSeedEncryptionDecryptsAndDiffersEachTime() throws {
        let first = try mySQLRSAOAEPEncryptor(Self.xoredPassword, RSATestKey.publicKeyPEM)
        let second = try mySQLRSAOAEPEncryptor(Self.xoredPassword, RSATestKey.publicKeyPEM)
        XCTAssertEqual(first.count, 256)
        XCTAssertEqual(second.count, 256)
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(RSATestKey.decrypt(first), Self.xoredPassword)
        XCTAssertEqual(RSATestKey.decrypt(second), Self.xoredPassword)
    }

    func testMessageLengthLimit() throws {
        let key = try RSAPublicKey(pem: RSATestKey.publicKeyPEM)
        // k − 2·hLen − 2 = 256 − 42.
        let longest = (0..<214).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        XCTAssertEqual(RSATestKey.decrypt(try RSAOAEP.encrypt(longest, with: key)), longest)
        XCTAssertEqual(RSATestKey.decrypt(try RSAOAEP.encrypt([], with: key)), [])
        XCTAssertThrowsError(try mySQLRSAOAEPEncryptor(longest + [0], RSATestKey.publicKeyPEM)) { error in
            XCTAssertEqual(error as? RSAError, .messageTooLong(maximum: 214))
        }
    }
}
