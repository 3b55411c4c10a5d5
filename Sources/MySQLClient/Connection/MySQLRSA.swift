/// RSA-OAEP (SHA-1) encryption with a PEM public key, for `caching_sha2_password`'s full authentication.
let mySQLRSAOAEPEncryptor: MySQLRSAEncryptor = { plaintext, pem in
    try RSAOAEP.encrypt(plaintext, with: RSAPublicKey(pem: pem))
}
