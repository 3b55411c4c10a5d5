import Logging
import OrderService
import SQLiteNIO
import SQLiteStorage
import ServiceCore
import Storage

/// ``OrderStore`` on a SQLite file (the embedded default).
///
/// Amounts are integer cents and timestamps integer microseconds, so nothing is rounded on the way in or out.
/// One relay per file: the embedded mode runs one order service per data directory.
public final class SQLiteOrderStore: OrderStore {
    /// The schema, versioned.
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(
            version: 1,
            name: "orders and outbox",
            statements: [
                """
                CREATE TABLE orders (
                    id TEXT PRIMARY KEY NOT NULL,
                    customer_id TEXT NOT NULL,
                    product_id TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    total_amount_cents INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                )
                """,
                "CREATE INDEX idx_orders_customer_id ON orders (customer_id)",
                "CREATE INDEX idx_orders_product_id ON orders (product_id)",
                "CREATE INDEX idx_orders_status ON orders (status)",
                "CREATE INDEX idx_orders_created_at ON orders (created_at)",
                """
                CREATE TABLE outbox_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL UNIQUE,
                    aggregate_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    routing_key TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    published_at INTEGER
                )
                """,
                "CREATE INDEX idx_outbox_events_pending ON outbox_events (published_at, id)",
            ]
        ),
        SchemaMigration(
            version: 2,
            name: "idempotency keys",
            statements: [
                """
                CREATE TABLE idempotency_keys (
                    idem_key TEXT PRIMARY KEY NOT NULL,
                    order_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                )
                """,
                "CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at)",
            ]
        ),
        SchemaMigration(
            version: 3,
            name: "outbox leases, attempts and parking",
            statements: [
                "ALTER TABLE outbox_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE outbox_events ADD COLUMN available_at INTEGER",
                "ALTER TABLE outbox_events ADD COLUMN parked_at INTEGER",
                "ALTER TABLE outbox_events ADD COLUMN last_error TEXT",
            ]
        ),
    ]

    private let database: SQLiteFileDatabase

    /// Wraps a database that ``migrations`` have been applied to.
    public init(database: SQLiteFileDatabase) {
        self.database = database
    }

    /// Opens `path`, applies migrations and returns the store.
    public static func open(path: String, durability: SQLiteFileDatabase.Durability, logger: Logger) async throws -> SQLiteOrderStore {
        SQLiteOrderStore(
            database: try await SQLiteFileDatabase.openMigrated(
                path: path, durability: durability, migrations: Self.migrations, logger: logger
            )
        )
    }

    public func migrate(logger: Logger) async throws {
        try await SQLiteMigrator.migrate(self.database, migrations: Self.migrations, logger: logger)
    }

    public func create(_ order: Order, event: OutboxEvent, idempotency: IdempotencyClaim?) async throws -> OrderCreation {
        try await self.database.transaction { connection in
            // The transaction holds the file's write lock (BEGIN IMMEDIATE), so checking the key and then recording
            // it cannot race another request with the same key.
            if let idempotency {
                let existing = try await connection.query(
                    "SELECT order_id, created_at FROM idempotency_keys WHERE idem_key = ?", [.text(idempotency.key.value)]
                ).first
                if let existing {
                    let recordedAt = Timestamp(microsecondsSinceEpoch: try existing.int64("created_at"))
                    if recordedAt >= idempotency.expiredBefore {
                        let orderID = try existing.string("order_id")
                        let rows = try await connection.query("SELECT * FROM orders WHERE id = ?", [.text(orderID)])
                        guard let row = rows.first else { throw StorageDecodingError(column: "idempotency_keys.order_id") }
                        return .existing(try Self.order(from: row))
                    }
                    _ = try await connection.query(
                        "UPDATE idempotency_keys SET order_id = ?, created_at = ? WHERE idem_key = ?",
                        [.text(order.id), .int64(order.createdAt.microsecondsSinceEpoch), .text(idempotency.key.value)]
                    )
                } else {
                    _ = try await connection.query(
                        "INSERT INTO idempotency_keys (idem_key, order_id, created_at) VALUES (?, ?, ?)",
                        [.text(idempotency.key.value), .text(order.id), .int64(order.createdAt.microsecondsSinceEpoch)]
                    )
                }
            }
            try await Self.insert(order, event: event, on: connection)
            return .created
        }
    }

    public func create(batch: [NewOrder]) async throws {
        try await self.database.transaction { connection in
            for entry in batch {
                try await Self.insert(entry.order, event: entry.event, on: connection)
            }
        }
    }

    private static func insert(_ order: Order, event: OutboxEvent, on connection: SQLiteConnection) async throws {
        _ = try await connection.query(
            """
            INSERT INTO orders (id, customer_id, product_id, quantity, total_amount_cents, status, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(order.id), .text(order.customerID), .text(order.productID), .int64(Int64(order.quantity)),
                .int64(order.totalAmount.cents), .text(order.status),
                .int64(order.createdAt.microsecondsSinceEpoch), .int64(order.updatedAt.microsecondsSinceEpoch),
            ]
        )
        _ = try await connection.query(
            """
            INSERT INTO outbox_events (event_id, aggregate_id, event_type, routing_key, payload, created_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            [
                .text(event.eventID), .text(event.aggregateID), .text(event.eventType), .text(event.routingKey),
                .bytes(event.payload), .int64(event.createdAt.microsecondsSinceEpoch),
            ]
        )
    }

    public func purgeIdempotencyKeys(before cutoff: Timestamp) async throws -> Int {
        let rows = try await self.database.write(
            "DELETE FROM idempotency_keys WHERE created_at < ? RETURNING idem_key",
            [.int64(cutoff.microsecondsSinceEpoch)]
        )
        return rows.count
    }

    public func order(id: String) async throws -> Order? {
        let rows = try await self.database.query("SELECT * FROM orders WHERE id = ?", [.text(id)])
        return try rows.first.map(Self.order(from:))
    }

    public func orders(limit: Int, offset: Int) async throws -> [Order] {
        // Newest first; ids break ties between orders created in the same microsecond (as on MySQL).
        let rows = try await self.database.query(
            "SELECT * FROM orders ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            [.int64(Int64(limit)), .int64(Int64(offset))]
        )
        return try rows.map(Self.order(from:))
    }

    public func orders(limit: Int, before: String) async throws -> [Order]? {
        let anchor = try await self.database.query("SELECT created_at FROM orders WHERE id = ?", [.text(before)])
        guard let createdAt = try anchor.first?.int64("created_at") else { return nil }
        // The first condition lets the created_at index bound the scan; the second skips the anchor's equals.
        let rows = try await self.database.query(
            """
            SELECT * FROM orders WHERE created_at <= ? AND (created_at < ? OR id < ?)
            ORDER BY created_at DESC, id DESC LIMIT ?
            """,
            [.int64(createdAt), .int64(createdAt), .text(before), .int64(Int64(limit))]
        )
        return try rows.map(Self.order(from:))
    }

    private static func order(from row: SQLiteRow) throws -> Order {
        Order(
            id: try row.string("id"),
            customerID: try row.string("customer_id"),
            productID: try row.string("product_id"),
            quantity: Int(try row.int64("quantity")),
            totalAmount: Money(cents: try row.int64("total_amount_cents")),
            status: try row.string("status"),
            createdAt: Timestamp(microsecondsSinceEpoch: try row.int64("created_at")),
            updatedAt: Timestamp(microsecondsSinceEpoch: try row.int64("updated_at"))
        )
    }

    public func claimDueEvents(
        limit: Int, createdBefore: Timestamp, now: Timestamp, leaseUntil: Timestamp
    ) async throws -> [OutboxEvent] {
        // One statement: the lease is written as the rows are chosen.
        let rows = try await self.database.write(
            """
            UPDATE outbox_events SET available_at = ? WHERE id IN (
                SELECT id FROM outbox_events
                WHERE published_at IS NULL AND parked_at IS NULL
                    AND (available_at IS NULL AND created_at <= ? OR available_at <= ?)
                ORDER BY id LIMIT ?)
            RETURNING id, attempts, event_id, aggregate_id, event_type, routing_key, payload, created_at
            """,
            [
                .int64(leaseUntil.microsecondsSinceEpoch), .int64(createdBefore.microsecondsSinceEpoch),
                .int64(now.microsecondsSinceEpoch), .int64(Int64(limit)),
            ]
        )
        let events = try rows.map { row in
            OutboxEvent(
                sequence: try row.int64("id"),
                attempts: Int(clamping: try row.int64("attempts")),
                eventID: try row.string("event_id"),
                aggregateID: try row.string("aggregate_id"),
                eventType: try row.string("event_type"),
                routingKey: try row.string("routing_key"),
                payload: try row.bytes("payload"),
                createdAt: Timestamp(microsecondsSinceEpoch: try row.int64("created_at"))
            )
        }
        // RETURNING gives no order.
        return events.sorted { $0.sequence < $1.sequence }
    }

    public func markPublished(eventIDs: [String], at: Timestamp) async throws {
        try await self.database.writeInChunks(eventIDs.map { .text($0) }, leading: [.int64(at.microsecondsSinceEpoch)]) {
            "UPDATE outbox_events SET published_at = ?, available_at = NULL WHERE event_id IN (\($0))"
        }
    }

    public func releaseEvents(eventIDs: [String], dueAt: Timestamp) async throws {
        try await self.database.writeInChunks(eventIDs.map { .text($0) }, leading: [.int64(dueAt.microsecondsSinceEpoch)]) {
            "UPDATE outbox_events SET available_at = ? WHERE event_id IN (\($0))"
        }
    }

    public func setAside(_ failures: [OutboxFailure], at now: Timestamp) async throws {
        guard !failures.isEmpty else { return }
        try await self.database.transaction { connection in
            for failure in failures {
                _ = try await connection.query(
                    "UPDATE outbox_events SET attempts = ?, available_at = ?, parked_at = ?, last_error = ? WHERE event_id = ?",
                    [
                        .int64(Int64(failure.attempts)),
                        failure.retryAt.map { .int64($0.microsecondsSinceEpoch) } ?? .null,
                        failure.retryAt == nil ? .int64(now.microsecondsSinceEpoch) : .null,
                        .text(failure.reason), .text(failure.eventID),
                    ]
                )
            }
        }
    }

    public func unparkEvents() async throws -> Int {
        try await self.database.write(
            """
            UPDATE outbox_events SET parked_at = NULL, attempts = 0, available_at = NULL
            WHERE parked_at IS NOT NULL AND published_at IS NULL RETURNING id
            """
        ).count
    }

    public func outboxBacklog() async throws -> OutboxBacklog {
        let rows = try await self.database.query(
            """
            SELECT COUNT(*) AS unpublished, COUNT(parked_at) AS parked,
                MIN(CASE WHEN parked_at IS NULL THEN created_at END) AS oldest
            FROM outbox_events WHERE published_at IS NULL
            """
        )
        guard let row = rows.first else { return OutboxBacklog(pending: 0, oldestCreatedAt: nil) }
        let unpublished = Int(clamping: try row.int64("unpublished"))
        let parked = Int(clamping: try row.int64("parked"))
        return OutboxBacklog(
            pending: max(0, unpublished - parked),
            oldestCreatedAt: row.optionalInt64("oldest").map(Timestamp.init(microsecondsSinceEpoch:)),
            parked: parked
        )
    }

    public func purgePublishedEvents(before cutoff: Timestamp) async throws -> Int {
        let rows = try await self.database.write(
            "DELETE FROM outbox_events WHERE published_at IS NOT NULL AND published_at < ? RETURNING id",
            [.int64(cutoff.microsecondsSinceEpoch)]
        )
        return rows.count
    }

    public func checkHealth() async throws {
        try await self.database.ping()
    }

    public func close() async {
        await self.database.close()
    }
}
