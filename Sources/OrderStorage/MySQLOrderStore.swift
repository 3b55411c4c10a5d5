import Logging
import MySQLClient
import MySQLStorage
import OrderService
import ServiceCore
import Storage

/// ``OrderStore`` on MySQL 8 / MariaDB ≥ 10.6 (`--store mysql`), in the original's `orders` table.
///
/// Several order-service instances may share the database: a relay claims outbox rows with
/// `SELECT … FOR UPDATE SKIP LOCKED` and leases them (`available_at`) in one short transaction, so two relays never
/// publish the same row at once, neither waits for the other, and no lock is held while the broker confirms. Amounts are `DECIMAL(10,2)` (bound and read as exact text), times `TIMESTAMP(6)` in
/// UTC (the client's connections set `time_zone = '+00:00'`).
public final class MySQLOrderStore: OrderStore {
    /// The schema. Steps are safe on a fresh database and on one created by the original (its `orders` table
    /// exists with second-precision timestamps and no schema table): the same chain adopts it.
    public static let migrations: [MySQLSchemaMigration] = [
        MySQLSchemaMigration(
            version: 1,
            name: "orders (the original's table)",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS orders (
                    id VARCHAR(36) NOT NULL PRIMARY KEY,
                    customer_id VARCHAR(36) NOT NULL,
                    product_id VARCHAR(36) NOT NULL,
                    quantity INT NOT NULL,
                    total_amount DECIMAL(10,2) NOT NULL,
                    status VARCHAR(20) NOT NULL DEFAULT 'pending',
                    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                    INDEX idx_customer_id (customer_id),
                    INDEX idx_product_id (product_id),
                    INDEX idx_status (status),
                    INDEX idx_created_at (created_at)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """
            ]
        ),
        MySQLSchemaMigration(version: 2, name: "microsecond timestamps") { connection, logger in
            // The original's columns are plain TIMESTAMP (seconds); ours keep microseconds.
            let precision = try await MySQLSchema.datetimePrecision(table: "orders", column: "created_at", on: connection)
            if (precision ?? 6) < 6 {
                try await connection.query(
                    """
                    ALTER TABLE orders
                        MODIFY created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                        MODIFY updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                    """
                )
                logger.info("adopted the original orders table: timestamps now keep microseconds")
            }
        },
        MySQLSchemaMigration(
            version: 3,
            name: "transactional outbox",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS outbox_events (
                    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                    event_id VARCHAR(36) NOT NULL,
                    aggregate_id VARCHAR(36) NOT NULL,
                    event_type VARCHAR(64) NOT NULL,
                    routing_key VARCHAR(255) NOT NULL,
                    payload MEDIUMBLOB NOT NULL,
                    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                    published_at TIMESTAMP(6) NULL DEFAULT NULL,
                    UNIQUE KEY uk_outbox_events_event_id (event_id),
                    INDEX idx_outbox_events_pending (published_at, id)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """
            ]
        ),
        MySQLSchemaMigration(
            version: 4,
            name: "idempotency keys",
            statements: [
                // ASCII with a binary collation: keys are compared exactly, case included.
                """
                CREATE TABLE IF NOT EXISTS idempotency_keys (
                    idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                    order_id VARCHAR(36) NOT NULL,
                    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                    INDEX idx_idempotency_keys_created_at (created_at)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """
            ]
        ),
        MySQLSchemaMigration(
            version: 5,
            name: "outbox leases, attempts and parking",
            statements: [
                // available_at: when a leased or set-aside event is due again (NULL: due); attempts and last_error:
                // failures the broker pinned on this event alone; parked_at: given up after OUTBOX_MAX_ATTEMPTS.
                """
                ALTER TABLE outbox_events
                    ADD COLUMN attempts INT NOT NULL DEFAULT 0,
                    ADD COLUMN available_at TIMESTAMP(6) NULL DEFAULT NULL,
                    ADD COLUMN parked_at TIMESTAMP(6) NULL DEFAULT NULL,
                    ADD COLUMN last_error VARCHAR(512) NULL DEFAULT NULL
                """
            ]
        ),
    ]

    private let client: MySQLClient

    /// A store on `client`; call ``migrate(logger:)`` before use. The client must be running (in a service group).
    public init(client: MySQLClient) {
        self.client = client
    }

    /// Applies missing migrations (under a lock shared by every instance).
    public func migrate(logger: Logger) async throws {
        try await MySQLMigrator.migrate(self.client, migrations: Self.migrations, logger: logger)
    }

    public func create(_ order: Order, event: OutboxEvent, idempotency: IdempotencyClaim?) async throws -> OrderCreation {
        guard let idempotency else {
            try await self.client.withTransaction { connection in
                try await Self.insert(order, event: event, on: connection)
            }
            return .created
        }
        // Two requests reusing one expired key can deadlock on taking it over (both hold the shared lock a
        // duplicate-key error leaves, both want it exclusive); InnoDB rolls one back, which is safe to run again.
        var attempt = 1
        while true {
            do {
                return try await self.create(order, event: event, claiming: idempotency)
            } catch let error as MySQLError where error.isDeadlock && attempt < 3 {
                attempt += 1
            }
        }
    }

    private func create(_ order: Order, event: OutboxEvent, claiming idempotency: IdempotencyClaim) async throws -> OrderCreation {
        // READ COMMITTED, so that the read after a duplicate key sees the row the other request committed.
        try await self.client.withTransaction(isolation: .readCommitted) { connection in
            // Insert first: a concurrent request with the same key waits on this row's lock until we commit, then
            // gets a duplicate key. Reading first would let both see nothing and both insert.
            do {
                try await connection.query(
                    "INSERT INTO idempotency_keys (idem_key, order_id, created_at) VALUES (?, ?, ?)",
                    [.string(idempotency.key.value), .string(order.id), .timestamp(order.createdAt)]
                )
            } catch let error as MySQLError where error.isDuplicateKey {
                // A failed statement does not end the transaction in InnoDB; carry on in it. The read takes no lock:
                // an unexpired key (the usual case) is answered without ever wanting the row exclusively.
                let recorded = try await connection.query(
                    "SELECT order_id, created_at FROM idempotency_keys WHERE idem_key = ?", [.string(idempotency.key.value)]
                ).rows.first
                guard let recorded else { throw StorageDecodingError(column: "idempotency_keys.idem_key") }
                if try recorded.timestamp("created_at") >= idempotency.expiredBefore {
                    let orderID = try recorded.decode(String.self, column: "order_id")
                    let existing = try await connection.query(Self.selectOrders + " WHERE id = ?", [.string(orderID)]).rows.first
                    guard let existing else { throw StorageDecodingError(column: "idempotency_keys.order_id") }
                    return .existing(try Self.order(from: existing))
                }
                let taken = try await connection.query(
                    "UPDATE idempotency_keys SET order_id = ?, created_at = ? WHERE idem_key = ? AND created_at < ?",
                    [
                        .string(order.id), .timestamp(order.createdAt), .string(idempotency.key.value),
                        .timestamp(idempotency.expiredBefore),
                    ]
                ).affectedRows
                // Another request took the expired key over first: it is now that request's key.
                guard taken == 1 else { throw MySQLError(code: .server, serverErrorNumber: 1213, message: "idempotency key taken over concurrently") }
            }
            try await Self.insert(order, event: event, on: connection)
            return .created
        }
    }

    public func create(batch: [NewOrder]) async throws {
        guard !batch.isEmpty else { return }
        try await self.client.withTransaction { connection in
            try await Self.insert(batch, on: connection)
        }
    }

    private static func insert(_ order: Order, event: OutboxEvent, on connection: MySQLConnection) async throws {
        try await Self.insert([NewOrder(order: order, event: event)], on: connection)
    }

    /// Multi-row inserts in chunks of 64, 32, 16, 8, 4, 2 and 1 rows: a batch of up to 64 takes one statement per set
    /// bit of its size (a batch of 7 takes three), and seven shapes of each statement keep the connection's prepared
    /// statements reused rather than one prepared per batch size.
    private static func insert(_ entries: [NewOrder], on connection: MySQLConnection) async throws {
        try await Self.inChunks(entries, sizes: Self.chunkSizes) { size, chunk in
            var orderBinds: [MySQLData] = []
            var eventBinds: [MySQLData] = []
            orderBinds.reserveCapacity(8 * size)
            eventBinds.reserveCapacity(6 * size)
            for entry in chunk {
                let order = entry.order
                let event = entry.event
                orderBinds += [
                    .string(order.id), .string(order.customerID), .string(order.productID), .int(Int64(order.quantity)),
                    .decimal(order.totalAmount.decimalString), .string(order.status),
                    .timestamp(order.createdAt), .timestamp(order.updatedAt),
                ]
                eventBinds += [
                    .string(event.eventID), .string(event.aggregateID), .string(event.eventType),
                    .string(event.routingKey), .bytes(event.payload), .timestamp(event.createdAt),
                ]
            }
            try await connection.query(Self.insertOrders[size]!, orderBinds)
            try await connection.query(Self.insertEvents[size]!, eventBinds)
        }
    }

    private static let chunkSizes = [64, 32, 16, 8, 4, 2, 1]

    private static let insertOrders = MySQLOrderStore.multiRow(
        "INSERT INTO orders (id, customer_id, product_id, quantity, total_amount, status, created_at, updated_at) VALUES ",
        columns: 8
    )
    private static let insertEvents = MySQLOrderStore.multiRow(
        "INSERT INTO outbox_events (event_id, aggregate_id, event_type, routing_key, payload, created_at) VALUES ",
        columns: 6
    )

    private static func multiRow(_ prefix: String, columns: Int) -> [Int: String] {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        var statements: [Int: String] = [:]
        for size in Self.chunkSizes {
            statements[size] = prefix + Array(repeating: row, count: size).joined(separator: ", ")
        }
        return statements
    }

    public func purgeIdempotencyKeys(before cutoff: Timestamp) async throws -> Int {
        // In slices, as the outbox purge.
        var purged = 0
        while true {
            let result = try await self.client.query(
                "DELETE FROM idempotency_keys WHERE created_at < ? LIMIT 5000", [.timestamp(cutoff)]
            )
            purged += Int(min(result.affectedRows, 5000))  // a server reporting more than the LIMIT cannot overflow this
            if result.affectedRows < 5000 { return purged }
        }
    }

    public func order(id: String) async throws -> Order? {
        let rows = try await self.client.query(Self.selectOrders + " WHERE id = ?", [.string(id)]).rows
        return try rows.first.map(Self.order(from:))
    }

    public func orders(limit: Int, offset: Int) async throws -> [Order] {
        // Newest first; ids break ties between orders created in the same microsecond.
        let rows = try await self.client.query(
            Self.selectOrders + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            [.int(Int64(limit)), .int(Int64(offset))]
        ).rows
        return try rows.map(Self.order(from:))
    }

    public func orders(limit: Int, before: String) async throws -> [Order]? {
        let anchor = try await self.client.query("SELECT created_at FROM orders WHERE id = ?", [.string(before)]).rows
        guard let row = anchor.first else { return nil }
        let createdAt = try row.timestamp("created_at")
        // The first condition lets idx_created_at bound the range scan; the second skips the anchor's equals.
        let rows = try await self.client.query(
            Self.selectOrders
                + " WHERE created_at <= ? AND (created_at < ? OR id < ?) ORDER BY created_at DESC, id DESC LIMIT ?",
            [.timestamp(createdAt), .timestamp(createdAt), .string(before), .int(Int64(limit))]
        ).rows
        return try rows.map(Self.order(from:))
    }

    private static let selectOrders =
        "SELECT id, customer_id, product_id, quantity, total_amount, status, created_at, updated_at FROM orders"

    private static func order(from row: MySQLRow) throws -> Order {
        let amountText = try row.decode(String.self, column: "total_amount")
        guard let amount = Money(decimalString: amountText) else { throw StorageDecodingError(column: "total_amount") }
        return Order(
            id: try row.decode(String.self, column: "id"),
            customerID: try row.decode(String.self, column: "customer_id"),
            productID: try row.decode(String.self, column: "product_id"),
            quantity: Int(try row.decode(Int64.self, column: "quantity")),
            totalAmount: amount,
            status: try row.decode(String.self, column: "status"),
            createdAt: try row.timestamp("created_at"),
            updatedAt: try row.timestamp("updated_at")
        )
    }

    public func claimDueEvents(
        limit: Int, createdBefore: Timestamp, now: Timestamp, leaseUntil: Timestamp
    ) async throws -> [OutboxEvent] {
        // READ COMMITTED: the claim locks only the rows it returns. Under REPEATABLE READ the locking read also takes
        // gap locks, and two relays claiming at once can deadlock on them despite SKIP LOCKED. The transaction ends
        // with the lease written: the broker is awaited with no lock held.
        try await self.client.withTransaction(isolation: .readCommitted) { connection in
            let rows = try await connection.query(
                """
                SELECT id, attempts, event_id, aggregate_id, event_type, routing_key, payload, created_at FROM outbox_events
                WHERE published_at IS NULL AND parked_at IS NULL
                    AND (available_at IS NULL AND created_at <= ? OR available_at <= ?)
                ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED
                """,
                [.timestamp(createdBefore), .timestamp(now), .int(Int64(limit))]
            ).rows
            let events = try rows.map { row in
                OutboxEvent(
                    sequence: try row.decode(Int64.self, column: "id"),
                    attempts: Int(clamping: try row.decode(Int64.self, column: "attempts")),
                    eventID: try row.decode(String.self, column: "event_id"),
                    aggregateID: try row.decode(String.self, column: "aggregate_id"),
                    eventType: try row.decode(String.self, column: "event_type"),
                    routingKey: try row.decode(String.self, column: "routing_key"),
                    payload: try row.decode([UInt8].self, column: "payload"),
                    createdAt: try row.timestamp("created_at")
                )
            }
            try await Self.inChunks(events.map { MySQLData.int($0.sequence) }, sizes: Self.idChunkSizes) { size, ids in
                try await connection.query(Self.leaseEvents[size]!, [.timestamp(leaseUntil)] + ids)
            }
            return events
        }
    }

    public func markPublished(eventIDs: [String], at: Timestamp) async throws {
        try await Self.inChunks(eventIDs.map { MySQLData.string($0) }, sizes: Self.idChunkSizes) { size, ids in
            try await self.client.query(Self.markPublished[size]!, [.timestamp(at)] + ids)
        }
    }

    public func releaseEvents(eventIDs: [String], dueAt: Timestamp) async throws {
        try await Self.inChunks(eventIDs.map { MySQLData.string($0) }, sizes: Self.idChunkSizes) { size, ids in
            try await self.client.query(Self.releaseEvents[size]!, [.timestamp(dueAt)] + ids)
        }
    }

    public func setAside(_ failures: [OutboxFailure], at now: Timestamp) async throws {
        // One statement per event: failures of single events are rare (a round the broker failed whole is released
        // in one statement instead).
        for failure in failures {
            try await self.client.query(
                "UPDATE outbox_events SET attempts = ?, available_at = ?, parked_at = ?, last_error = ? WHERE event_id = ?",
                [
                    .int(Int64(failure.attempts)), failure.retryAt.map { .timestamp($0) } ?? .null,
                    failure.retryAt == nil ? .timestamp(now) : .null, .string(failure.reason), .string(failure.eventID),
                ]
            )
        }
    }

    public func unparkEvents() async throws -> Int {
        let result = try await self.client.query(
            "UPDATE outbox_events SET parked_at = NULL, attempts = 0, available_at = NULL WHERE parked_at IS NOT NULL AND published_at IS NULL"
        )
        return Int(clamping: result.affectedRows)
    }

    /// Runs `body` over `values` in chunks, each the largest of `sizes` (descending, ending with 1) that is left:
    /// a batch takes a few statements of a few shapes, each prepared once per connection.
    private static func inChunks<Element>(
        _ values: [Element], sizes: [Int], _ body: (Int, ArraySlice<Element>) async throws -> Void
    ) async throws {
        var remaining = values[...]
        while !remaining.isEmpty {
            let size = sizes.first { $0 <= remaining.count }!
            try await body(size, remaining.prefix(size))
            remaining = remaining.dropFirst(size)
        }
    }

    /// Chunk sizes of `… IN (…)` lists: ``chunkSizes`` plus 128 and 256, for relay batches of up to 256.
    private static let idChunkSizes = [256, 128] + MySQLOrderStore.chunkSizes
    private static let leaseEvents = MySQLOrderStore.inList("UPDATE outbox_events SET available_at = ? WHERE id IN ")
    private static let markPublished = MySQLOrderStore.inList(
        "UPDATE outbox_events SET published_at = ?, available_at = NULL WHERE event_id IN "
    )
    private static let releaseEvents = MySQLOrderStore.inList("UPDATE outbox_events SET available_at = ? WHERE event_id IN ")

    private static func inList(_ prefix: String) -> [Int: String] {
        var statements: [Int: String] = [:]
        for size in Self.idChunkSizes {
            statements[size] = prefix + "(" + Array(repeating: "?", count: size).joined(separator: ",") + ")"
        }
        return statements
    }

    public func outboxBacklog() async throws -> OutboxBacklog {
        let row = try await self.client.query(
            """
            SELECT COUNT(*) AS unpublished, COUNT(parked_at) AS parked,
                MIN(CASE WHEN parked_at IS NULL THEN created_at END) AS oldest
            FROM outbox_events WHERE published_at IS NULL
            """
        ).rows.first
        guard let row else { return OutboxBacklog(pending: 0, oldestCreatedAt: nil) }
        let unpublished = Int(clamping: try row.decode(Int64.self, column: "unpublished"))
        let parked = Int(clamping: try row.decode(Int64.self, column: "parked"))
        return OutboxBacklog(
            pending: max(0, unpublished - parked),
            oldestCreatedAt: try row.optionalTimestamp("oldest"),
            parked: parked
        )
    }

    public func purgePublishedEvents(before cutoff: Timestamp) async throws -> Int {
        // In slices, so a large backlog never holds long locks.
        var purged = 0
        while true {
            let result = try await self.client.query(
                "DELETE FROM outbox_events WHERE published_at IS NOT NULL AND published_at < ? LIMIT 5000",
                [.timestamp(cutoff)]
            )
            purged += Int(min(result.affectedRows, 5000))  // a server reporting more than the LIMIT cannot overflow this
            if result.affectedRows < 5000 { return purged }
        }
    }

    public func checkHealth() async throws {
        try await self.client.ping()
    }

    /// The client belongs to whoever created it; it stops with its service group.
    public func close() async {}
}
