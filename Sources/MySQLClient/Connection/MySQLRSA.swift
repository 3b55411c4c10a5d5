import Foundation
import _CryptoExtras

/// RSA-OAEP (SHA-1) encryption with a PEM public key, for `caching_sha2_password`'s full authentication.
let mySQLRSAOAEPEncryptor: MySQLRSAEncryptor = { plaintext, pem in
    let key = try _RSA.Encryption.PublicKey(unsafePEMRepresentation: pem)
    return Array(try key.encrypt(plaintext, padding: .PKCS1_OAEP))
}
