import CryptoExtras
import Foundation

/// RSA key pairs made by swift-crypto for these tests: the client under test encrypts to the public half, the test
/// decrypts with the private half, as the server would. Kept as PEM text (a `Sendable` string), made once per run.
enum TestRSAKeys {
    /// A 2048-bit key pair, the smallest the client accepts.
    static let strongPrivateKeyPEM: String = {
        // Generating a 2048-bit key takes a noticeable fraction of a second: once per run is enough.
        try! _RSA.Encryption.PrivateKey(keySize: .bits2048).pemRepresentation
    }()

    /// A 1024-bit key pair, which the client must refuse.
    static let weakPrivateKeyPEM: String = {
        try! _RSA.Encryption.PrivateKey(unsafeKeySize: .init(bitCount: 1024)).pemRepresentation
    }()

    /// The public half of ``strongPrivateKeyPEM``, as a server sends it (`-----BEGIN PUBLIC KEY-----`).
    static var strongPublicKeyPEM: String { try! publicKeyPEM(of: strongPrivateKeyPEM) }

    /// The public half of ``weakPrivateKeyPEM``.
    static var weakPublicKeyPEM: String { try! publicKeyPEM(of: weakPrivateKeyPEM) }

    /// Decrypts what the client encrypted to ``strongPublicKeyPEM`` (RSA-OAEP with SHA-1, as the server does).
    static func decrypt(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let key = try _RSA.Encryption.PrivateKey(pemRepresentation: strongPrivateKeyPEM)
        return Array(try key.decrypt(ciphertext, padding: .PKCS1_OAEP))
    }

    private static func publicKeyPEM(of privateKeyPEM: String) throws -> String {
        try _RSA.Encryption.PrivateKey(unsafePEMRepresentation: privateKeyPEM).publicKey.pemRepresentation
    }
}
