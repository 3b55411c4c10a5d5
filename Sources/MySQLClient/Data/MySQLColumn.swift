import NIOCore

/// A column of a result set, from the server's `ColumnDefinition41`.
///
/// Thread-safety: an immutable value; `Sendable`.
public struct MySQLColumn: Equatable, Hashable, Sendable {
    /// The column's name or alias as the query spelled it.
    public var name: String
    /// The table (or alias) the column comes from; empty for expressions.
    public var table: String
    /// The schema (database) of the table; empty for expressions.
    public var schema: String
    /// The wire type (`MYSQL_TYPE_*`).
    public var type: MySQLType
    /// Column flags (`NOT_NULL_FLAG` = 1, `UNSIGNED_FLAG` = 32, `BINARY_FLAG` = 128, ...).
    public var flags: UInt16
    /// The character set number; 63 means binary.
    public var characterSet: UInt16
    /// The display length.
    public var length: UInt32
    /// The number of decimals (fractional-second digits for temporal types).
    public var decimals: UInt8

    /// Whether the column holds unsigned integers.
    public var isUnsigned: Bool { self.flags & 32 != 0 }
    /// Whether the column holds bytes rather than text (binary character set).
    public var isBinary: Bool { self.characterSet == 63 }

    /// Creates a column description (mostly for tests).
    public init(
        name: String, table: String = "", schema: String = "", type: MySQLType, flags: UInt16 = 0,
        characterSet: UInt16 = 45, length: UInt32 = 0, decimals: UInt8 = 0
    ) {
        self.name = name
        self.table = table
        self.schema = schema
        self.type = type
        self.flags = flags
        self.characterSet = characterSet
        self.length = length
        self.decimals = decimals
    }

    /// Parses a `ColumnDefinition41` payload.
    init(payload: ByteBuffer) throws {
        var buffer = payload
        guard let catalog = buffer.readLengthEncodedString(), catalog == "def",
            let schema = buffer.readLengthEncodedString(),
            let table = buffer.readLengthEncodedString(),
            buffer.readLengthEncodedSlice() != nil,  // org_table
            let name = buffer.readLengthEncodedString(),
            buffer.readLengthEncodedSlice() != nil,  // org_name
            let fixedLength = buffer.readLengthEncodedInteger(), fixedLength >= 0x0A,
            let characterSet = buffer.readInteger(endianness: .little, as: UInt16.self),
            let length = buffer.readInteger(endianness: .little, as: UInt32.self),
            let type = buffer.readInteger(as: UInt8.self),
            let flags = buffer.readInteger(endianness: .little, as: UInt16.self),
            let decimals = buffer.readInteger(as: UInt8.self)
        else { throw MySQLError(code: .protocolError, message: "malformed column definition") }
        self.init(
            name: name, table: table, schema: schema, type: MySQLType(rawValue: type), flags: flags,
            characterSet: characterSet, length: length, decimals: decimals)
    }
}

/// A MySQL wire type (`enum_field_types`).
public struct MySQLType: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt8
    /// Creates a type from its wire value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `DECIMAL` (old).
    public static let decimal = Self(rawValue: 0)
    /// `TINYINT`.
    public static let tiny = Self(rawValue: 1)
    /// `SMALLINT`.
    public static let short = Self(rawValue: 2)
    /// `INT`.
    public static let long = Self(rawValue: 3)
    /// `FLOAT`.
    public static let float = Self(rawValue: 4)
    /// `DOUBLE`.
    public static let double = Self(rawValue: 5)
    /// `NULL`.
    public static let null = Self(rawValue: 6)
    /// `TIMESTAMP`.
    public static let timestamp = Self(rawValue: 7)
    /// `BIGINT`.
    public static let longlong = Self(rawValue: 8)
    /// `MEDIUMINT`.
    public static let int24 = Self(rawValue: 9)
    /// `DATE`.
    public static let date = Self(rawValue: 10)
    /// `TIME`.
    public static let time = Self(rawValue: 11)
    /// `DATETIME`.
    public static let datetime = Self(rawValue: 12)
    /// `YEAR`.
    public static let year = Self(rawValue: 13)
    /// `VARCHAR` (internal).
    public static let varchar = Self(rawValue: 15)
    /// `BIT`.
    public static let bit = Self(rawValue: 16)
    /// `JSON` (MySQL).
    public static let json = Self(rawValue: 245)
    /// `DECIMAL` / `NUMERIC`.
    public static let newDecimal = Self(rawValue: 246)
    /// `ENUM`.
    public static let `enum` = Self(rawValue: 247)
    /// `SET`.
    public static let set = Self(rawValue: 248)
    /// `TINYBLOB` / `TINYTEXT`.
    public static let tinyBlob = Self(rawValue: 249)
    /// `MEDIUMBLOB` / `MEDIUMTEXT`.
    public static let mediumBlob = Self(rawValue: 250)
    /// `LONGBLOB` / `LONGTEXT`.
    public static let longBlob = Self(rawValue: 251)
    /// `BLOB` / `TEXT`.
    public static let blob = Self(rawValue: 252)
    /// `VARCHAR` / `VARBINARY`.
    public static let varString = Self(rawValue: 253)
    /// `CHAR` / `BINARY`.
    public static let string = Self(rawValue: 254)
    /// `GEOMETRY`.
    public static let geometry = Self(rawValue: 255)

    /// The type's number.
    public var description: String { "MySQLType(\(self.rawValue))" }
}
