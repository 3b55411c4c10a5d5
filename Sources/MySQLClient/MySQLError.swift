/// Every error this module throws: a server's `ERR` packet or a client-side failure.
///
/// The message never contains a password. Thread-safety: an immutable value; `Sendable`.
public struct MySQLError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Equatable, Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The server answered with an `ERR` packet; see ``MySQLError/serverErrorNumber`` and ``MySQLError/sqlState``.
        public static let server = Code("server")
        /// The connection is closed, or closed while the command ran.
        public static let connectionClosed = Code("connectionClosed")
        /// The connect, handshake or query took longer than its configured timeout.
        public static let timeout = Code("timeout")
        /// The server sent something this client cannot parse.
        public static let protocolError = Code("protocolError")
        /// The server sent a packet larger than ``MySQLConfiguration/maximumPacketSize``: the command fails and its
        /// connection is closed. Retrying the same statement gets the same reply, so it is not transient.
        public static let packetTooLarge = Code("packetTooLarge")
        /// The server refused the credentials (or an authentication step failed).
        public static let authenticationFailed = Code("authenticationFailed")
        /// The server or the request needs something this client does not support.
        public static let unsupported = Code("unsupported")
        /// The pool is shut down or could not provide a connection.
        public static let poolUnavailable = Code("poolUnavailable")
        /// A row value could not be decoded into the requested Swift type.
        public static let decoding = Code("decoding")
        /// TLS could not protect the connection as configured (``MySQLConfiguration/TLS``): the server does not offer
        /// TLS in a mode that needs it, its certificate did not verify (the message says which check failed and what
        /// to set), the TLS handshake failed, a TLS file could not be read, or a MySQL server refused a plain-text
        /// connection because it requires secure transport (``MySQLError/serverErrorNumber`` 3159). MariaDB refuses
        /// such a connection with 1045, as for a wrong password: that stays ``authenticationFailed``, and its message
        /// says that the server requires TLS if the credentials are right.
        public static let tls = Code("tls")

        /// The code's name.
        public var description: String { self.name }
    }

    /// The kind of failure.
    public var code: Code
    /// The server's error number (`ER_*`, e.g. 1062 for a duplicate key), for ``Code/server`` and
    /// ``Code/authenticationFailed`` errors from the server.
    public var serverErrorNumber: UInt16?
    /// The five-character SQL state, e.g. `23000`.
    public var sqlState: String?
    /// A readable message: the server's, or the client's explanation.
    public var message: String

    /// Creates an error.
    public init(code: Code, serverErrorNumber: UInt16? = nil, sqlState: String? = nil, message: String) {
        self.code = code
        self.serverErrorNumber = serverErrorNumber
        self.sqlState = sqlState
        self.message = message
    }

    /// A duplicate entry for a unique or primary key (1062 `ER_DUP_ENTRY`, 1586 `ER_DUP_ENTRY_WITH_KEY_NAME`).
    public var isDuplicateKey: Bool { self.serverErrorNumber == 1062 || self.serverErrorNumber == 1586 }
    /// A deadlock; the transaction was rolled back and may be retried (1213).
    public var isDeadlock: Bool { self.serverErrorNumber == 1213 }
    /// A lock wait timed out (1205).
    public var isLockWaitTimeout: Bool { self.serverErrorNumber == 1205 }
    /// The database does not exist (1049).
    public var isUnknownDatabase: Bool { self.serverErrorNumber == 1049 }
    /// The table does not exist (1146).
    public var isUnknownTable: Bool { self.serverErrorNumber == 1146 }
    /// SQL syntax error (1064).
    public var isSyntaxError: Bool { self.serverErrorNumber == 1064 }
    /// A foreign-key constraint failed (1451, 1452).
    public var isForeignKeyViolation: Bool { self.serverErrorNumber == 1451 || self.serverErrorNumber == 1452 }
    /// Access denied for the user or to the database (1044, 1045).
    public var isAccessDenied: Bool { self.serverErrorNumber == 1044 || self.serverErrorNumber == 1045 }
    /// The server errors that mean "this row's data was rejected" rather than "the server could not do it now": a
    /// value the column refuses (1048 NULL, 1264 and 1690 out of range, 1265 truncated, 1292, 1366, 1367 and 1411
    /// wrong value, 1300 invalid character string, 1406 too long), a failed foreign key (1451, 1452) or check
    /// constraint (3819 MySQL, 4025 MariaDB). Retrying the same statement fails the same way, whatever the server's
    /// state; everything else (connection lost, deadlock, lock wait timeout, read-only during a failover, timeouts)
    /// may succeed later.
    public static let dataErrorNumbers: Set<UInt16> = [
        1048, 1264, 1265, 1292, 1300, 1366, 1367, 1406, 1411, 1451, 1452, 1690, 3819, 4025,
    ]

    /// Whether the server rejected the data itself (see ``dataErrorNumbers``): the statement can never succeed with
    /// these values, so a caller should set them aside rather than retry.
    public var isDataError: Bool {
        guard self.code == .server, let number = self.serverErrorNumber else { return false }
        return Self.dataErrorNumbers.contains(number)
    }

    /// Whether retrying on another connection is likely to help (connection lost, deadlock, lock wait timeout).
    public var isTransient: Bool {
        self.code == .connectionClosed || self.code == .timeout || self.isDeadlock || self.isLockWaitTimeout
    }

    /// `MySQLError(server 1062 23000: Duplicate entry ...)`.
    public var description: String {
        var text = "MySQLError(\(self.code)"
        if let number = self.serverErrorNumber { text += " \(number)" }
        if let state = self.sqlState { text += " \(state)" }
        return text + ": \(self.message))"
    }
}
