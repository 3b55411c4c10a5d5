/// Why an RSA public key could not be read or used. The descriptions never contain key material or plaintext.
enum RSAError: Error, Equatable, CustomStringConvertible {
    /// The PEM armour or its base64 body is malformed.
    case invalidPEM(String)
    /// The DER structure inside the PEM is malformed.
    case invalidDER(String)
    /// The key is not an RSA key; the algorithm's object identifier, dotted.
    case unsupportedAlgorithm(String)
    /// The numbers do not make a usable RSA public key.
    case invalidKey(String)
    /// The message is longer than OAEP allows with this key.
    case messageTooLong(maximum: Int)

    var description: String {
        switch self {
        case .invalidPEM(let reason): "invalid PEM: \(reason)"
        case .invalidDER(let reason): "invalid DER: \(reason)"
        case .unsupportedAlgorithm(let oid): "not an RSA key (algorithm \(oid))"
        case .invalidKey(let reason): "invalid RSA key: \(reason)"
        case .messageTooLong(let maximum): "message too long for RSA-OAEP with this key (at most \(maximum) bytes)"
        }
    }
}
