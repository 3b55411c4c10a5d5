@testable import MySQLClient

/// A 2048-bit RSA key pair generated for these tests with Python's `cryptography` package
/// (`rsa.generate_private_key(public_exponent=65537, key_size=2048)`), and a private-key decryption written here from
/// RFC 8017, apart from `RSAOAEP`'s encoder, so that the tests hold the encoder to the standard rather than to itself.
enum RSATestKey {
    /// The public key as SubjectPublicKeyInfo, as a MySQL server sends it.
    static let publicKeyPEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5AlZIJVCbwgSAsOh26dY
        2bOB9FZ+o7A8upaaAK7cpln3sAFMvfH8QKYklNebxt/TBCeHIp45YCI8k60v0WL2
        hKiEPfm8aqTdXAueHncAAuaVfjQigDP0zA9eJGLfvAwH+QaZIdkYUEVZbzhA8KyT
        Y0OCfOmSoU3ymH66phoQt9Ikb2Mv2z1EVR1aeebkh0ZL93dxi8EXmDC8/GVzmttx
        nOPChcF9ciRjqoow7SLhjoX/sAoH/roniVRLB6yn5zT+G5+3WieFpZS3CnUyIYje
        mxI3XlSTvcGP3M+NCXV6o/lJFCOgdoee0LfApKxh0pL+gbpe/glSbQVItl63UnIo
        lQIDAQAB
        -----END PUBLIC KEY-----
        """

    /// The same public key as PKCS#1 `RSA PUBLIC KEY`.
    static let pkcs1PublicKeyPEM = """
        -----BEGIN RSA PUBLIC KEY-----
        MIIBCgKCAQEA5AlZIJVCbwgSAsOh26dY2bOB9FZ+o7A8upaaAK7cpln3sAFMvfH8
        QKYklNebxt/TBCeHIp45YCI8k60v0WL2hKiEPfm8aqTdXAueHncAAuaVfjQigDP0
        zA9eJGLfvAwH+QaZIdkYUEVZbzhA8KyTY0OCfOmSoU3ymH66phoQt9Ikb2Mv2z1E
        VR1aeebkh0ZL93dxi8EXmDC8/GVzmttxnOPChcF9ciRjqoow7SLhjoX/sAoH/ron
        iVRLB6yn5zT+G5+3WieFpZS3CnUyIYjemxI3XlSTvcGP3M+NCXV6o/lJFCOgdoee
        0LfApKxh0pL+gbpe/glSbQVItl63UnIolQIDAQAB
        -----END RSA PUBLIC KEY-----
        """

    /// The modulus n.
    static let modulus = Fixture.bytes(
        """
        e409592095426f081202c3a1dba758d9b381f4567ea3b03cba969a00aedca659f7b0014cbdf1fc40a62494d79bc6dfd3
        042787229e3960223c93ad2fd162f684a8843df9bc6aa4dd5c0b9e1e770002e6957e34228033f4cc0f5e2462dfbc0c07
        f9069921d9185045596f3840f0ac936343827ce992a14df2987ebaa61a10b7d2246f632fdb3d44551d5a79e6e487464b
        f777718bc1179830bcfc65739adb719ce3c285c17d722463aa8a30ed22e18e85ffb00a07feba2789544b07aca7e734fe
        1b9fb75a2785a594b70a75322188de9b12375e5493bdc18fdccf8d09757aa3f9491423a076879ed0b7c0a4ac61d292fe
        81ba5efe09526d0548b65eb752722895
        """)

    /// The public exponent e (65537).
    static let publicExponent = Fixture.bytes("010001")

    /// The private exponent d.
    static let privateExponent = Fixture.bytes(
        """
        494c2def58bac968ad2d6147a20c88f5350b7507e65de414a91f267248c298dffb4b0227f238198e8838e2f4e8d80472
        d5f784aade73efd0216b9073f9d85707ee08cfc8f9c4c7a87561309a7742b42bfcea5b84a973c9e05ba2358ce8808fd7
        7236aa3b248679aac8e4048f6f2cf1952b0a82ef2b18192f7ccfe35be7adeeff8c0b10b9dbe49c14ac4a78017077c2a1
        fc6787652f0de305d9ec9935f1813c2c9316eb55c0d34428137fe0a4ea11cc881169be0fae2075e95b038c70cf3c8d86
        1ed3acbf390160a1a4e73435013d3b7e81254d1039f1c970d7588f25f5a868349fb95625c80a16396cfda3062cf47087
        88c330c582192f794c1a09f1e0aa67c3
        """)

    /// RSAES-OAEP-DECRYPT (RFC 8017 §7.1.2) with SHA-1, MGF1-SHA-1 and an empty label; nil for "decryption error".
    static func decrypt(_ ciphertext: [UInt8]) -> [UInt8]? {
        let k = Self.modulus.count
        let hashLength = 20
        let c = BigUInt(bigEndianBytes: ciphertext)
        let n = BigUInt(bigEndianBytes: Self.modulus)
        guard ciphertext.count == k, c < n else { return nil }
        let m = BigUInt.modularPower(base: c, exponent: BigUInt(bigEndianBytes: Self.privateExponent), modulus: n)
        guard let em = m.bigEndianBytes(count: k), em[0] == 0 else { return nil }
        let maskedSeed = Array(em[1...hashLength])
        let maskedDB = Array(em[(hashLength + 1)...])
        let seed = zip(maskedSeed, Self.mgf1(maskedDB, count: hashLength)).map { $0 ^ $1 }
        let db = zip(maskedDB, Self.mgf1(seed, count: maskedDB.count)).map { $0 ^ $1 }
        guard Array(db[0..<hashLength]) == SHA1.hash([]) else { return nil }
        let rest = db[hashLength...].drop { $0 == 0 }
        guard rest.first == 0x01 else { return nil }
        return Array(rest.dropFirst())
    }

    /// MGF1-SHA-1 (RFC 8017 appendix B.2.1).
    private static func mgf1(_ seed: [UInt8], count: Int) -> [UInt8] {
        var mask: [UInt8] = []
        for counter in 0..<UInt32((count + 19) / 20) {
            let counterBytes = (0..<4).map { UInt8(truncatingIfNeeded: counter >> (24 - 8 * $0)) }
            mask += SHA1.hash(seed + counterBytes)
        }
        return Array(mask.prefix(count))
    }
}
