/// Client/server capability flags (`CLIENT_*`) exchanged in the handshake.
struct MySQLCapabilities: OptionSet, Sendable, Hashable {
    var rawValue: UInt32

    /// `CLIENT_LONG_PASSWORD`; MariaDB reads this bit as `CLIENT_MYSQL` (a client that is not a MariaDB client).
    static let longPassword = Self(rawValue: 1 << 0)
    static let foundRows = Self(rawValue: 1 << 1)
    static let longFlag = Self(rawValue: 1 << 2)
    static let connectWithDB = Self(rawValue: 1 << 3)
    static let ssl = Self(rawValue: 1 << 11)
    static let protocol41 = Self(rawValue: 1 << 9)
    static let transactions = Self(rawValue: 1 << 13)
    static let secureConnection = Self(rawValue: 1 << 15)
    static let multiStatements = Self(rawValue: 1 << 16)
    static let multiResults = Self(rawValue: 1 << 17)
    static let pluginAuth = Self(rawValue: 1 << 19)
    static let pluginAuthLenencClientData = Self(rawValue: 1 << 21)
    static let deprecateEOF = Self(rawValue: 1 << 24)

    /// What this client asks for; the handshake uses the intersection with the server's flags.
    static let client: Self = [
        .longPassword, .foundRows, .longFlag, .protocol41, .transactions, .secureConnection, .pluginAuth,
        .pluginAuthLenencClientData, .deprecateEOF,
    ]
    /// Flags without which this client cannot talk to a server.
    static let required: Self = [.protocol41, .secureConnection, .pluginAuth]
}

/// Server status flags (`SERVER_STATUS_*`) in OK and EOF packets.
struct MySQLServerStatus: OptionSet, Sendable, Hashable {
    var rawValue: UInt16
    static let inTransaction = Self(rawValue: 1 << 0)
    static let autocommit = Self(rawValue: 1 << 1)
    static let moreResultsExist = Self(rawValue: 1 << 3)
}
