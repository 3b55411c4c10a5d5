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

    public func sent(among keys: [NotificationKey]) async throws -> Set<NotificationKey> {
        let wanted = Set(keys)
        let orderIDs = Array(Set(keys.map(\.orderID)))
        var sent = Set<NotificationKey>()
        for chunk in orderIDs.chunked(into: SQLiteFileDatabase.valuesPerStatement) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try await self.database.query(
                "SELECT order_id, channel FROM sent_notifications WHERE order_id IN (\(placeholders))",
                chunk.map { .text($0) }
            )
            for row in rows {
                // A channel this version does not know was recorded by a newer one: not ours to match.
                guard let channel = NotificationChannel(rawValue: try row.string("channel")) else { continue }
                let key = NotificationKey(orderID: try row.string("order_id"), channel: channel)
                if wanted.contains(key) { sent.insert(key) }
            }
        }
        return sent
    }

    public func recordSent(_ keys: [NotificationKey]) async throws {
        guard !keys.isEmpty else { return }
        let sentAt = SQLiteData.int64(Timestamp.now().microsecondsSinceEpoch)
        try await self.database.transaction { connection in
            for chunk in keys.chunked(into: SQLiteFileDatabase.valuesPerStatement / 3) {
                let rows = Array(repeating: "(?, ?, ?)", count: chunk.count).joined(separator: ", ")
                _ = try await connection.query(
                    "INSERT INTO sent_notifications (order_id, channel, sent_at) VALUES \(rows) ON CONFLICT DO NOTHING",
                    chunk.flatMap { [.text($0.orderID), .text($0.channel.rawValue), sentAt] }
                )
            }
        }
    }

    public func checkHealth() async throws {
        try await self.database.ping()
    }

    public func close() async {
        await self.database.close()
    }
}
