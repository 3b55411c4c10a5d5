import AnalyticsService
import MySQLClient
import OrderEvents
import ServiceRuntime
import TestSupport
import XCTest

final class SQLiteAnalyticsStoreTests: XCTestCase {
    private func withStore(_ body: (AnalyticsStoreContract) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await SQLiteAnalyticsStore.open(
            path: directory.file("analytics.sqlite"), durability: .normal, logger: testLogger("store")
        )
        do {
            try await body(AnalyticsStoreContract(store: store, recordedOrders: { try await store.recordedOrderCount() }))
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    func testEmptyStoreHasEmptyTotals() async throws { try await self.withStore { try await $0.emptyStoreHasEmptyTotals() } }
    func testSameEventTwiceIsCountedOnce() async throws { try await self.withStore { try await $0.sameEventTwiceIsCountedOnce() } }
    func testDuplicatesInsideOneBatchAreCountedOnce() async throws {
        try await self.withStore { try await $0.duplicatesInsideOneBatchAreCountedOnce() }
    }
    func testRevenueIsExactAndLastUpdatedKeepsMicroseconds() async throws {
        try await self.withStore { try await $0.revenueIsExactAndLastUpdatedKeepsMicroseconds() }
    }
    func testLargeBatchAppliesInOneCall() async throws { try await self.withStore { try await $0.largeBatchAppliesInOneCall() } }
    func testConcurrentBatchesWithOverlapCountEachOrderOnce() async throws {
        try await self.withStore { try await $0.concurrentBatchesWithOverlapCountEachOrderOnce() }
    }

    func testTotalsSurviveReopening() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("analytics.sqlite")
        let store = try await SQLiteAnalyticsStore.open(path: path, durability: .normal, logger: testLogger("store"))
        _ = try await store.apply([try AnalyticsStoreContract.event(amount: "12.34")], processedAt: .now())
        await store.close()
        let reopened = try await SQLiteAnalyticsStore.open(path: path, durability: .normal, logger: testLogger("store"))
        let totals = try await reopened.totals()
        await reopened.close()
        XCTAssertEqual(totals.totalOrders, 1)
        XCTAssertEqual(totals.totalRevenue, Money(cents: 1234))
    }

    func testEmptySummaryHasNullLastUpdatedAndZeroAverages() throws {
        let json = String(decoding: AnalyticsSummary(totals: .empty).jsonBytes, as: UTF8.self)
        XCTAssertEqual(
            json,
            #"{"total_orders":0,"total_revenue":0,"average_order_value":0,"average_order_size":0,"last_updated":null}"#
        )
    }

    func testAverageRoundsHalfAwayFromZero() {
        let totals = AnalyticsTotals(totalOrders: 3, totalRevenue: Money(cents: 1000), totalQuantity: 3, lastUpdated: nil)
        XCTAssertEqual(AnalyticsSummary(totals: totals).averageOrderValue, Money(cents: 333))
        let half = AnalyticsTotals(totalOrders: 2, totalRevenue: Money(cents: 5), totalQuantity: 2, lastUpdated: nil)
        XCTAssertEqual(AnalyticsSummary(totals: half).averageOrderValue, Money(cents: 3))
    }
}

/// The same contract on the stack's MariaDB (`analytics_db`, as `analyticsuser`), from an empty database each time.
final class MySQLAnalyticsStoreTests: XCTestCase {
    private func withStore(_ body: (AnalyticsStoreContract) async throws -> Void) async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            let store = MySQLAnalyticsStore(client: client)
            try await store.migrate(logger: testLogger("migrate"))
            try await body(AnalyticsStoreContract(store: store, recordedOrders: { try await store.recordedOrderCount() }))
        }
    }

    func testEmptyStoreHasEmptyTotals() async throws { try await self.withStore { try await $0.emptyStoreHasEmptyTotals() } }
    func testSameEventTwiceIsCountedOnce() async throws { try await self.withStore { try await $0.sameEventTwiceIsCountedOnce() } }
    func testDuplicatesInsideOneBatchAreCountedOnce() async throws {
        try await self.withStore { try await $0.duplicatesInsideOneBatchAreCountedOnce() }
    }
    func testRevenueIsExactAndLastUpdatedKeepsMicroseconds() async throws {
        try await self.withStore { try await $0.revenueIsExactAndLastUpdatedKeepsMicroseconds() }
    }
    func testLargeBatchAppliesInOneCall() async throws { try await self.withStore { try await $0.largeBatchAppliesInOneCall() } }
    func testConcurrentBatchesWithOverlapCountEachOrderOnce() async throws {
        try await self.withStore { try await $0.concurrentBatchesWithOverlapCountEachOrderOnce() }
    }

    /// The summary cache's version: each commit's last_updated is later than the one before, even when a batch
    /// carries an earlier processing time (another instance's clock, or a batch that waited for the row lock).
    func testLastUpdatedGrowsWithEveryCommit() async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            let store = MySQLAnalyticsStore(client: client)
            try await store.migrate(logger: testLogger("migrate"))
            let time = Timestamp(microsecondsSinceEpoch: 1_800_000_000_000_000)
            let first = try await store.apply([try AnalyticsStoreContract.event(amount: "1.00")], processedAt: time)
            let second = try await store.apply([try AnalyticsStoreContract.event(amount: "2.00")], processedAt: time)
            let earlier = try await store.apply(
                [try AnalyticsStoreContract.event(amount: "3.00")], processedAt: time.adding(seconds: -60))
            XCTAssertEqual(first.totals.lastUpdated, time)
            XCTAssertEqual(second.totals.lastUpdated, time.adding(microseconds: 1))
            XCTAssertEqual(earlier.totals.lastUpdated, time.adding(microseconds: 2))
        }
    }

    func testMigratingTwiceChangesNothing() async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            let first = try await MySQLMigrator.migrate(client, migrations: MySQLAnalyticsStore.migrations, logger: testLogger("m"))
            let second = try await MySQLMigrator.migrate(client, migrations: MySQLAnalyticsStore.migrations, logger: testLogger("m"))
            XCTAssertEqual(first, [1, 2, 3])
            XCTAssertEqual(second, [])
        }
    }

    /// A database created by the original system, with an order counted twice (it counted redeliveries again), is
    /// adopted in place: the duplicate collapses, the unique key is added, and the totals count each order once.
    func testOriginalDatabaseIsAdoptedWithDuplicatesCollapsed() async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            try await client.query(
                """
                CREATE TABLE order_metrics (
                    id INT AUTO_INCREMENT PRIMARY KEY,
                    order_id VARCHAR(36) NOT NULL,
                    customer_id VARCHAR(36) NOT NULL,
                    product_id VARCHAR(36) NOT NULL,
                    quantity INT NOT NULL,
                    total_amount DECIMAL(10,2) NOT NULL,
                    processed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                    INDEX idx_order_id (order_id)
                )
                """
            )
            try await client.query(
                """
                INSERT INTO order_metrics (order_id, customer_id, product_id, quantity, total_amount) VALUES
                ('order-a', 'c1', 'p1', 2, 99.99), ('order-b', 'c2', 'p1', 1, 0.10),
                ('order-a', 'c1', 'p1', 2, 99.99), ('order-c', 'c3', 'p2', 3, 0.20)
                """
            )
            let store = MySQLAnalyticsStore(client: client)
            try await store.migrate(logger: testLogger("adopt"))
            let totals = try await store.totals()
            XCTAssertEqual(totals.totalOrders, 3, "order-a once")
            XCTAssertEqual(totals.totalRevenue, Money(cents: 9999 + 10 + 20))
            XCTAssertEqual(totals.totalQuantity, 6)
            XCTAssertNotNil(totals.lastUpdated)
            let recorded = try await store.recordedOrderCount()
            XCTAssertEqual(recorded, 3)
            let kept = try await client.query("SELECT MIN(id) AS id FROM order_metrics WHERE order_id = 'order-a'").rows
            XCTAssertEqual(try kept.first?.decode(Int64.self, column: "id"), 1, "the earliest row is kept")
            // From now on the unique key keeps each order once.
            let again = try await store.apply(
                [OrderCreatedEvent(eventID: nil, orderID: "order-a", customerID: "c1", productID: "p1", quantity: 2,
                                   totalAmount: Money(cents: 9999), status: "pending", createdAt: nil)],
                processedAt: .now()
            )
            XCTAssertEqual(again.applied, 0)
        }
    }
}
