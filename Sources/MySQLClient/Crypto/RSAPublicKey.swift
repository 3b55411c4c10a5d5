/// An RSA public key: the modulus `n` and public exponent `e`, as a MySQL server sends it for
/// `caching_sha2_password` and `sha256_password`.
struct RSAPublicKey: Equatable, Sendable {
    /// `n`, big-endian, without leading zeros.
    let modulus: [UInt8]
    /// `e`, big-endian, without leading zeros.
    let publicExponent: [UInt8]

    /// rsaEncryption (RFC 8017 appendix C).
    static let rsaEncryptionOID = "1.2.840.113549.1.1.1"

    /// OpenSSL's limit; a larger key would only make a hostile server's key cost us time.
    static let maximumModulusBits = 16384

    /// The length of `n` in bytes, `k` in RFC 8017: every ciphertext has exactly this length.
    var modulusByteCount: Int { self.modulus.count }

    /// Checks that `n` and `e` make a usable public key.
    init(modulus: [UInt8], publicExponent: [UInt8]) throws(RSAError) {
        let n = BigUInt(bigEndianBytes: modulus)
        let e = BigUInt(bigEndianBytes: publicExponent)
        // Montgomery multiplication needs an odd modulus; an RSA modulus is a product of odd primes anyway.
        guard n.isOdd, n.bitCount > 1 else { throw .invalidKey("the modulus is not an odd number above 1") }
        guard n.bitCount <= Self.maximumModulusBits else {
            throw .invalidKey("the modulus has more than \(Self.maximumModulusBits) bits")
        }
        guard e.isOdd, e > BigUInt(1), e < n else { throw .invalidKey("the public exponent is out of range") }
        self.modulus = Array(modulus.drop { $0 == 0 })
        self.publicExponent = Array(publicExponent.drop { $0 == 0 })
    }

    /// Reads a PEM key: `PUBLIC KEY` (X.509 SubjectPublicKeyInfo, what MySQL sends) or `RSA PUBLIC KEY` (PKCS#1).
    /// Text around the armour is ignored, as RFC 7468 allows.
    init(pem: String) throws(RSAError) {
        let text = Array(pem.utf8)
        let begin = Array("-----BEGIN ".utf8)
        let dashes = Array("-----".utf8)
        guard let beginStart = Self.firstIndex(of: begin, in: text, from: 0),
            let labelEnd = Self.firstIndex(of: dashes, in: text, from: beginStart + begin.count)
        else { throw .invalidPEM("no -----BEGIN line") }
        let label = String(decoding: text[(beginStart + begin.count)..<labelEnd], as: UTF8.self)
        let bodyStart = labelEnd + dashes.count
        guard let bodyEnd = Self.firstIndex(of: Array("-----END \(label)-----".utf8), in: text, from: bodyStart) else {
            throw .invalidPEM("no -----END \(label)----- line")
        }
        let der = try Base64.decode(text[bodyStart..<bodyEnd])
        switch label {
        case "PUBLIC KEY": try self.init(subjectPublicKeyInfo: der)
        case "RSA PUBLIC KEY": try self.init(pkcs1: der)
        default: throw .invalidPEM("unsupported PEM type \"\(label)\"")
        }
    }

    /// Reads a DER SubjectPublicKeyInfo (RFC 5280 §4.1) holding an RSA key (RFC 3279 §2.3.1):
    ///
    ///     SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }
    init(subjectPublicKeyInfo der: [UInt8]) throws(RSAError) {
        var outer = DERReader(der[...])
        var info = try outer.readSequence()
        try outer.expectEnd("SubjectPublicKeyInfo")
        var algorithm = try info.readSequence()
        let oid = try algorithm.readObjectIdentifier()
        guard oid == Self.rsaEncryptionOID else { throw .unsupportedAlgorithm(oid) }
        // RFC 3279 requires NULL parameters; some encoders omit them, which is harmless.
        if !algorithm.isAtEnd { try algorithm.readNull() }
        try algorithm.expectEnd("AlgorithmIdentifier")
        let key = try info.readBitString()
        try info.expectEnd("SubjectPublicKeyInfo")
        try self.init(pkcs1: Array(key))
    }

    /// Reads a DER PKCS#1 RSAPublicKey (RFC 8017 appendix A.1.1): `SEQUENCE { INTEGER n, INTEGER e }`.
    init(pkcs1 der: [UInt8]) throws(RSAError) {
        var outer = DERReader(der[...])
        var key = try outer.readSequence()
        try outer.expectEnd("RSAPublicKey")
        let modulus = try key.readUnsignedInteger()
        let publicExponent = try key.readUnsignedInteger()
        try key.expectEnd("RSAPublicKey")
        try self.init(modulus: modulus, publicExponent: publicExponent)
    }

    private static func firstIndex(of pattern: [UInt8], in text: [UInt8], from start: Int) -> Int? {
        guard start <= text.count - pattern.count else { return nil }
        return (start...(text.count - pattern.count)).first { text[$0..<$0 + pattern.count].elementsEqual(pattern) }
    }
}
