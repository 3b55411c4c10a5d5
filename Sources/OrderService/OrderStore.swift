import Messaging
import ServiceCore

/// Where orders and their outbox live. SQLite now, MySQL next; the routes and the relay see only this.
///
/// Thread-safety: implementations are `Sendable` and safe to call from many tasks.
public protocol OrderStore: Sendable {
    /// Stores `order` and its outbox `event` in one transaction: both or neither.
    ///
    /// With an `idempotency` claim, the key is recorded in the same transaction. When the key is already recorded
    /// and unexpired, nothing is written and the earlier order is returned as ``OrderCreation/existing(_:)``;
    /// concurrent requests with one key create one order. An expired key is taken over by the new order.
    func create(_ order: Order, event: OutboxEvent, idempotency: IdempotencyClaim?) async throws -> OrderCreation

    /// Stores every order of `batch` and its outbox event in one transaction: all or none (group commit).
    func create(batch: [NewOrder]) async throws

    /// Deletes idempotency keys recorded before `cutoff`; returns how many.
    func purgeIdempotencyKeys(before cutoff: Timestamp) async throws -> Int

    /// The order with `id` (canonical lowercase UUID), or nil.
    func order(id: String) async throws -> Order?

    /// Orders newest first (by `created_at`, then `id`).
    func orders(limit: Int, offset: Int) async throws -> [Order]

    /// Keyset pagination: up to `limit` orders that come after order `before` in the newest-first order, or nil when
    /// no order has that id. Reads only the rows it returns, however deep the page.
    func orders(limit: Int, before: String) async throws -> [Order]?

    /// Claims up to `limit` due events, oldest first, and leases each until `leaseUntil` so that no other relay
    /// claims it meanwhile; no lock is held once this returns (the broker's confirms are awaited outside any
    /// transaction). Due means: not published, not parked, and either never claimed, released or set aside and
    /// created at or before `createdBefore` (younger events belong to the instance that stored them, which publishes
    /// them from memory), or claimed, released or set aside until `now` at the latest.
    func claimDueEvents(limit: Int, createdBefore: Timestamp, now: Timestamp, leaseUntil: Timestamp) async throws
        -> [OutboxEvent]

    /// Marks the events with these ids published at `at`.
    func markPublished(eventIDs: [String], at: Timestamp) async throws

    /// Makes these events due at `dueAt` without counting an attempt: the broker failed the whole round.
    func releaseEvents(eventIDs: [String], dueAt: Timestamp) async throws

    /// Records failed attempts of single events: each is due again at its ``OutboxFailure/retryAt``, or parked
    /// when that is nil.
    func setAside(_ failures: [OutboxFailure], at now: Timestamp) async throws

    /// Makes every parked event due again, its attempts reset; returns how many.
    func unparkEvents() async throws -> Int

    /// How many events wait, and since when.
    func outboxBacklog() async throws -> OutboxBacklog

    /// Deletes events published before `cutoff`; returns how many.
    func purgePublishedEvents(before cutoff: Timestamp) async throws -> Int

    /// Throws when the store cannot be reached.
    func checkHealth() async throws

    /// Releases connections; the store is unusable afterwards.
    func close() async
}

extension OrderStore {
    /// Stores `order` and its outbox `event` in one transaction, without an idempotency key.
    public func create(_ order: Order, event: OutboxEvent) async throws {
        _ = try await self.create(order, event: event, idempotency: nil)
    }
}

/// A new order and its `OrderCreated` outbox event, stored together.
public struct NewOrder: Sendable, Equatable {
    /// The order.
    public var order: Order
    /// Its event.
    public var event: OutboxEvent

    /// Pairs an order with its event.
    public init(order: Order, event: OutboxEvent) {
        self.order = order
        self.event = event
    }
}

/// One row of the outbox: an event waiting to be published.
public struct OutboxEvent: Sendable, Equatable {
    /// The outbox's own sequence number (0 before it is stored).
    public var sequence: Int64
    /// Failed attempts counted so far (0 for a new event).
    public var attempts: Int
    /// The event's id (`event_id`, the AMQP `message_id`).
    public var eventID: String
    /// The id of the order the event is about.
    public var aggregateID: String
    /// The event type, e.g. `OrderCreated`.
    public var eventType: String
    /// The routing key to publish with.
    public var routingKey: String
    /// The message body.
    public var payload: [UInt8]
    /// When the event was created.
    public var createdAt: Timestamp

    /// Creates an outbox row.
    public init(
        sequence: Int64 = 0,
        attempts: Int = 0,
        eventID: String,
        aggregateID: String,
        eventType: String,
        routingKey: String,
        payload: [UInt8],
        createdAt: Timestamp
    ) {
        self.sequence = sequence
        self.attempts = attempts
        self.eventID = eventID
        self.aggregateID = aggregateID
        self.eventType = eventType
        self.routingKey = routingKey
        self.payload = payload
        self.createdAt = createdAt
    }

    /// The message to publish to `exchange`, with the AMQP properties of docs/CONTRACTS.md ("Messaging").
    public func message(exchange: String) -> OutgoingMessage {
        OutgoingMessage(
            exchange: exchange,
            routingKey: self.routingKey,
            body: self.payload,
            properties: MessageProperties(
                contentType: "application/json",
                messageID: self.eventID,
                type: self.eventType,
                timestamp: self.createdAt.secondsSinceEpoch,
                persistent: true
            )
        )
    }
}

/// A failed attempt to publish one event, as the relay records it.
public struct OutboxFailure: Sendable, Equatable {
    /// The event.
    public var eventID: String
    /// Its failed attempts, this one included.
    public var attempts: Int
    /// When it is due again; nil parks it.
    public var retryAt: Timestamp?
    /// Why it failed (kept with the event, at most 512 characters).
    public var reason: String

    /// Creates a failure record.
    public init(eventID: String, attempts: Int, retryAt: Timestamp?, reason: String) {
        self.eventID = eventID
        self.attempts = attempts
        self.retryAt = retryAt
        self.reason = String(reason.prefix(512))
    }
}

/// The outbox's backlog.
public struct OutboxBacklog: Sendable, Equatable {
    /// Events not yet published, parked ones excluded.
    public var pending: Int
    /// Creation time of the oldest of them.
    public var oldestCreatedAt: Timestamp?
    /// Events parked after `OUTBOX_MAX_ATTEMPTS` failed attempts.
    public var parked: Int

    /// Creates a backlog value.
    public init(pending: Int, oldestCreatedAt: Timestamp?, parked: Int = 0) {
        self.pending = pending
        self.oldestCreatedAt = oldestCreatedAt
        self.parked = parked
    }
}
