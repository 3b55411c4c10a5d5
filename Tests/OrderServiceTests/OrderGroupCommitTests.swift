import Caching
import ClientTestSupport
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OrderService
import OrderStorage
import SQLiteStorage
import ServiceCore
import ServiceLifecycle
import ServiceRuntime
import Synchronization
import TestSupport
import XCTest

/// A store whose batch writes are counted, can be held (so concurrent requests pile up behind them), and can be
/// made to fail.
final class BatchRecordingStore: WrappingOrderStore {
    let wrapped: SQLiteOrderStore
    let batches = Mutex<[Int]>([])
    let failing = Atomic<Bool>(false)
    /// Awaited by every batch write before it writes.
    let hold = Mutex<@Sendable () async -> Void>({})

    init(wrapping store: SQLiteOrderStore) { self.wrapped = store }

    func create(batch: [NewOrder]) async throws {
        self.batches.withLock { $0.append(batch.count) }
        await self.hold.withLock { $0 }()
        if self.failing.load(ordering: .relaxed) { throw TestFailure("the database is gone") }
        try await self.wrapped.create(batch: batch)
    }
}

final class OrderGroupCommitTests: XCTestCase {
    private func withStore(_ body: (BatchRecordingStore, OrderStoreContract) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sqlite = try await SQLiteOrderStore.open(path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("s"))
        let store = BatchRecordingStore(wrapping: sqlite)
        try await body(store, OrderStoreContract(store: sqlite))
        await sqlite.close()
    }

    func testConcurrentOrdersShareTransactionsAndAllAreStored() async throws {
        try await self.withStore { store, contract in
            let commit = OrderGroupCommit(store: store, maximumWriters: 2, maximumBatch: 64)
            try await withRunning(commit) {
                let entries = (0..<200).map { index in
                    let (order, event) = contract.makeOrder("customer-\(index)")
                    return NewOrder(order: order, event: event)
                }
                // Writes wait until every request has been made, so those behind the first transactions queue up.
                let requests = SharedCount()
                store.hold.withLock {
                    $0 = { _ = await eventually(interval: .milliseconds(1)) { requests.value == 200 } }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for entry in entries {
                        group.addTask {
                            requests.increment()
                            try await commit.create(entry)
                        }
                    }
                    try await group.waitForAll()
                }
                let sizes = store.batches.withLock { $0 }
                XCTAssertEqual(sizes.reduce(0, +), 200, "every order written once")
                XCTAssertLessThan(sizes.count, 20, "200 concurrent orders shared transactions: \(sizes)")
                XCTAssertLessThanOrEqual(sizes.max() ?? 0, 64, "no batch above the maximum")
                for entry in entries {
                    let stored = try await store.order(id: entry.order.id)
                    XCTAssertEqual(stored, entry.order)
                }
                let backlog = try await store.outboxBacklog()
                XCTAssertEqual(backlog.pending, 200)
            }
        }
    }

    func testASingleOrderIsWrittenAtOnce() async throws {
        try await self.withStore { store, contract in
            let commit = OrderGroupCommit(store: store)
            try await withRunning(commit) {
                let (order, event) = contract.makeOrder()
                try await commit.create(NewOrder(order: order, event: event))
                XCTAssertEqual(store.batches.withLock { $0 }, [1])
                let stored = try await store.order(id: order.id)
                XCTAssertEqual(stored, order)
            }
        }
    }

    /// With the writer stuck in a slow transaction, orders queue up to the limit; the next one is refused at once
    /// (it does not wait for the database), and once the database answers every queued order is stored.
    func testAnOrderBeyondTheQueueLimitIsRefusedAtOnceAndTheQueuedOnesAreStored() async throws {
        try await self.withStore { store, contract in
            let commit = OrderGroupCommit(store: store, maximumWriters: 1, maximumQueued: 3)
            let slowDatabase = Latch()
            store.hold.withLock { $0 = { _ = await slowDatabase.wait() } }
            try await withRunning(commit) {
                let entries = (0..<4).map { index in
                    let (order, event) = contract.makeOrder("customer-\(index)")
                    return NewOrder(order: order, event: event)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await commit.create(entries[0]) }
                    let writing = await eventually { store.batches.withLock { $0 } == [1] }
                    XCTAssertTrue(writing, "the writer took the first order and waits for the database")
                    for entry in entries.dropFirst() { group.addTask { try await commit.create(entry) } }
                    let queued = await eventually { commit.queuedCount == 3 }
                    XCTAssertTrue(queued)
                    let (late, lateEvent) = contract.makeOrder("customer-late")
                    do {
                        try await commit.create(NewOrder(order: late, event: lateEvent))
                        XCTFail("an order beyond the queue limit was accepted")
                    } catch let error as OrderGroupCommitFull {
                        XCTAssertEqual(error.limit, 3)
                    }
                    let lateStored = try await store.order(id: late.id)
                    XCTAssertNil(lateStored)
                    slowDatabase.open()
                    try await group.waitForAll()
                }
                for entry in entries {
                    let stored = try await store.order(id: entry.order.id)
                    XCTAssertEqual(stored, entry.order)
                }
                XCTAssertEqual(commit.queuedCount, 0)
            }
        }
    }

    /// Over HTTP: with `ORDER_QUEUE_LIMIT` orders waiting for a stuck database, `POST /orders` answers 503
    /// `unavailable` with `Retry-After` and the error shape at once, counts it, and the waiting orders still get
    /// their 201 once the database answers.
    func testPostBeyondTheQueueLimitAnswers503WithRetryAfterAndTheWaitingOnesGet201() async throws {
        try await self.withStore { store, _ in
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let broker = try await TestBroker.open(path: directory.file("broker.sqlite"))
            let slowDatabase = Latch()
            store.hold.withLock { $0 = { _ = await slowDatabase.wait() } }
            var configuration = OrderServiceConfiguration()
            configuration.port = 0
            configuration.orderQueueLimit = 2
            configuration.relay.flushTimeout = .milliseconds(200)
            let metrics = ServiceMetrics()
            let app = try await buildOrderService(
                configuration: configuration,
                backends: OrderServiceBackends(store: store, cache: MemoryCache(), broker: broker.broker),
                metrics: metrics, logger: testLogger("order-service")
            )
            try await app.test(.router) { client in
                @Sendable func post(_ customer: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: "/orders", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"customer_id":"\#(customer)","product_id":"p","quantity":1,"total_amount":1.50}"#))
                }
                try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    // Both writers stuck in a transaction of one order each; of four more orders, two wait in the
                    // queue and two are refused, whatever order they arrive in.
                    for index in 0..<2 {
                        group.addTask { try await post("c\(index)") }
                        let writing = await eventually { store.batches.withLock { $0 }.count == index + 1 }
                        XCTAssertTrue(writing)
                    }
                    for index in 2..<6 { group.addTask { try await post("c\(index)") } }
                    // The waiting ones cannot answer before the database does: the first two answers are the refusals.
                    var responses: [TestResponse] = []
                    for _ in 0..<2 { if let response = try await group.next() { responses.append(response) } }
                    for refused in responses {
                        XCTAssertEqual(refused.status, .serviceUnavailable)
                        XCTAssertEqual(refused.headers[.retryAfter], "1")
                        let body = try JSONReader.parse(Array(refused.body.readableBytesView))
                        XCTAssertEqual(body["error"], .string("unavailable"))
                        XCTAssertNotNil(body["message"]?.stringValue)
                        XCTAssertEqual(body["details"]?.kind, .object)
                    }
                    let rendered = String(decoding: metrics.render(), as: UTF8.self)
                    XCTAssertTrue(rendered.contains(#"orders_rejected_total{reason="queue_full"} 2"#), rendered)
                    slowDatabase.open()
                    for try await response in group { responses.append(response) }
                    XCTAssertEqual(responses.map(\.status), [.serviceUnavailable, .serviceUnavailable] + Array(repeating: .created, count: 4))
                }
            }
            await broker.close()
        }
    }

    func testAFailedBatchFailsEachOfItsRequestsAndTheNextOnesSucceed() async throws {
        try await self.withStore { store, contract in
            let commit = OrderGroupCommit(store: store, maximumWriters: 1)
            try await withRunning(commit) {
                store.failing.store(true, ordering: .relaxed)
                let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for index in 0..<10 {
                        let (order, event) = contract.makeOrder("customer-\(index)")
                        group.addTask {
                            do {
                                try await commit.create(NewOrder(order: order, event: event))
                                return false
                            } catch {
                                return true
                            }
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                XCTAssertEqual(failures, 10, "every request of a failed transaction hears about it")
                let nothing = try await store.orders(limit: 20, offset: 0)
                XCTAssertEqual(nothing, [])
                store.failing.store(false, ordering: .relaxed)
                let (order, event) = contract.makeOrder()
                try await commit.create(NewOrder(order: order, event: event))
                let stored = try await store.order(id: order.id)
                XCTAssertEqual(stored, order, "the group commit keeps working after a failure")
            }
        }
    }

    func testShutdownStoresWhatIsQueuedThenRefusesNewOrders() async throws {
        try await self.withStore { store, contract in
            let commit = OrderGroupCommit(store: store, maximumWriters: 1)
            let entries = (0..<5).map { index in
                let (order, event) = contract.makeOrder("customer-\(index)")
                return NewOrder(order: order, event: event)
            }
            // Queued before the writers run: they wait for run(), as requests may reach the server first.
            async let created = withTaskGroup(of: Bool.self) { group in
                for entry in entries { group.addTask { (try? await commit.create(entry)) != nil } }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            let queued = await eventually { commit.queuedCount == entries.count }
            XCTAssertTrue(queued, "every order queued before the writers run")
            let group = ServiceGroup(configuration: .init(services: [commit], logger: testLogger("commit")))
            // Asked to stop before it starts: it still stores everything queued, then returns.
            await group.triggerGracefulShutdown()
            try await group.run()
            let stored = await created
            XCTAssertEqual(stored, entries.count, "queued orders are stored at shutdown, not dropped")
            for entry in entries {
                let order = try await store.order(id: entry.order.id)
                XCTAssertEqual(order, entry.order)
            }
            let (late, lateEvent) = contract.makeOrder()
            do {
                try await commit.create(NewOrder(order: late, event: lateEvent))
                XCTFail("an order after shutdown was accepted")
            } catch {
                XCTAssertTrue(error is OrderGroupCommitStopped, "\(error)")
            }
        }
    }
}
