import AnalyticsService
import OrderEvents
import ServiceCore
import XCTest

/// What every ``AnalyticsStore`` must do, run against SQLite and MySQL alike. Each check expects an empty store.
struct AnalyticsStoreContract {
    let store: any AnalyticsStore
    let recordedOrders: @Sendable () async throws -> Int

    static func event(_ orderID: String = Identifier.random(), amount: String = "10.00", quantity: Int = 1) throws -> OrderCreatedEvent {
        OrderCreatedEvent(
            eventID: Identifier.random(), orderID: orderID, customerID: "customer", productID: "product",
            quantity: quantity, totalAmount: try Money(jsonNumber: amount), status: "pending", createdAt: .now()
        )
    }

    func emptyStoreHasEmptyTotals() async throws {
        let totals = try await self.store.totals()
        XCTAssertEqual(totals, .empty)
    }

    func sameEventTwiceIsCountedOnce() async throws {
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
        let recorded = try await self.recordedOrders()
        XCTAssertEqual(recorded, 1)
    }

    func duplicatesInsideOneBatchAreCountedOnce() async throws {
        let event = try Self.event(amount: "5")
        let result = try await self.store.apply([event, try Self.event(amount: "1"), event, event], processedAt: .now())
        XCTAssertEqual(result.applied, 2)
        XCTAssertEqual(result.duplicates, 2)
        XCTAssertEqual(result.totals.totalOrders, 2)
        XCTAssertEqual(result.totals.totalRevenue, Money(cents: 600))
    }

    func revenueIsExactAndLastUpdatedKeepsMicroseconds() async throws {
        let processedAt = Timestamp(microsecondsSinceEpoch: 1_764_000_000_123_456)
        _ = try await self.store.apply([try Self.event(amount: "0.10"), try Self.event(amount: "0.20")], processedAt: processedAt)
        let totals = try await self.store.totals()
        XCTAssertEqual(totals.totalRevenue, Money(cents: 30))
        XCTAssertEqual(totals.totalQuantity, 2)
        XCTAssertEqual(totals.lastUpdated, processedAt)
        let json = String(decoding: AnalyticsSummary(totals: totals).jsonBytes, as: UTF8.self)
        XCTAssertTrue(json.contains(#""total_revenue":0.3,"#), json)
        XCTAssertTrue(json.contains(#""average_order_value":0.15,"average_order_size":0.15,"#), json)
    }

    func largeBatchAppliesInOneCall() async throws {
        let events = try (0..<1_000).map { _ in try Self.event(amount: "1.01", quantity: 2) }
        let result = try await self.store.apply(events, processedAt: .now())
        XCTAssertEqual(result.applied, 1_000)
        XCTAssertEqual(result.totals.totalRevenue, Money(cents: 101_000))
        XCTAssertEqual(result.totals.totalQuantity, 2_000)
        let again = try await self.store.apply(Array(events[500..<1_000]) + [try Self.event(amount: "1")], processedAt: .now())
        XCTAssertEqual(again.applied, 1)
        XCTAssertEqual(again.duplicates, 500)
        XCTAssertEqual(again.totals.totalOrders, 1_001)
    }

    func concurrentBatchesWithOverlapCountEachOrderOnce() async throws {
        let shared = try (0..<200).map { _ in try Self.event(amount: "2.50") }
        let store = self.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                let own = try (0..<50).map { _ in try Self.event(amount: "1") }
                let batch = worker % 2 == 0 ? shared + own : own + shared.reversed()
                group.addTask { _ = try await store.apply(batch, processedAt: .now()) }
            }
            try await group.waitForAll()
        }
        let totals = try await self.store.totals()
        XCTAssertEqual(totals.totalOrders, 400)
        XCTAssertEqual(totals.totalRevenue, Money(cents: 200 * 250 + 200 * 100))
        let recorded = try await self.recordedOrders()
        XCTAssertEqual(recorded, 400)
    }
}
