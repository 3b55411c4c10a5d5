import OrderService
import OrderStorage
import ServiceCore

/// A test store that wraps a SQLite store and forwards everything it does not override, so each test double
/// spells out only the behaviour it changes.
protocol WrappingOrderStore: OrderStore {
    var wrapped: SQLiteOrderStore { get }
}

extension WrappingOrderStore {
    func create(_ order: Order, event: OutboxEvent, idempotency: IdempotencyClaim?) async throws -> OrderCreation {
        try await self.wrapped.create(order, event: event, idempotency: idempotency)
    }
    func create(batch: [NewOrder]) async throws { try await self.wrapped.create(batch: batch) }
    func purgeIdempotencyKeys(before cutoff: Timestamp) async throws -> Int {
        try await self.wrapped.purgeIdempotencyKeys(before: cutoff)
    }
    func order(id: String) async throws -> Order? { try await self.wrapped.order(id: id) }
    func orders(limit: Int, offset: Int) async throws -> [Order] { try await self.wrapped.orders(limit: limit, offset: offset) }
    func orders(limit: Int, before: String) async throws -> [Order]? { try await self.wrapped.orders(limit: limit, before: before) }
    func claimDueEvents(limit: Int, createdBefore: Timestamp, now: Timestamp, leaseUntil: Timestamp) async throws -> [OutboxEvent] {
        try await self.wrapped.claimDueEvents(limit: limit, createdBefore: createdBefore, now: now, leaseUntil: leaseUntil)
    }
    func markPublished(eventIDs: [String], at: Timestamp) async throws { try await self.wrapped.markPublished(eventIDs: eventIDs, at: at) }
    func releaseEvents(eventIDs: [String], dueAt: Timestamp) async throws {
        try await self.wrapped.releaseEvents(eventIDs: eventIDs, dueAt: dueAt)
    }
    func setAside(_ failures: [OutboxFailure], at now: Timestamp) async throws { try await self.wrapped.setAside(failures, at: now) }
    func unparkEvents() async throws -> Int { try await self.wrapped.unparkEvents() }
    func outboxBacklog() async throws -> OutboxBacklog { try await self.wrapped.outboxBacklog() }
    func purgePublishedEvents(before cutoff: Timestamp) async throws -> Int {
        try await self.wrapped.purgePublishedEvents(before: cutoff)
    }
    func checkHealth() async throws { try await self.wrapped.checkHealth() }
    func close() async { await self.wrapped.close() }
}
