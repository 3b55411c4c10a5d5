import AnalyticsService
import Logging
import OrderEvents
import SQLiteNIO
import SQLiteStorage
import ServiceCore

/// ``AnalyticsStore`` on a SQLite file (the embedded default).
public final class SQLiteAnalyticsStore: AnalyticsStore {
    /// The schema, versioned. `order_metrics` keeps the original's columns (amounts in cents, times in µs here);
    /// `analytics_totals` is the single row of running aggregates.
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(
            version: 1,
            name: "order metrics and running totals",
            statements: [
                """
                CREATE TABLE order_metrics (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    order_id TEXT NOT NULL,
                    customer_id TEXT NOT NULL,
                    product_id TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    total_amount_cents INTEGER NOT NULL,
                    processed_at INTEGER NOT NULL,
                    CONSTRAINT uk_order_metrics_order_id UNIQUE (order_id)
                )
                """,
                "CREATE INDEX idx_order_metrics_processed_at ON order_metrics (processed_at)",
                """
                CREATE TABLE analytics_totals (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    total_orders INTEGER NOT NULL,
                    total_revenue_cents INTEGER NOT NULL,
                    total_quantity INTEGER NOT NULL,
                    last_updated INTEGER
                )
                """,
                "INSERT INTO analytics_totals (id, total_orders, total_revenue_cents, total_quantity) VALUES (1, 0, 0, 0)",
            ]
        )
    ]

    /// Rows per multi-row INSERT: 6 parameters each stays far below SQLite's parameter limit.
    static let rowsPerInsert = 200

    private let database: SQLiteFileDatabase

    /// Wraps a database that ``migrations`` have been applied to.
    public init(database: SQLiteFileDatabase) {
        self.database = database
    }

    /// Opens `path`, applies migrations and returns the store.
    public static func open(path: String, durability: SQLiteFileDatabase.Durability, logger: Logger) async throws -> SQLiteAnalyticsStore {
        SQLiteAnalyticsStore(
            database: try await SQLiteFileDatabase.openMigrated(
                path: path, durability: durability, migrations: Self.migrations, logger: logger
            )
        )
    }

    public func migrate(logger: Logger) async throws {
        try await SQLiteMigrator.migrate(self.database, migrations: Self.migrations, logger: logger)
    }

    public func apply(_ events: [OrderCreatedEvent], processedAt: Timestamp) async throws -> AnalyticsApplyResult {
        try await self.database.transaction { connection in
            let before = try Self.totals(from: try await connection.query("SELECT * FROM analytics_totals WHERE id = 1"))
            var added = AnalyticsTotals.Increment()
            for chunk in events.chunked(into: Self.rowsPerInsert) {
                let values = Array(repeating: "(?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
                var binds: [SQLiteData] = []
                binds.reserveCapacity(chunk.count * 6)
                for event in chunk {
                    binds += [
                        .text(event.orderID), .text(event.customerID), .text(event.productID),
                        .int64(Int64(event.quantity)), .int64(event.totalAmount.cents),
                        .int64(processedAt.microsecondsSinceEpoch),
                    ]
                }
                // RETURNING yields only the rows actually inserted: duplicates (earlier, or twice in this very
                // statement) are skipped by the unique key and never reach the totals.
                let inserted = try await connection.query(
                    """
                    INSERT INTO order_metrics (order_id, customer_id, product_id, quantity, total_amount_cents, processed_at)
                    VALUES \(values)
                    ON CONFLICT (order_id) DO NOTHING
                    RETURNING quantity, total_amount_cents
                    """,
                    binds
                )
                for row in inserted {
                    try added.add(
                        quantity: try row.int64("quantity"), revenue: Money(cents: try row.int64("total_amount_cents")))
                }
            }
            // Computed here with checked arithmetic and written as values: SQLite's own `+` turns an overflowing
            // integer into an inexact REAL without an error.
            let after = try before.adding(added, lastUpdated: processedAt)
            if added.orders > 0 {
                _ = try await connection.query(
                    """
                    UPDATE analytics_totals
                    SET total_orders = ?, total_revenue_cents = ?, total_quantity = ?, last_updated = ?
                    WHERE id = 1
                    """,
                    [
                        .int64(after.totalOrders), .int64(after.totalRevenue.cents), .int64(after.totalQuantity),
                        .int64(processedAt.microsecondsSinceEpoch),
                    ]
                )
            }
            let applied = Int(added.orders)
            return AnalyticsApplyResult(applied: applied, duplicates: events.count - applied, totals: after)
        }
    }

    public func totals() async throws -> AnalyticsTotals {
        try Self.totals(from: try await self.database.query("SELECT * FROM analytics_totals WHERE id = 1"))
    }

    private static func totals(from rows: [SQLiteRow]) throws -> AnalyticsTotals {
        guard let row = rows.first else { return .empty }
        return AnalyticsTotals(
            totalOrders: try row.int64("total_orders"),
            totalRevenue: Money(cents: try row.int64("total_revenue_cents")),
            totalQuantity: try row.int64("total_quantity"),
            lastUpdated: row.optionalInt64("last_updated").map(Timestamp.init(microsecondsSinceEpoch:))
        )
    }

    /// The number of recorded orders, by scanning: for tests and tools, never for the summary.
    public func recordedOrderCount() async throws -> Int {
        let rows = try await self.database.query("SELECT COUNT(*) AS count FROM order_metrics")
        return Int(try rows.first?.int64("count") ?? 0)
    }

    public func checkHealth() async throws {
        try await self.database.ping()
    }

    public func close() async {
        await self.database.close()
    }
}
