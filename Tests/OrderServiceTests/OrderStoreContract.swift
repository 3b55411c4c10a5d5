import ClientTestSupport
import MySQLClient
import OrderEvents
import OrderMessaging
import OrderService
import OrderStorage
import SQLiteStorage
import ServiceCore
import TestSupport
import XCTest

/// What every ``OrderStore`` must do, run against SQLite and MySQL alike. Each check expects an empty store.
struct OrderStoreContract {
    let store: any OrderStore

    @discardableResult
    func createOrder(_ index: Int = 0, at createdAt: Timestamp = .now(), cents: Int64 = 9990) async throws -> Order {
        let order = Order(
            id: Identifier.random(), customerID: "customer-\(index)", productID: "product-ü", quantity: 1 + index % 3,
            totalAmount: Money(cents: cents), status: Order.initialStatus, createdAt: createdAt, updatedAt: createdAt
        )
        let event = order.createdEvent(eventID: Identifier.random())
        try await self.store.create(
            order,
            event: OutboxEvent(
                eventID: event.eventID!, aggregateID: order.id, eventType: OrderCreatedEvent.eventType,
                routingKey: OrderTopology.orderCreatedRoutingKey, payload: event.encode(), createdAt: createdAt
            )
        )
        return order
    }

    func orderReadsBackFieldForField() async throws {
        let created = try await self.createOrder(at: Timestamp(microsecondsSinceEpoch: 1_764_000_000_123_456), cents: 99_999_999_99)
        let read = try await self.store.order(id: created.id)
        XCTAssertEqual(read, created, "microseconds and exact amounts survive the store")
        XCTAssertEqual(read?.jsonBytes, created.jsonBytes)
        let missing = try await self.store.order(id: Identifier.random())
        XCTAssertNil(missing)
    }

    func listIsNewestFirstWithLimitAndOffset() async throws {
        let base = Timestamp.now()
        var ids: [String] = []
        for index in 0..<7 {
            ids.append(try await self.createOrder(index, at: base.adding(microseconds: Int64(index))).id)
        }
        let newestFirst = Array(ids.reversed())
        let firstPage = try await self.store.orders(limit: 3, offset: 0).map(\.id)
        XCTAssertEqual(firstPage, Array(newestFirst[0..<3]))
        let secondPage = try await self.store.orders(limit: 3, offset: 3).map(\.id)
        XCTAssertEqual(secondPage, Array(newestFirst[3..<6]))
        let beyond = try await self.store.orders(limit: 10, offset: 7)
        XCTAssertEqual(beyond, [])
    }

    /// Keyset pages walk every order exactly once, newest first, the same order as offset pages, including orders
    /// created in the same microsecond (the id breaks the tie), and an unknown anchor is nil.
    func keysetPagesWalkEveryOrderOnceInTheOffsetOrder() async throws {
        let base = Timestamp.now()
        for index in 0..<9 {
            // Three orders per microsecond: ties that only the id orders.
            try await self.createOrder(index, at: base.adding(microseconds: Int64(index / 3)))
        }
        let byOffset = try await self.store.orders(limit: 100, offset: 0).map(\.id)
        XCTAssertEqual(byOffset.count, 9)
        var byKey: [String] = []
        var page = try await self.store.orders(limit: 4, offset: 0).map(\.id)
        while !page.isEmpty {
            byKey += page
            XCTAssertLessThan(byKey.count, 20, "pages must end")
            page = try await self.store.orders(limit: 4, before: page.last!)?.map(\.id) ?? []
        }
        XCTAssertEqual(byKey, byOffset, "by key, every order once, in the offset order")
        let afterLast = try await self.store.orders(limit: 4, before: byOffset.last!)
        XCTAssertEqual(afterLast, [])
        let unknown = try await self.store.orders(limit: 4, before: Identifier.random())
        XCTAssertNil(unknown)
    }

    /// Claims every due event now, as a relay with no hand-off window would, leased for a minute.
    func claimDue(limit: Int = 100, at now: Timestamp = .now()) async throws -> [OutboxEvent] {
        try await self.store.claimDueEvents(
            limit: limit, createdBefore: now.adding(seconds: 1), now: now, leaseUntil: now.adding(seconds: 60)
        )
    }

    func relayClaimsOldestFirstAndMarksOnlyConfirmedEvents() async throws {
        var orders: [Order] = []
        for index in 0..<5 { orders.append(try await self.createOrder(index)) }
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 5)
        XCTAssertEqual(backlog.parked, 0)
        XCTAssertNotNil(backlog.oldestCreatedAt)

        let firstClaim = try await self.claimDue(limit: 3)
        XCTAssertEqual(firstClaim.map(\.aggregateID), orders.prefix(3).map(\.id), "creation order")
        XCTAssertEqual(firstClaim.map(\.attempts), [0, 0, 0])
        let decoded = try OrderCreatedEvent.decode(firstClaim[0].payload)
        XCTAssertEqual(decoded.orderID, orders[0].id)
        // The broker confirmed two of three; the third is released for the next round.
        try await self.store.markPublished(eventIDs: firstClaim.prefix(2).map(\.eventID), at: .now())
        let after = try await self.store.outboxBacklog()
        XCTAssertEqual(after.pending, 3)

        let secondClaim = try await self.claimDue(limit: 10)
        XCTAssertEqual(secondClaim.map(\.aggregateID), [orders[3].id, orders[4].id], "the third is leased: not claimed again")
        try await self.store.releaseEvents(eventIDs: [firstClaim[2].eventID], dueAt: .now())
        let thirdClaim = try await self.claimDue(limit: 10)
        XCTAssertEqual(thirdClaim.map(\.aggregateID), [orders[2].id], "a released event is due again")
        try await self.store.markPublished(eventIDs: (secondClaim + thirdClaim).map(\.eventID), at: .now())
        let drained = try await self.store.outboxBacklog()
        XCTAssertEqual(drained.pending, 0)
        XCTAssertNil(drained.oldestCreatedAt)
        let none = try await self.claimDue()
        XCTAssertEqual(none, [], "published events are never claimed")
    }

    /// Events younger than the hand-off window belong to the instance that stored them; a lease that has run out
    /// makes an event due again (its relay died while publishing).
    func youngEventsWaitForTheWindowAndExpiredLeasesAreDue() async throws {
        let now = Timestamp.now()
        try await self.createOrder(0, at: now)
        let young = try await self.store.claimDueEvents(
            limit: 10, createdBefore: now.adding(seconds: -10), now: now, leaseUntil: now.adding(seconds: 30)
        )
        XCTAssertEqual(young, [])
        let claimed = try await self.store.claimDueEvents(
            limit: 10, createdBefore: now.adding(seconds: 1), now: now, leaseUntil: now.adding(seconds: 30)
        )
        XCTAssertEqual(claimed.count, 1)
        let leased = try await self.claimDue(at: now.adding(seconds: 29))
        XCTAssertEqual(leased, [])
        let expired = try await self.claimDue(at: now.adding(seconds: 31))
        XCTAssertEqual(expired.map(\.eventID), claimed.map(\.eventID))

        // A young event its relay gave up on (released) is due at once, hand-off window or not.
        try await self.createOrder(1, at: now)
        let windowed = try await self.store.claimDueEvents(
            limit: 10, createdBefore: now.adding(seconds: -10), now: now, leaseUntil: now.adding(seconds: 30))
        XCTAssertEqual(windowed, [], "young, and the first one leased")
        let taken = try await self.store.claimDueEvents(
            limit: 10, createdBefore: now.adding(seconds: 1), now: now, leaseUntil: now.adding(seconds: 30))
        XCTAssertEqual(taken.count, 1)
        try await self.store.releaseEvents(eventIDs: taken.map(\.eventID), dueAt: now)
        let released = try await self.store.claimDueEvents(
            limit: 10, createdBefore: now.adding(seconds: -10), now: now, leaseUntil: now.adding(seconds: 30))
        XCTAssertEqual(released.map(\.eventID), taken.map(\.eventID), "released: due despite the window")
    }

    /// A failed event is set aside until its retry time with its attempts counted; a parked one is never claimed,
    /// is counted apart from the pending ones, and is due again once unparked.
    func failedEventsAreSetAsideOrParkedAndUnparked() async throws {
        for index in 0..<3 { try await self.createOrder(index) }
        let events = try await self.claimDue()
        XCTAssertEqual(events.count, 3)
        let now = Timestamp.now()
        try await self.store.setAside(
            [
                OutboxFailure(eventID: events[0].eventID, attempts: 3, retryAt: now.adding(seconds: -1), reason: "nack"),
                OutboxFailure(eventID: events[1].eventID, attempts: 1, retryAt: now.adding(seconds: 60), reason: "nack"),
                OutboxFailure(eventID: events[2].eventID, attempts: 10, retryAt: nil, reason: String(repeating: "x", count: 600)),
            ],
            at: now
        )
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 2)
        XCTAssertEqual(backlog.parked, 1)
        let due = try await self.claimDue(at: now)
        XCTAssertEqual(due.map(\.eventID), [events[0].eventID], "only the one whose retry time has come")
        XCTAssertEqual(due.first?.attempts, 3, "attempts are kept")
        let later = try await self.claimDue(at: now.adding(seconds: 120))
        XCTAssertEqual(later.map(\.eventID), [events[0].eventID, events[1].eventID], "never the parked one")

        let unparked = try await self.store.unparkEvents()
        XCTAssertEqual(unparked, 1)
        let again = try await self.claimDue(at: now.adding(seconds: 240))
        XCTAssertEqual(again.map(\.eventID), events.map(\.eventID))
        XCTAssertEqual(again.last?.attempts, 0, "unparking starts its count again")
        let none = try await self.store.unparkEvents()
        XCTAssertEqual(none, 0)
    }

    func publishedEventsArePurgedAfterTheCutoffOnly() async throws {
        for index in 0..<3 { try await self.createOrder(index) }
        let claimed = try await self.claimDue(limit: 2)
        try await self.store.markPublished(eventIDs: claimed.map(\.eventID), at: .now())
        let none = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: -3600))
        XCTAssertEqual(none, 0)
        let purged = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: 5))
        XCTAssertEqual(purged, 2, "the unpublished one stays")
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 1)
    }

    func makeOrder(_ customer: String = "customer-1", cents: Int64 = 9990, at createdAt: Timestamp = .now()) -> (Order, OutboxEvent) {
        let order = Order(
            id: Identifier.random(), customerID: customer, productID: "product-1", quantity: 2,
            totalAmount: Money(cents: cents), status: Order.initialStatus, createdAt: createdAt, updatedAt: createdAt
        )
        let event = order.createdEvent(eventID: Identifier.random())
        return (
            order,
            OutboxEvent(
                eventID: event.eventID!, aggregateID: order.id, eventType: OrderCreatedEvent.eventType,
                routingKey: OrderTopology.orderCreatedRoutingKey, payload: event.encode(), createdAt: createdAt
            )
        )
    }

    func claim(_ key: String, ttlSeconds: Double = 3600) throws -> IdempotencyClaim {
        IdempotencyClaim(key: try IdempotencyKey(key), expiredBefore: Timestamp.now().adding(seconds: -ttlSeconds))
    }

    func repeatedKeyReturnsTheFirstOrderAndWritesNothing() async throws {
        let (first, firstEvent) = self.makeOrder()
        let created = try await self.store.create(first, event: firstEvent, idempotency: try self.claim("key-1"))
        XCTAssertEqual(created, .created)
        let (second, secondEvent) = self.makeOrder()
        let repeated = try await self.store.create(second, event: secondEvent, idempotency: try self.claim("key-1"))
        XCTAssertEqual(repeated, .existing(first))
        let missing = try await self.store.order(id: second.id)
        XCTAssertNil(missing, "the second order was not written")
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 1, "one event only")
        // Keys are exact: another case is another key.
        let (third, thirdEvent) = self.makeOrder()
        let otherCase = try await self.store.create(third, event: thirdEvent, idempotency: try self.claim("KEY-1"))
        XCTAssertEqual(otherCase, .created)
    }

    func expiredKeyIsTakenOverAndPurged() async throws {
        let longAgo = Timestamp.now().adding(seconds: -7200)
        let (old, oldEvent) = self.makeOrder(at: longAgo)
        _ = try await self.store.create(old, event: oldEvent, idempotency: try self.claim("key-2"))
        let (fresh, freshEvent) = self.makeOrder()
        let outcome = try await self.store.create(fresh, event: freshEvent, idempotency: try self.claim("key-2", ttlSeconds: 3600))
        XCTAssertEqual(outcome, .created, "a key older than its TTL no longer counts")
        let (another, anotherEvent) = self.makeOrder()
        let again = try await self.store.create(another, event: anotherEvent, idempotency: try self.claim("key-2"))
        XCTAssertEqual(again, .existing(fresh), "the key now names the new order")

        let (stale, staleEvent) = self.makeOrder(at: longAgo)
        _ = try await self.store.create(stale, event: staleEvent, idempotency: try self.claim("key-3"))
        let purged = try await self.store.purgeIdempotencyKeys(before: Timestamp.now().adding(seconds: -3600))
        XCTAssertEqual(purged, 1, "only key-3 is older than the cutoff")
        let (last, lastEvent) = self.makeOrder()
        let reused = try await self.store.create(last, event: lastEvent, idempotency: try self.claim("key-3", ttlSeconds: 1_000_000))
        XCTAssertEqual(reused, .created, "a purged key is forgotten")
    }

    /// Concurrent requests with one key create one order; each of the others gets that order back.
    func concurrentRequestsWithOneKeyCreateOneOrder() async throws {
        let store = self.store
        let claim = try self.claim("key-concurrent")
        let outcomes = try await withThrowingTaskGroup(of: (Order, OrderCreation).self) { group in
            for index in 0..<8 {
                let (order, event) = self.makeOrder("customer-\(index)")
                group.addTask { (order, try await store.create(order, event: event, idempotency: claim)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = outcomes.filter { $0.1 == .created }.map(\.0)
        XCTAssertEqual(winners.count, 1)
        for (_, outcome) in outcomes where outcome != .created {
            XCTAssertEqual(outcome, .existing(winners[0]))
        }
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 1)
    }

    // MARK: Group commit

    /// 191 orders in one call (64 + 64 + 32 + 16 + 8 + 4 + 2 + 1): every chunk size of the multi-row inserts is used.
    func batchStoresEveryOrderWithItsEvent() async throws {
        let base = Timestamp.now()
        let entries = (0..<191).map { index -> NewOrder in
            let (order, event) = self.makeOrder("customer-\(index)", cents: Int64(100 + index), at: base.adding(microseconds: Int64(index)))
            return NewOrder(order: order, event: event)
        }
        try await self.store.create(batch: entries)
        for entry in entries.prefix(2) + entries.suffix(2) {
            let read = try await self.store.order(id: entry.order.id)
            XCTAssertEqual(read, entry.order)
        }
        let newest = try await self.store.orders(limit: 100, offset: 0)
        XCTAssertEqual(newest.count, 100)
        XCTAssertEqual(newest.first?.id, entries.last?.order.id)
        let claimed = try await self.claimDue(limit: 200)
        XCTAssertEqual(claimed.map(\.eventID), entries.map(\.event.eventID), "every event, in the batch's order")
        XCTAssertEqual(claimed.first?.payload, entries.first?.event.payload)
    }

    /// One bad row fails the whole batch and leaves nothing behind.
    func failedBatchWritesNothing() async throws {
        let (first, firstEvent) = self.makeOrder()
        let (second, secondEvent) = self.makeOrder()
        var clash = second
        clash.id = first.id
        let batch = [NewOrder(order: first, event: firstEvent), NewOrder(order: clash, event: secondEvent)]
        do {
            try await self.store.create(batch: batch)
            XCTFail("a duplicate order id must fail the batch")
        } catch {}
        let orders = try await self.store.orders(limit: 10, offset: 0)
        XCTAssertEqual(orders, [])
        let backlog = try await self.store.outboxBacklog()
        XCTAssertEqual(backlog.pending, 0)
    }
}

final class SQLiteOrderStoreTests: XCTestCase {
    private func withStore(_ body: (OrderStoreContract) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await SQLiteOrderStore.open(path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("s"))
        do {
            try await body(OrderStoreContract(store: store))
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    func testOrderReadsBackFieldForField() async throws { try await self.withStore { try await $0.orderReadsBackFieldForField() } }
    func testListIsNewestFirstWithLimitAndOffset() async throws { try await self.withStore { try await $0.listIsNewestFirstWithLimitAndOffset() } }
    func testKeysetPagesWalkEveryOrderOnceInTheOffsetOrder() async throws { try await self.withStore { try await $0.keysetPagesWalkEveryOrderOnceInTheOffsetOrder() } }
    func testRelayClaimsOldestFirstAndMarksOnlyConfirmedEvents() async throws {
        try await self.withStore { try await $0.relayClaimsOldestFirstAndMarksOnlyConfirmedEvents() }
    }
    func testPublishedEventsArePurgedAfterTheCutoffOnly() async throws {
        try await self.withStore { try await $0.publishedEventsArePurgedAfterTheCutoffOnly() }
    }
    func testYoungEventsWaitForTheWindowAndExpiredLeasesAreDue() async throws {
        try await self.withStore { try await $0.youngEventsWaitForTheWindowAndExpiredLeasesAreDue() }
    }
    func testFailedEventsAreSetAsideOrParkedAndUnparked() async throws {
        try await self.withStore { try await $0.failedEventsAreSetAsideOrParkedAndUnparked() }
    }
    func testRepeatedKeyReturnsTheFirstOrderAndWritesNothing() async throws {
        try await self.withStore { try await $0.repeatedKeyReturnsTheFirstOrderAndWritesNothing() }
    }
    func testExpiredKeyIsTakenOverAndPurged() async throws {
        try await self.withStore { try await $0.expiredKeyIsTakenOverAndPurged() }
    }
    func testConcurrentRequestsWithOneKeyCreateOneOrder() async throws {
        try await self.withStore { try await $0.concurrentRequestsWithOneKeyCreateOneOrder() }
    }
    func testBatchStoresEveryOrderWithItsEvent() async throws {
        try await self.withStore { try await $0.batchStoresEveryOrderWithItsEvent() }
    }
    func testFailedBatchWritesNothing() async throws {
        try await self.withStore { try await $0.failedBatchWritesNothing() }
    }
}

/// The same contract on the stack's MariaDB (`order_db`, as `orderuser`), from an empty database each time.
final class MySQLOrderStoreTests: XCTestCase {
    private func withStore(_ body: (MySQLOrderStore) async throws -> Void) async throws {
        try await MySQLTestDatabase.order.withClient { client in
            let store = MySQLOrderStore(client: client)
            try await store.migrate(logger: testLogger("migrate"))
            try await body(store)
        }
    }

    func testOrderReadsBackFieldForField() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).orderReadsBackFieldForField() }
    }
    func testListIsNewestFirstWithLimitAndOffset() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).listIsNewestFirstWithLimitAndOffset() }
    }
    func testKeysetPagesWalkEveryOrderOnceInTheOffsetOrder() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).keysetPagesWalkEveryOrderOnceInTheOffsetOrder() }
    }
    func testRelayClaimsOldestFirstAndMarksOnlyConfirmedEvents() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).relayClaimsOldestFirstAndMarksOnlyConfirmedEvents() }
    }
    func testPublishedEventsArePurgedAfterTheCutoffOnly() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).publishedEventsArePurgedAfterTheCutoffOnly() }
    }
    func testYoungEventsWaitForTheWindowAndExpiredLeasesAreDue() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).youngEventsWaitForTheWindowAndExpiredLeasesAreDue() }
    }
    func testFailedEventsAreSetAsideOrParkedAndUnparked() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).failedEventsAreSetAsideOrParkedAndUnparked() }
    }
    func testRepeatedKeyReturnsTheFirstOrderAndWritesNothing() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).repeatedKeyReturnsTheFirstOrderAndWritesNothing() }
    }
    func testExpiredKeyIsTakenOverAndPurged() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).expiredKeyIsTakenOverAndPurged() }
    }
    func testConcurrentRequestsWithOneKeyCreateOneOrder() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).concurrentRequestsWithOneKeyCreateOneOrder() }
    }
    func testBatchStoresEveryOrderWithItsEvent() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).batchStoresEveryOrderWithItsEvent() }
    }
    func testFailedBatchWritesNothing() async throws {
        try await self.withStore { try await OrderStoreContract(store: $0).failedBatchWritesNothing() }
    }

    /// Two relays (two order-service instances) claiming at once never claim the same outbox row (`FOR UPDATE
    /// SKIP LOCKED`, then a lease), and a claim holds no lock once it returns: another connection updates the
    /// claimed rows at once.
    func testConcurrentRelaysClaimDisjointEventsAndHoldNoLock() async throws {
        try await self.withStore { store in
            let contract = OrderStoreContract(store: store)
            for index in 0..<40 { try await contract.createOrder(index) }
            let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for _ in 0..<2 {
                    group.addTask { try await contract.claimDue(limit: 25).map(\.sequence) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(claims.count, 2)
            XCTAssertTrue(Set(claims[0]).isDisjoint(with: claims[1]), "no row claimed twice")
            XCTAssertEqual(claims[0].count + claims[1].count, 40)
            try await MySQLTestDatabase.order.withClient(empty: false) { other in
                let updated = try await other.withTransaction { connection in
                    try await connection.query("SET SESSION innodb_lock_wait_timeout = 1")
                    return try await connection.query("UPDATE outbox_events SET last_error = 'probe' WHERE published_at IS NULL")
                }
                XCTAssertEqual(updated.affectedRows, 40, "no claimed row is still locked")
            }
        }
    }

    /// The original's `orders` table (second-precision timestamps, no schema table) is adopted in place.
    func testOriginalOrdersTableIsAdopted() async throws {
        try await MySQLTestDatabase.order.withClient { client in
            try await client.query(
                """
                CREATE TABLE orders (
                    id VARCHAR(36) PRIMARY KEY,
                    customer_id VARCHAR(36) NOT NULL,
                    product_id VARCHAR(36) NOT NULL,
                    quantity INT NOT NULL,
                    total_amount DECIMAL(10,2) NOT NULL,
                    status VARCHAR(20) NOT NULL DEFAULT 'pending',
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
                    INDEX idx_customer_id (customer_id), INDEX idx_product_id (product_id),
                    INDEX idx_status (status), INDEX idx_created_at (created_at)
                )
                """
            )
            try await client.query(
                """
                INSERT INTO orders (id, customer_id, product_id, quantity, total_amount, status, created_at, updated_at)
                VALUES ('8b0b0b4e-1f7e-4a86-9b6c-1d2e3f405060', 'customer-123', 'product-456', 2, 99.99, 'pending',
                        '2024-01-15 10:30:00', '2024-01-15 10:30:00')
                """
            )
            let store = MySQLOrderStore(client: client)
            try await store.migrate(logger: testLogger("adopt"))
            let old = try await store.order(id: "8b0b0b4e-1f7e-4a86-9b6c-1d2e3f405060")
            XCTAssertEqual(old?.totalAmount, Money(cents: 9999))
            XCTAssertEqual(old?.createdAt.rfc3339, "2024-01-15T10:30:00.000000Z")
            try await OrderStoreContract(store: store).orderReadsBackFieldForField()
        }
    }
}
