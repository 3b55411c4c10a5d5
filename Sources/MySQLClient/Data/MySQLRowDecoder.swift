/// A `Decoder` over one row: keys are column names; each value decodes through ``MySQLDataConvertible``.
struct MySQLRowDecoder: Decoder {
    let row: MySQLRow
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(KeyedContainer<Key>(row: self.row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw MySQLError(code: .decoding, message: "a row decodes into a keyed type (columns by name)")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw MySQLError(code: .decoding, message: "a row decodes into a keyed type (columns by name)")
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: MySQLRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { self.row.columns.compactMap { Key(stringValue: $0.name) } }

        func contains(_ key: Key) -> Bool { self.row[column: key.stringValue] != nil }

        func decodeNil(forKey key: Key) throws -> Bool { self.row[column: key.stringValue] == .null }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try self.decodeValue(type, forKey: key) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try self.decodeValue(type, forKey: key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try self.decodeValue(type, forKey: key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try self.decodeValue(type, forKey: key) }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try self.decodeValue(type, forKey: key) }

        func decodeValue<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let value = self.row[column: key.stringValue] else {
                throw DecodingError.keyNotFound(
                    key, .init(codingPath: [key], debugDescription: "no column named \(key.stringValue)"))
            }
            if let convertible = T.self as? any MySQLDataConvertible.Type {
                guard let decoded = convertible.init(mySQLData: value) else {
                    throw DecodingError.typeMismatch(
                        T.self,
                        .init(codingPath: [key], debugDescription: "column \(key.stringValue) is \(value.kindName)"))
                }
                return decoded as! T
            }
            return try ValueDecoder(value: value, key: key).decodeValue(T.self)
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            throw MySQLError(code: .decoding, message: "nested containers are not supported")
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw MySQLError(code: .decoding, message: "nested containers are not supported")
        }

        func superDecoder() throws -> any Decoder { MySQLRowDecoder(row: self.row) }
        func superDecoder(forKey key: Key) throws -> any Decoder { MySQLRowDecoder(row: self.row) }
    }

    /// Decodes one value for types that are `Decodable` but not `MySQLDataConvertible` (e.g. `RawRepresentable`
    /// enums, `Float`, small integers).
    struct ValueDecoder: Decoder, SingleValueDecodingContainer {
        let value: MySQLData
        let key: any CodingKey
        var codingPath: [any CodingKey] { [self.key] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<K: CodingKey>(keyedBy type: K.Type) throws -> KeyedDecodingContainer<K> {
            throw self.mismatch(type)
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw self.mismatch([UInt8].self) }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

        func mismatch(_ type: Any.Type) -> DecodingError {
            .typeMismatch(type, .init(codingPath: [self.key], debugDescription: "value is \(self.value.kindName)"))
        }

        func decodeNil() -> Bool { self.value == .null }

        func decode(_ type: Bool.Type) throws -> Bool { try self.decodeValue(type) }
        func decode(_ type: String.Type) throws -> String { try self.decodeValue(type) }
        func decode(_ type: Double.Type) throws -> Double { try self.decodeValue(type) }
        func decode(_ type: Float.Type) throws -> Float { try self.decodeValue(type) }
        func decode(_ type: Int.Type) throws -> Int { try self.decodeValue(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try self.decodeValue(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try self.decodeValue(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try self.decodeValue(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try self.decodeValue(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try self.decodeValue(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try self.decodeValue(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try self.decodeValue(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try self.decodeValue(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try self.decodeValue(type) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T { try self.decodeValue(type) }

        func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
            if let convertible = T.self as? any MySQLDataConvertible.Type {
                guard let decoded = convertible.init(mySQLData: self.value) else { throw self.mismatch(T.self) }
                return decoded as! T
            }
            if T.self == Float.self, let double = Double(mySQLData: self.value) { return Float(double) as! T }
            if let integer = Int64(mySQLData: self.value) {
                switch T.self {
                case is Int8.Type: if let v = Int8(exactly: integer) { return v as! T }
                case is Int16.Type: if let v = Int16(exactly: integer) { return v as! T }
                case is UInt8.Type: if let v = UInt8(exactly: integer) { return v as! T }
                case is UInt16.Type: if let v = UInt16(exactly: integer) { return v as! T }
                case is UInt32.Type: if let v = UInt32(exactly: integer) { return v as! T }
                case is UInt.Type: if let v = UInt(exactly: integer) { return v as! T }
                default: break
                }
            }
            // Primitive types end here: their `init(from:)` would call back into this container.
            if T.self is any FixedWidthInteger.Type || T.self == Float.self { throw self.mismatch(T.self) }
            return try T(from: self)
        }
    }
}
