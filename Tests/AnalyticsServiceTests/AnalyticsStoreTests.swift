import AnalyticsService
import OrderEvents
import ServiceRuntime
import TestSupport
import XCTest

final class AnalyticsStoreTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var store: SQLiteAnalyticsStore!

    override func setUp() async throws {
        self.directory = try TemporaryDirectory()
        self.store = try await SQLiteAnalyticsStore.open(
            path: self.directory.file("analytics.sqlite"), durability: .normal, logger: testLogger("store")
        )
    }

    override func tearDown() async throws {
        await self.store.close()
        self.directory.remove()
    }

    static func event(_ orderID: String = Identifier.random(), amount: String = "10.00", quantity: Int = 1) throws -> OrderCreatedEvent {
        OrderCreatedEvent(
            eventID: Identifier.random(), orderID: orderID, customerID: "customer", productID: "product",
            quantity: quantity, totalAmount: try Money(jsonNumber: amount), status: "pending", createdAt: .now()
        )
    }

    func testSameEventTwiceIsCountedOnce() async throws {
        let event = try Self.event(amount: "99.99")
        let first = try await self.store.apply([event], processedAt: .now())
        XCTAssertEqual(first.applied, 1)
        var redelivered = event
        redelivered.eventID = Identifier.random()  // the original's events may differ in event_id: order_id decides
        let second = try await self.store.apply([redelivered], processedAt: .now())
        XCTAssertEqual(second.applied, 0)
        XCTAssertEqual(second.duplicates, 1)
        let totals = try await self.store.totals()
        XCTAssertEqual(totals.totalOrders, 1)
        XCTAssertEqual(totals.totalRevenue, Money(cents: 9999))
        let recorded = try await self.store.recordedOrderCount()
        XCTAssertEqual(recorded, 1)
    }

    func testDuplicatesInsideOneBatchAreCountedOnce() async throws {
        let event = try Self.event(amount: "5")
        let result = try await self.store.apply([event, try Self.event(amount: "1"), event, event], processedAt: .now())
        XCTAssertEqual(result.applied, 2)
        XCTAssertEqual(result.duplicates, 2)
        XCTAssertEqual(result.totals.totalOrders, 2)
        XCTAssertEqual(result.totals.totalRevenue, Money(cents: 600))
    }

    func testRevenueIsExact() async throws {
        _ = try await self.store.apply([try Self.event(amount: "0.10"), try Self.event(amount: "0.20")], processedAt: .now())
        let totals = try await self.store.totals()
        XCTAssertEqual(totals.totalRevenue, Money(cents: 30))
        XCTAssertEqual(AnalyticsSummary(totals: totals).jsonBytes.count > 0, true)
        let json = String(decoding: AnalyticsSummary(totals: totals).jsonBytes, as: UTF8.self)
        XCTAssertTrue(json.contains(#""total_revenue":0.3,"#), json)
        XCTAssertTrue(json.contains(#""average_order_value":0.15,"average_order_size":0.15,"#), json)
    }

    func testLargeBatchAppliesInOneCall() async throws {
        let events = try (0..<1_000).map { _ in try Self.event(amount: "1.01", quantity: 2) }
        let result = try await self.store.apply(events, processedAt: .now())
        XCTAssertEqual(result.applied, 1_000)
        XCTAssertEqual(result.totals.totalRevenue, Money(cents: 101_000))
        XCTAssertEqual(result.totals.totalQuantity, 2_000)
        XCTAssertNotNil(result.totals.lastUpdated)
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

    func testTotalsSurviveReopening() async throws {
        _ = try await self.store.apply([try Self.event(amount: "12.34")], processedAt: .now())
        await self.store.close()
        self.store = try await SQLiteAnalyticsStore.open(
            path: self.directory.file("analytics.sqlite"), durability: .normal, logger: testLogger("store")
        )
        let totals = try await self.store.totals()
        XCTAssertEqual(totals.totalOrders, 1)
        XCTAssertEqual(totals.totalRevenue, Money(cents: 1234))
    }
}
