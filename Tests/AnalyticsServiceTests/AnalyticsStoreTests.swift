import AnalyticsService
import AnalyticsStorage
import MySQLClient
import MySQLStorage
import OrderEvents
import SQLiteStorage
import ServiceCore
import Storage
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

    func testAValueTheColumnRejectsIsADataErrorAndWritesNothing() async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            let store = MySQLAnalyticsStore(client: client)
            try await store.migrate(logger: testLogger("migrate"))
            // A column narrower than the contract (someone's schema change): the 20-character id does not fit.
            try await client.query("ALTER TABLE order_metrics MODIFY product_id VARCHAR(8) NOT NULL")
            var wide = try AnalyticsStoreContract.event(amount: "1.00")
            wide.productID = "product-of-20-chars!"
            do {
                _ = try await store.apply([try AnalyticsStoreContract.event(amount: "2.00"), wide], processedAt: .now())
                XCTFail("MariaDB refuses the value in strict mode")
            } catch {
                let dataError = StoreDataError.classify(error)
                XCTAssertNotNil(dataError, "\(error)")
                XCTAssertTrue(dataError?.reason.contains("1406") ?? false, "\(error)")
            }
            let totals = try await store.totals()
            XCTAssertEqual(totals, .empty, "the transaction rolled back: nothing of the batch was written")
            let result = try await store.apply([try AnalyticsStoreContract.event(amount: "2.00")], processedAt: .now())
            XCTAssertEqual(result.applied, 1)
        }
    }

    func testEveryConnectionRunsInStrictModeWhateverTheServerSays() async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            let rows = try await client.query("SELECT @@SESSION.sql_mode AS mode, @@SESSION.time_zone AS zone").rows
            XCTAssertTrue(try rows.first?.decode(String.self, column: "mode").contains("STRICT_ALL_TABLES") ?? false)
            XCTAssertEqual(try rows.first?.decode(String.self, column: "zone"), "+00:00")
        }
    }

    /// The column's collation says "ORDER-A" and "order-a" are one key; an event with either is counted once, and
    /// the second is a duplicate, not an error retried forever.
    func testAnIDTheCollationEqualsToARecordedOneIsADuplicateNotAnEndlessError() async throws {
        try await MySQLTestDatabase.analytics.withClient { client in
            let store = MySQLAnalyticsStore(client: client)
            try await store.migrate(logger: testLogger("migrate"))
            let lower = try AnalyticsStoreContract.event("order-a", amount: "1.00")
            let upper = try AnalyticsStoreContract.event("ORDER-A", amount: "1.00")
            _ = try await store.apply([lower], processedAt: .now())
            let alone = try await store.apply([upper], processedAt: .now())
            XCTAssertEqual(alone.applied, 0)
            XCTAssertEqual(alone.duplicates, 1)
            // In one batch with a new order, the batch as a whole is refused as data (the consumer then splits it and
            // applies the halves): never an outage.
            let other = try AnalyticsStoreContract.event("order-b", amount: "5.00")
            do {
                _ = try await store.apply([upper, other], processedAt: .now())
                XCTFail("expected a data error for the batch")
            } catch {
                XCTAssertNotNil(StoreDataError.classify(error), "\(error)")
            }
            let halves = try await store.apply([other], processedAt: .now())
            XCTAssertEqual(halves.applied, 1)
            let totals = try await store.totals()
            XCTAssertEqual(totals.totalOrders, 2)
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
                                   totalAmount: Money(cents: 9999), status: "pending", createdAt: .now())],
                processedAt: .now()
            )
            XCTAssertEqual(again.applied, 0)
        }
    }
}
