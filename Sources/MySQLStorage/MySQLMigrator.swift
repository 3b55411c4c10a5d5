import Logging
import MySQLClient
import ServiceCore
import Storage

/// One versioned schema change on MySQL/MariaDB. DDL commits implicitly there, so a step must be safe to run again
/// after a crash halfway (`CREATE TABLE IF NOT EXISTS`, or a check of `information_schema` before an `ALTER`).
public struct MySQLSchemaMigration: Sendable {
    /// Strictly increasing per database, starting at 1.
    public var version: Int
    /// A short description, recorded beside the version.
    public var name: String
    /// Applies the change on the migrating connection.
    public var apply: @Sendable (MySQLConnection, Logger) async throws -> Void

    /// A migration that runs code (inspecting the schema, reporting what it changed).
    public init(version: Int, name: String, apply: @escaping @Sendable (MySQLConnection, Logger) async throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }

    /// A migration made of SQL statements run in order.
    public init(version: Int, name: String, statements: [String]) {
        self.init(version: version, name: name) { connection, _ in
            for statement in statements {
                try await connection.query(statement)
            }
        }
    }
}

/// Applies ``MySQLSchemaMigration``s and records them in `schema_migrations`.
///
/// Several instances may start at once: the run holds the named lock `GET_LOCK('ordersystem.migrate.<database>')`
/// (released when the run ends or the connection drops), so the second waits and then finds nothing to do.
/// Uses only SQL common to MySQL 8 and MariaDB ≥ 10.6.
public enum MySQLMigrator {
    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    public static func migrate(
        _ client: MySQLClient,
        migrations: [MySQLSchemaMigration],
        lockTimeoutSeconds: Int = 120,
        logger: Logger
    ) async throws -> [Int] {
        try await client.withConnection { connection in
            let database = try await connection.query("SELECT DATABASE() AS name").rows.first?
                .decode(String?.self, column: "name") ?? "default"
            let lockName = "ordersystem.migrate.\(database)"
            let locked = try await connection.query("SELECT GET_LOCK(?, ?) AS locked", [.string(lockName), .int(Int64(lockTimeoutSeconds))])
            guard try locked.rows.first?.decode(Int64?.self, column: "locked") == 1 else {
                throw MigrationLockError(lockName: lockName, seconds: lockTimeoutSeconds)
            }
            do {
                let applied = try await Self.applyMissing(migrations, on: connection, database: database, logger: logger)
                _ = try? await connection.query("SELECT RELEASE_LOCK(?)", [.string(lockName)])
                return applied
            } catch {
                _ = try? await connection.query("SELECT RELEASE_LOCK(?)", [.string(lockName)])
                throw error
            }
        }
    }

    private static func applyMissing(
        _ migrations: [MySQLSchemaMigration],
        on connection: MySQLConnection,
        database: String,
        logger: Logger
    ) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT NOT NULL PRIMARY KEY,
                name VARCHAR(200) NOT NULL,
                applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """
        )
        let done = Set(try await connection.query("SELECT version FROM schema_migrations").rows.map {
            Int(try $0.decode(Int64.self, column: "version"))
        })
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            try await migration.apply(connection, logger)
            try await connection.query(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [.int(Int64(migration.version)), .string(migration.name)]
            )
            logger.info(
                "applied schema migration",
                metadata: ["version": "\(migration.version)", "name": "\(migration.name)", "database": "\(database)"]
            )
            applied.append(migration.version)
        }
        return applied
    }
}

/// Another instance held the migration lock for too long.
public struct MigrationLockError: Error, CustomStringConvertible {
    public var lockName: String
    public var seconds: Int
    public var description: String { "could not take the migration lock '\(self.lockName)' within \(self.seconds) s" }
}

/// Questions about the current schema, for migrations that adopt an existing database.
public enum MySQLSchema {
    /// True when `table` exists in the current database.
    public static func tableExists(_ table: String, on connection: MySQLConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
            [.string(table)]
        ).rows
        return try (rows.first?.decode(Int64.self, column: "n") ?? 0) > 0
    }

    /// The fractional-second precision of a temporal column (0 for a plain `TIMESTAMP`), or nil when it is absent.
    public static func datetimePrecision(table: String, column: String, on connection: MySQLConnection) async throws -> Int? {
        let rows = try await connection.query(
            """
            SELECT DATETIME_PRECISION AS p FROM information_schema.columns
            WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?
            """,
            [.string(table), .string(column)]
        ).rows
        guard let row = rows.first else { return nil }
        return Int(try row.decode(Int64?.self, column: "p") ?? 0)
    }

    /// True when an index named `index` exists on `table`.
    public static func indexExists(_ index: String, table: String, on connection: MySQLConnection) async throws -> Bool {
        let rows = try await connection.query(
            """
            SELECT COUNT(*) AS n FROM information_schema.statistics
            WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?
            """,
            [.string(table), .string(index)]
        ).rows
        return try (rows.first?.decode(Int64.self, column: "n") ?? 0) > 0
    }
}

extension MySQLData {
    /// A `TIMESTAMP(6)` parameter in UTC (connections run with `time_zone = '+00:00'`).
    public static func timestamp(_ timestamp: Timestamp) -> MySQLData {
        let civil = timestamp.civil
        return .dateTime(
            MySQLDateTime(
                year: civil.year, month: civil.month, day: civil.day, hour: civil.hour, minute: civil.minute,
                second: civil.second, microsecond: civil.microsecond
            )
        )
    }
}

extension MySQLRow {
    /// A `TIMESTAMP(6)`/`DATETIME(6)` column read in UTC.
    public func timestamp(_ column: String) throws -> Timestamp {
        let value = try self.decode(MySQLDateTime.self, column: column)
        guard let timestamp = Timestamp(civil: value.civil) else { throw StorageDecodingError(column: column) }
        return timestamp
    }

    /// A nullable temporal column read in UTC.
    public func optionalTimestamp(_ column: String) throws -> Timestamp? {
        guard let value = try self.decode(MySQLDateTime?.self, column: column) else { return nil }
        guard let timestamp = Timestamp(civil: value.civil) else { throw StorageDecodingError(column: column) }
        return timestamp
    }
}

extension MySQLDateTime {
    var civil: CivilDateTime {
        CivilDateTime(
            year: self.year, month: self.month, day: self.day, hour: self.hour, minute: self.minute,
            second: self.second, microsecond: self.microsecond
        )
    }
}
