/// How every MySQL connection of ours is set up before its first statement.
public enum MySQLSession {
    /// Run on each new connection (`MySQLConfiguration.connectionInitialization`), in one round trip:
    /// - `time_zone = '+00:00'`: `TIMESTAMP` columns hold UTC, and the session must not convert them to the server's
    ///   zone.
    /// - strict mode added to whatever the server's `sql_mode` is: without it (a server configured with
    ///   `sql_mode = ''`, as some managed ones are) a too-long or out-of-range value is silently cut or clamped and
    ///   written; with it, the statement fails with a data error, which consumers dead-letter.
    public static let initialization = [
        """
        SET time_zone = '+00:00', \
        sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))
        """
    ]
}
