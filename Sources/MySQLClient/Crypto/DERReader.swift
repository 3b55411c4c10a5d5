/// Reads the few DER (X.690) types a public key is made of, front to back.
///
/// Only single-byte tags and definite lengths: that is all a SubjectPublicKeyInfo or PKCS#1 RSAPublicKey uses, and
/// DER forbids indefinite lengths.
struct DERReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    var isAtEnd: Bool { self.position == self.bytes.endIndex }

    /// The tag of the next element, if any.
    var nextTag: UInt8? { self.isAtEnd ? nil : self.bytes[self.position] }

    /// Fails unless every byte has been read: trailing bytes mean the structure is not what we think it is.
    func expectEnd(_ what: String) throws(RSAError) {
        guard self.isAtEnd else { throw .invalidDER("unexpected bytes after the \(what)") }
    }

    /// A SEQUENCE's contents.
    mutating func readSequence() throws(RSAError) -> DERReader {
        DERReader(try self.readElement(tag: 0x30, "SEQUENCE"))
    }

    /// An INTEGER that must not be negative, as big-endian bytes without leading zeros.
    mutating func readUnsignedInteger() throws(RSAError) -> [UInt8] {
        let contents = try self.readElement(tag: 0x02, "INTEGER")
        guard let first = contents.first else { throw .invalidDER("empty INTEGER") }
        guard first & 0x80 == 0 else { throw .invalidDER("negative INTEGER") }
        return Array(contents.drop { $0 == 0 })
    }

    /// A BIT STRING's bytes; it must be whole bytes, as keys are.
    mutating func readBitString() throws(RSAError) -> ArraySlice<UInt8> {
        let contents = try self.readElement(tag: 0x03, "BIT STRING")
        guard contents.first == 0 else { throw .invalidDER("BIT STRING with unused bits") }
        return contents.dropFirst()
    }

    /// An OBJECT IDENTIFIER, dotted (`1.2.840.113549.1.1.1`).
    mutating func readObjectIdentifier() throws(RSAError) -> String {
        let contents = try self.readElement(tag: 0x06, "OBJECT IDENTIFIER")
        // Each arc is base 128, most significant group first, with the high bit set on all but the last byte.
        var arcs: [UInt64] = []
        var arc: UInt64 = 0
        for byte in contents {
            guard arc >> 57 == 0 else { throw .invalidDER("OBJECT IDENTIFIER arc too large") }
            arc = arc << 7 | UInt64(byte & 0x7F)
            if byte & 0x80 == 0 {
                arcs.append(arc)
                arc = 0
            }
        }
        guard let first = arcs.first, contents.last.map({ $0 & 0x80 == 0 }) == true else {
            throw .invalidDER("truncated OBJECT IDENTIFIER")
        }
        // The first encoded arc packs the first two: 40·x + y, where x is at most 2.
        let (x, y) = first < 80 ? (first / 40, first % 40) : (2, first - 80)
        return ([x, y] + arcs.dropFirst()).map { String($0) }.joined(separator: ".")
    }

    /// A NULL.
    mutating func readNull() throws(RSAError) {
        guard try self.readElement(tag: 0x05, "NULL").isEmpty else { throw .invalidDER("NULL with contents") }
    }

    /// The contents of the next element, which must have `tag`.
    private mutating func readElement(tag: UInt8, _ name: String) throws(RSAError) -> ArraySlice<UInt8> {
        guard let actual = self.nextTag else { throw .invalidDER("missing \(name)") }
        guard actual == tag else {
            throw .invalidDER("expected \(name), found tag 0x\(String(actual, radix: 16))")
        }
        self.position += 1
        let length = try self.readLength()
        guard length <= self.bytes.endIndex - self.position else { throw .invalidDER("truncated \(name)") }
        let contents = self.bytes[self.position..<self.position + length]
        self.position += length
        return contents
    }

    /// A definite length: one byte below 0x80, or 0x80 + n followed by n big-endian bytes.
    private mutating func readLength() throws(RSAError) -> Int {
        guard !self.isAtEnd else { throw .invalidDER("missing length") }
        let first = self.bytes[self.position]
        self.position += 1
        guard first & 0x80 != 0 else { return Int(first) }
        let count = Int(first & 0x7F)
        // Four length bytes already allow 4 GB; 0x80 alone would be BER's indefinite length.
        guard (1...4).contains(count) else { throw .invalidDER("unsupported length encoding") }
        guard count <= self.bytes.endIndex - self.position else { throw .invalidDER("truncated length") }
        var length = 0
        for byte in self.bytes[self.position..<self.position + count] { length = length << 8 | Int(byte) }
        self.position += count
        // DER uses the shortest form.
        guard length >= 0x80, length >> ((count - 1) * 8) != 0 else { throw .invalidDER("non-minimal length") }
        return length
    }
}
