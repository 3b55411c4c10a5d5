import Crypto
import CryptoExtras

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The RSA step of `caching_sha2_password`'s full authentication without TLS: the NUL-terminated password, XORed
/// with the nonce, encrypted with RSA-OAEP (SHA-1, as the server's `RSA_PKCS1_OAEP_PADDING` expects) to the
/// server's public key. swift-crypto (BoringSSL) does the cryptography.
enum MySQLRSA {
    /// The smallest key accepted: swift-crypto's floor, and NIST's since 2015.
    static let minimumKeyBits = 2048

    /// Encrypts `plaintext` to the RSA public key in `pem` (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    ///
    /// - Parameter keyOrigin: whose key this is, for the error message (e.g. "the pinned server key").
    /// - Throws: a ``MySQLError/Code/authenticationFailed`` error when the key is not an RSA public key, has fewer
    ///   than 2048 bits, or is too small for the message. The message never contains the plaintext.
    static func encrypt(_ plaintext: [UInt8], publicKeyPEM pem: String, keyOrigin: String) throws(MySQLError)
        -> [UInt8]
    {
        let key: _RSA.Encryption.PublicKey
        do {
            key = try _RSA.Encryption.PublicKey(pemRepresentation: pem)
        } catch {
            // Parsed again without the size floor only to say why it was refused: a short key is not malformed.
            if let weak = try? _RSA.Encryption.PublicKey(unsafePEMRepresentation: pem) {
                throw MySQLError(
                    code: .authenticationFailed,
                    message: "\(keyOrigin) is a \(weak.keySizeInBits)-bit RSA key; keys under \(Self.minimumKeyBits) "
                        + "bits are refused, so the password was not sent")
            }
            throw MySQLError(
                code: .authenticationFailed,
                message: "\(keyOrigin) is not a PEM RSA public key of at least \(Self.minimumKeyBits) bits "
                    + "(-----BEGIN PUBLIC KEY-----), so the password was not sent")
        }
        let maximum = key.maximumEncryptSize(with: .PKCS1_OAEP)
        guard plaintext.count <= maximum else {
            throw MySQLError(
                code: .authenticationFailed,
                message: "the password is too long to encrypt with \(keyOrigin) (\(key.keySizeInBits) bits take at "
                    + "most \(maximum - 1) bytes); use TLS")
        }
        do {
            return Array(try key.encrypt(plaintext, padding: .PKCS1_OAEP))
        } catch {
            throw MySQLError(code: .authenticationFailed, message: "could not encrypt with \(keyOrigin): \(error)")
        }
    }
}
