import Logging
import SQLiteNIO
import ServiceCore

/// One versioned schema change.
public struct SchemaMigration: Sendable {
    /// Strictly increasing per database, starting at 1.
    public var version: Int
    /// A short description, recorded beside the version.
    public var name: String
    /// Statements applied in order, inside one transaction with the version record.
    public var statements: [String]

    /// Creates a migration.
    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Applies ``SchemaMigration``s to a ``SQLiteFileDatabase`` and records them in `schema_migrations`.
///
/// Idempotent: applied versions are skipped. The whole run is one `BEGIN IMMEDIATE` transaction, which is the
/// lock that lets several processes start on one file at once: the second waits, then finds nothing to do.
public enum SQLiteMigrator {
    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    public static func migrate(
        _ database: SQLiteFileDatabase,
        migrations: [SchemaMigration],
        logger: Logger
    ) async throws -> [Int] {
        let applied = try await database.transaction { connection -> [Int] in
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at INTEGER NOT NULL
                )
                """
            )
            let rows = try await connection.query("SELECT version FROM schema_migrations")
            let done = Set(try rows.map { Int(try $0.int64("version")) })
            var appliedNow: [Int] = []
            for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
                for statement in migration.statements {
                    _ = try await connection.query(statement)
                }
                _ = try await connection.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.int64(Int64(migration.version)), .text(migration.name), .int64(Timestamp.now().microsecondsSinceEpoch)]
                )
                appliedNow.append(migration.version)
            }
            return appliedNow
        }
        for version in applied {
            logger.info("applied schema migration", metadata: ["version": "\(version)", "database": "\(database.path)"])
        }
        return applied
    }
}

extension SQLiteFileDatabase {
    /// Opens `path` and applies `migrations`; closes the file again if migrating fails.
    public static func openMigrated(
        path: String,
        durability: Durability,
        migrations: [SchemaMigration],
        logger: Logger
    ) async throws -> SQLiteFileDatabase {
        let database = try await SQLiteFileDatabase.open(path: path, durability: durability, logger: logger)
        do {
            try await SQLiteMigrator.migrate(database, migrations: migrations, logger: logger)
        } catch {
            await database.close()
            throw error
        }
        return database
    }
}
