import Messaging
import SQLiteNIO
import SQLiteStorage
import ServiceCore
import Storage

/// The SQL of the embedded broker: one table, `broker_messages`, one row per routed copy of a message.
extension EmbeddedBroker {
    private static let columns = "id, queue, home_queue, routing_key, body, properties, available_at"

    static func createSchema(in database: SQLiteFileDatabase) async throws {
        try await database.transaction { connection in
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS broker_messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    queue TEXT NOT NULL,
                    home_queue TEXT NOT NULL,
                    routing_key TEXT NOT NULL,
                    body BLOB,
                    properties BLOB NOT NULL,
                    available_at INTEGER NOT NULL,
                    published_at INTEGER NOT NULL
                )
                """
            )
            _ = try await connection.query(
                "CREATE INDEX IF NOT EXISTS broker_messages_by_queue ON broker_messages (queue, available_at, id)"
            )
            // Files written before paging lack the column: every row of theirs is in memory.
            let columns = try await connection.query("PRAGMA table_info(broker_messages)")
            if !(try columns.contains { try $0.string("name") == "paged" }) {
                _ = try await connection.query("ALTER TABLE broker_messages ADD COLUMN paged INTEGER NOT NULL DEFAULT 0")
            }
            _ = try await connection.query(
                "CREATE INDEX IF NOT EXISTS broker_messages_paged ON broker_messages (queue, paged, id)"
            )
        }
    }

    /// Rows waiting on disk (`paged`), counted by main queue.
    static func countPaged(in database: SQLiteFileDatabase) async throws -> [String: Int] {
        let rows = try await database.query(
            "SELECT home_queue, COUNT(*) AS count FROM broker_messages WHERE paged = 1 GROUP BY home_queue"
        )
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.string("home_queue")] = Int(try row.int64("count")) }
        return counts
    }

    /// Reads up to `limit` of `queue`'s paged rows back, oldest first, unmarking them in the same statement.
    func readPage(queue: String, limit: Int) async throws -> [StoredMessage] {
        let rows = try await self.database.write(
            """
            UPDATE broker_messages SET paged = 0 WHERE id IN (
                SELECT id FROM broker_messages WHERE queue = ?1 AND paged = 1 ORDER BY id LIMIT ?2)
            RETURNING \(Self.columns)
            """,
            [.text(queue), .int64(Int64(limit))]
        )
        // RETURNING gives no order.
        return try rows.map(Self.storedMessage(from:)).sorted { $0.id < $1.id }
    }

    /// The rows of main and retry queues, in ready order; dead-lettered rows stay on disk.
    static func loadMessages(from database: SQLiteFileDatabase) async throws -> [StoredMessage] {
        let rows = try await database.query(
            """
            SELECT \(Self.columns) FROM broker_messages
            WHERE queue <> home_queue || '.dlq' AND paged = 0
            ORDER BY available_at, id
            """
        )
        return try rows.map { row in
            var message = try Self.storedMessage(from: row)
            // It may have been handed out before the process stopped.
            message.redelivered = message.queue == message.home
            return message
        }
    }

    /// Inserts `messages` in one transaction and returns them with their row ids.
    func insert(_ messages: [StoredMessage]) async throws -> [StoredMessage] {
        let now = Self.wallClockMilliseconds()
        return try await self.database.transaction { connection in
            var stored: [StoredMessage] = []
            stored.reserveCapacity(messages.count)
            // The copies of one message are neighbours: encode their properties once.
            var previous: (properties: MessageProperties, bytes: [UInt8])?
            for var message in messages {
                let properties: [UInt8]
                if let previous, previous.properties == message.properties {
                    properties = previous.bytes
                } else {
                    properties = PropertiesCodec.encode(message.properties)
                    previous = (message.properties, properties)
                }
                let rows = try await connection.query(
                    """
                    INSERT INTO broker_messages
                        (queue, home_queue, routing_key, body, properties, available_at, published_at, paged)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                    RETURNING id
                    """,
                    [
                        .text(message.queue), .text(message.home), .text(message.routingKey),
                        .bytes(message.body), .bytes(properties), .int64(message.availableAt), .int64(now),
                        .int64(message.paged ? 1 : 0),
                    ]
                )
                guard let id = try rows.first?.int64("id") else { throw StorageDecodingError(column: "id") }
                message.id = id
                stored.append(message)
            }
            return stored
        }
    }

    /// Deletes the rows `ids` (acknowledged messages).
    func deleteRows(ids: [Int64]) async throws {
        try await self.database.writeInChunks(ids.map { .int64($0) }) { placeholders in
            "DELETE FROM broker_messages WHERE id IN (\(placeholders))"
        }
    }

    /// Moves the rows `ids` from their retry queue back to their main queue.
    func moveHome(ids: [Int64]) async throws {
        try await self.database.writeInChunks(ids.map { .int64($0) }) { placeholders in
            "UPDATE broker_messages SET queue = home_queue WHERE id IN (\(placeholders))"
        }
    }

    /// Stores where `message` is now: its queue, properties and `available_at`.
    func updateRow(_ message: StoredMessage) async throws {
        try await self.database.write(
            "UPDATE broker_messages SET queue = ?1, properties = ?2, available_at = ?3 WHERE id = ?4",
            [
                .text(message.queue), .bytes(PropertiesCodec.encode(message.properties)),
                .int64(message.availableAt), .int64(message.id),
            ]
        )
    }

    func countRows(queue: String) async throws -> Int {
        let rows = try await self.database.query(
            "SELECT COUNT(*) AS count FROM broker_messages WHERE queue = ?1",
            [.text(queue)]
        )
        return Int(try rows.first?.int64("count") ?? 0)
    }

    func peekRows(queue: String, limit: Int) async throws -> [Delivery] {
        let rows = try await self.database.query(
            "SELECT \(Self.columns) FROM broker_messages WHERE queue = ?1 ORDER BY available_at, id LIMIT ?2",
            [.text(queue), .int64(Int64(max(limit, 0)))]
        )
        return try rows.map { row in
            let message = try Self.storedMessage(from: row)
            var delivery = message.delivery(tag: UInt64(message.id))
            delivery.queue = message.queue
            return delivery
        }
    }

    private static func storedMessage(from row: SQLiteRow) throws -> StoredMessage {
        let body: [UInt8]
        if let column = row.column("body"), !column.isNull {
            body = try row.bytes("body")
        } else {
            // SQLite binds an empty blob as NULL.
            body = []
        }
        return StoredMessage(
            id: try row.int64("id"),
            queue: try row.string("queue"),
            home: try row.string("home_queue"),
            routingKey: try row.string("routing_key"),
            body: body,
            properties: try PropertiesCodec.decode(try row.bytes("properties")),
            availableAt: try row.int64("available_at"),
            redelivered: false
        )
    }
}
