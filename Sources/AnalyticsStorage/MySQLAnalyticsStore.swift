import AnalyticsService
import Logging
import MySQLClient
import MySQLStorage
import OrderEvents
import ServiceCore
import Storage

/// ``AnalyticsStore`` on MySQL 8 / MariaDB ≥ 10.6 (`--store mysql`), in the original's `order_metrics` table plus
/// a one-row `analytics_totals` table of running aggregates.
///
/// A batch is applied in one transaction: the orders already recorded are read with a locking read (which also
/// locks the gaps, so a concurrent consumer cannot insert the same order meanwhile), only the new ones are
/// inserted, and the totals grow by exactly those. A deadlock or a duplicate key from a concurrent instance rolls the
/// transaction back and the batch is tried again, a few times, before the error reaches the consumer.
public final class MySQLAnalyticsStore: AnalyticsStore {
    /// The schema. The same chain creates a fresh database and adopts one created by the original (docs/CONTRACTS.md, "Tables"):
    /// version 2 collapses the duplicate rows the original wrote for redelivered events (the earliest is kept, the
    /// count is logged) before the unique key is added, and version 3 backfills the totals, each order once.
    public static let migrations: [MySQLSchemaMigration] = [
        MySQLSchemaMigration(
            version: 1,
            name: "order_metrics (the original's table)",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS order_metrics (
                    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                    order_id VARCHAR(36) NOT NULL,
                    customer_id VARCHAR(36) NOT NULL,
                    product_id VARCHAR(36) NOT NULL,
                    quantity INT NOT NULL,
                    total_amount DECIMAL(10,2) NOT NULL,
                    processed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                    INDEX idx_order_id (order_id),
                    INDEX idx_processed_at (processed_at)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """
            ]
        ),
        MySQLSchemaMigration(version: 2, name: "one row per order, microsecond timestamps") { connection, logger in
            if !(try await MySQLSchema.indexExists("uk_order_metrics_order_id", table: "order_metrics", on: connection)) {
                let collapsed = try await connection.query(
                    """
                    DELETE later FROM order_metrics later
                    JOIN order_metrics earlier ON later.order_id = earlier.order_id AND later.id > earlier.id
                    """
                ).affectedRows
                if collapsed > 0 {
                    logger.warning(
                        "collapsed duplicate order_metrics rows left by redelivered events (the earliest of each order is kept)",
                        metadata: ["collapsed_rows": "\(collapsed)"]
                    )
                }
                try await connection.query(
                    "ALTER TABLE order_metrics ADD UNIQUE KEY uk_order_metrics_order_id (order_id)"
                )
            }
            let precision = try await MySQLSchema.datetimePrecision(table: "order_metrics", column: "processed_at", on: connection)
            if (precision ?? 6) < 6 {
                try await connection.query(
                    "ALTER TABLE order_metrics MODIFY processed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
                )
            }
        },
        MySQLSchemaMigration(
            version: 3,
            name: "running totals, backfilled",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS analytics_totals (
                    id TINYINT NOT NULL PRIMARY KEY,
                    total_orders BIGINT NOT NULL,
                    total_revenue DECIMAL(20,2) NOT NULL,
                    total_quantity BIGINT NOT NULL,
                    last_updated TIMESTAMP(6) NULL DEFAULT NULL
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """,
                """
                INSERT INTO analytics_totals (id, total_orders, total_revenue, total_quantity, last_updated)
                SELECT 1, COUNT(*), COALESCE(SUM(total_amount), 0), COALESCE(SUM(quantity), 0), MAX(processed_at)
                FROM order_metrics
                ON DUPLICATE KEY UPDATE id = id
                """,
            ]
        ),
    ]

    /// Rows per multi-row statement.
    static let rowsPerStatement = 500
    /// Attempts of one batch against deadlocks and concurrent duplicates.
    static let attempts = 3

    private let client: MySQLClient

    /// A store on `client`; call ``migrate(logger:)`` before use. The client must be running (in a service group).
    public init(client: MySQLClient) {
        self.client = client
    }

    /// Applies missing migrations (under a lock shared by every instance).
    public func migrate(logger: Logger) async throws {
        try await MySQLMigrator.migrate(self.client, migrations: Self.migrations, logger: logger)
    }

    public func apply(_ events: [OrderCreatedEvent], processedAt: Timestamp) async throws -> AnalyticsApplyResult {
        // One event per order, the first of each: duplicates inside the batch are duplicates too. Ids compare by
        // their bytes here; the database's own comparison (its collation) has the last word below.
        var seen = Set<[UInt8]>()
        // In key order, so concurrent batches (several consumers, overlapping redeliveries) take their row locks in
        // the same order: they wait for each other instead of deadlocking.
        let unique = events.filter { seen.insert(Array($0.orderID.utf8)).inserted }.sorted { $0.orderID < $1.orderID }
        var attempt = 1
        while true {
            do {
                return try await self.applyOnce(unique, total: events.count, processedAt: processedAt)
            } catch let error as MySQLError where error.isDuplicateKey && unique.count == 1 {
                // The unique key knows this order although the locking read did not return it by its exact bytes:
                // it is recorded under an id the column's collation treats as equal (e.g. differing only in case),
                // or another instance recorded it meanwhile. Either way, counted already.
                return AnalyticsApplyResult(applied: 0, duplicates: events.count, totals: try await self.totals())
            } catch let error as MySQLError where error.isDeadlock || error.isDuplicateKey || error.isLockWaitTimeout {
                guard attempt < Self.attempts else {
                    if error.isDuplicateKey {
                        // Not a race that a retry settles: an order of this batch equals a recorded one only under
                        // the collation. Splitting the batch finds it (a single event is counted as a duplicate).
                        throw StoreDataError(reason: "an order id of the batch is already recorded under another spelling")
                    }
                    throw error
                }
                attempt += 1
            }
        }
    }

    private func applyOnce(_ events: [OrderCreatedEvent], total: Int, processedAt: Timestamp) async throws -> AnalyticsApplyResult {
        // READ COMMITTED: the locking read of orders not yet recorded takes no gap locks. Under REPEATABLE READ two
        // batches both lock the same gap and then both insert into it, a deadlock whatever the order; here the
        // second one waits for the first's rows and gets a duplicate key, and the retry skips those orders.
        try await self.client.withTransaction(isolation: .readCommitted) { connection in
            var recorded = Set<[UInt8]>()
            for chunk in events.chunked(into: Self.rowsPerStatement) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try await connection.query(
                    "SELECT order_id FROM order_metrics WHERE order_id IN (\(placeholders)) FOR UPDATE",
                    chunk.map { .string($0.orderID) }
                ).rows
                for row in rows { recorded.insert(Array(try row.decode(String.self, column: "order_id").utf8)) }
            }
            let fresh = events.filter { !recorded.contains(Array($0.orderID.utf8)) }
            var added = AnalyticsTotals.Increment()
            for chunk in fresh.chunked(into: Self.rowsPerStatement) {
                let values = Array(repeating: "(?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
                var binds: [MySQLData] = []
                binds.reserveCapacity(chunk.count * 6)
                for event in chunk {
                    binds += [
                        .string(event.orderID), .string(event.customerID), .string(event.productID),
                        .int(Int64(event.quantity)), .decimal(event.totalAmount.decimalString), .timestamp(processedAt),
                    ]
                    try added.add(quantity: Int64(event.quantity), revenue: event.totalAmount)
                }
                try await connection.query(
                    """
                    INSERT INTO order_metrics (order_id, customer_id, product_id, quantity, total_amount, processed_at)
                    VALUES \(values)
                    """,
                    binds
                )
            }
            if !fresh.isEmpty {
                // The columns are BIGINT and DECIMAL(20,2): a total past them fails the statement (strict mode, see
                // MySQLSession) with a data error, which the consumer isolates.
                try await connection.query(
                    """
                    UPDATE analytics_totals
                    SET total_orders = total_orders + ?, total_revenue = total_revenue + ?,
                        total_quantity = total_quantity + ?,
                        last_updated = GREATEST(COALESCE(last_updated + INTERVAL 1 MICROSECOND, ?), ?)
                    WHERE id = 1
                    """,
                    // last_updated strictly grows in commit order (the row lock orders the commits), even when two
                    // instances' clocks or batch start times disagree: the summary cache's version (SummaryCache).
                    [.int(added.orders), .decimal(added.revenue.decimalString), .int(added.quantity),
                     .timestamp(processedAt), .timestamp(processedAt)]
                )
            }
            let totals = try Self.totals(from: try await connection.query(Self.selectTotals).rows)
            return AnalyticsApplyResult(applied: fresh.count, duplicates: total - fresh.count, totals: totals)
        }
    }

    public func totals() async throws -> AnalyticsTotals {
        try Self.totals(from: try await self.client.query(Self.selectTotals).rows)
    }

    private static let selectTotals =
        "SELECT total_orders, total_revenue, total_quantity, last_updated FROM analytics_totals WHERE id = 1"

    private static func totals(from rows: [MySQLRow]) throws -> AnalyticsTotals {
        guard let row = rows.first else { return .empty }
        guard let revenue = Money(decimalString: try row.decode(String.self, column: "total_revenue")) else {
            throw StorageDecodingError(column: "total_revenue")
        }
        return AnalyticsTotals(
            totalOrders: try row.decode(Int64.self, column: "total_orders"),
            totalRevenue: revenue,
            totalQuantity: try row.decode(Int64.self, column: "total_quantity"),
            lastUpdated: try row.optionalTimestamp("last_updated")
        )
    }

    /// The number of recorded orders, by scanning: for tests and tools, never for the summary.
    public func recordedOrderCount() async throws -> Int {
        Int(try await self.client.query("SELECT COUNT(*) AS n FROM order_metrics").rows.first?.decode(Int64.self, column: "n") ?? 0)
    }

    public func checkHealth() async throws {
        try await self.client.ping()
    }

    /// The client belongs to whoever created it; it stops with its service group.
    public func close() async {}
}
