import Caching
import ClientTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OrderEvents
import OrderMessaging
import OrderService
import OrderStorage
import SQLiteStorage
import ServiceCore
import Synchronization
import TestSupport
import XCTest

/// Counts `order(id:)` reads and holds each one until `release` returns, so concurrent misses overlap.
final class CountingOrderStore: WrappingOrderStore {
    let wrapped: SQLiteOrderStore
    private let reads = Atomic<Int>(0)
    private let release: @Sendable () async -> Void

    init(wrapping store: SQLiteOrderStore, release: @escaping @Sendable () async -> Void) {
        self.wrapped = store
        self.release = release
    }
    var orderReads: Int { self.reads.load(ordering: .relaxed) }

    func order(id: String) async throws -> Order? {
        self.reads.add(1, ordering: .relaxed)
        await self.release()
        return try await self.wrapped.order(id: id)
    }
}

final class OrderCacheStampedeTests: XCTestCase, @unchecked Sendable {
    func testConcurrentMissesForOneOrderReadTheStoreOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sqlite = try await SQLiteOrderStore.open(path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("s"))
        let cache = CountingCache()
        // The one read is held until all fifty requests have missed the cache: each then joins it or reads itself.
        let store = CountingOrderStore(wrapping: sqlite) {
            _ = await eventually(interval: .milliseconds(1)) { cache.reads.load(ordering: .relaxed) >= 50 }
        }
        let broker = try await TestBroker.open(path: directory.file("broker.sqlite"))
        let now = Timestamp.now()
        let order = Order(
            id: Identifier.random(), customerID: "c", productID: "p", quantity: 1, totalAmount: Money(cents: 100),
            status: "pending", createdAt: now, updatedAt: now
        )
        let event = order.createdEvent(eventID: Identifier.random())
        try await sqlite.create(order, event: OutboxEvent(
            eventID: event.eventID!, aggregateID: order.id, eventType: OrderCreatedEvent.eventType,
            routingKey: OrderTopology.orderCreatedRoutingKey, payload: event.encode(), createdAt: now
        ))
        var configuration = OrderServiceConfiguration()
        configuration.port = 0
        configuration.nearCacheCapacity = 0  // every request asks the counted cache
        let app = try await buildOrderService(
            configuration: configuration,
            backends: OrderServiceBackends(store: store, cache: cache, broker: broker.broker),
            logger: testLogger("order-service")
        )
        try await app.test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await client.execute(uri: "/orders/\(order.id)", method: .get).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(statuses, Array(repeating: .ok, count: 50))
            XCTAssertEqual(store.orderReads, 1, "fifty concurrent misses, one store read")
            let cached = try await client.execute(uri: "/orders/\(order.id)", method: .get)
            XCTAssertEqual(cached.status, .ok)
            XCTAssertEqual(store.orderReads, 1, "then a cache hit")
        }
        await sqlite.close()
        await broker.close()
    }
}
