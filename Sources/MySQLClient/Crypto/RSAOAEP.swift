/// RSAES-OAEP encryption (RFC 8017 §7.1.1) with SHA-1 as both the hash and MGF1's hash, and an empty label: what
/// OpenSSL calls `RSA_PKCS1_OAEP_PADDING`, and how a MySQL server decrypts the password sent on
/// `caching_sha2_password`'s and `sha256_password`'s RSA path.
enum RSAOAEP {
    /// hLen: SHA-1's output length.
    static let hashLength = 20

    /// The longest message a key with a `k`-byte modulus can encrypt (RFC 8017: `k − 2·hLen − 2`).
    static func maximumMessageLength(for key: RSAPublicKey) -> Int {
        key.modulusByteCount - 2 * self.hashLength - 2
    }

    /// Encrypts `message` with a fresh random seed, so that equal messages give unrelated ciphertexts.
    static func encrypt(_ message: [UInt8], with key: RSAPublicKey) throws(RSAError) -> [UInt8] {
        // On Linux this is getrandom(2), on Darwin arc4random: cryptographically secure.
        var generator = SystemRandomNumberGenerator()
        let seed = (0..<self.hashLength).map { _ in generator.next() as UInt8 }
        return try self.encrypt(message, with: key, seed: seed)
    }

    /// Encrypts `message` with the given 20-byte `seed`; the deterministic core, so tests can have known answers.
    static func encrypt(_ message: [UInt8], with key: RSAPublicKey, seed: [UInt8]) throws(RSAError) -> [UInt8] {
        precondition(seed.count == self.hashLength, "an OAEP seed is as long as the hash")
        let k = key.modulusByteCount
        let maximum = self.maximumMessageLength(for: key)
        guard message.count <= maximum else { throw .messageTooLong(maximum: max(maximum, 0)) }

        // EM = 0x00 || maskedSeed || maskedDB, where DB = lHash || PS (zeros) || 0x01 || M.
        let labelHash = SHA1.hash([])
        var db = labelHash
        db.append(contentsOf: repeatElement(0, count: maximum - message.count))
        db.append(0x01)
        db.append(contentsOf: message)
        let maskedDB = self.xor(db, self.mgf1(seed: seed, count: db.count))
        let maskedSeed = self.xor(seed, self.mgf1(seed: maskedDB, count: self.hashLength))
        let encodedMessage = [0x00] + maskedSeed + maskedDB

        // The leading zero byte makes EM smaller than n, as RSAEP requires: n has k bytes and a nonzero first one.
        let ciphertext = BigUInt.modularPower(
            base: BigUInt(bigEndianBytes: encodedMessage),
            exponent: BigUInt(bigEndianBytes: key.publicExponent),
            modulus: BigUInt(bigEndianBytes: key.modulus))
        return ciphertext.bigEndianBytes(count: k)!  // below n, so it fits in k bytes
    }

    /// MGF1 with SHA-1 (RFC 8017 appendix B.2.1): SHA-1(seed || counter) for counter 0, 1, …, cut to `count` bytes.
    static func mgf1(seed: [UInt8], count: Int) -> [UInt8] {
        var mask: [UInt8] = []
        mask.reserveCapacity(count + self.hashLength)
        var counter: UInt32 = 0
        while mask.count < count {
            mask.append(contentsOf: SHA1.hash(seed + counter.bigEndianBytes))
            counter += 1
        }
        return Array(mask.prefix(count))
    }

    private static func xor(_ lhs: [UInt8], _ rhs: [UInt8]) -> [UInt8] {
        zip(lhs, rhs).map { $0 ^ $1 }
    }
}
