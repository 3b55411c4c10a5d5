import Logging
import NotificationWorker
import SQLiteNIO
import SQLiteStorage
import ServiceCore

/// ``NotificationRecord`` in a SQLite file in the worker's data directory (without `--cache redis`).
public final class SQLiteNotificationRecord: NotificationRecord {
    /// The schema, versioned.
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(
            version: 1,
            name: "sent notifications",
            statements: [
                """
                CREATE TABLE sent_notifications (
                    order_id TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    sent_at INTEGER NOT NULL,
                    PRIMARY KEY (order_id, channel)
                ) WITHOUT ROWID
                """
            ]
        )
    ]

    private let database: SQLiteFileDatabase

    /// Opens `path`, applies migrations and returns the record.
    public static func open(path: String, durability: SQLiteFileDatabase.Durability, logger: Logger) async throws -> SQLiteNotificationRecord {
        SQLiteNotificationRecord(
            database: try await SQLiteFileDatabase.openMigrated(
                path: path, durability: durability, migrations: Self.migrations, logger: logger
            )
        )
    }

    private init(database: SQLiteFileDatabase) {
        self.database = database
    }

    public var healthCheckName: String { "database" }

    public func wasSent(orderID: String, channel: NotificationChannel) async throws -> Bool {
        let rows = try await self.database.query(
            "SELECT 1 AS sent FROM sent_notifications WHERE order_id = ? AND channel = ?",
            [.text(orderID), .text(channel.rawValue)]
        )
        return !rows.isEmpty
    }

    public func markSent(orderID: String, channel: NotificationChannel) async throws {
        try await self.database.write(
            "INSERT INTO sent_notifications (order_id, channel, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [.text(orderID), .text(channel.rawValue), .int64(Timestamp.now().microsecondsSinceEpoch)]
        )
    }

    public func checkHealth() async throws {
        try await self.database.ping()
    }

    public func close() async {
        await self.database.close()
    }
}
