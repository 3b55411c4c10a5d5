import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import OrderEvents
import OrderMessaging
import ServiceCore
import ServiceRuntime
import Timing

/// `POST /orders`, `GET /orders/{id}` and `GET /orders`, with the original's contracts (docs/CONTRACTS.md, "HTTP API").
public struct OrderRoutes<Context: RequestContext>: Sendable {
    let store: any OrderStore
    /// New orders without an idempotency key share transactions.
    let groupCommit: OrderGroupCommit
    let cache: OrderCache
    let outbox: OutboxHandoff
    /// Concurrent misses for one order cost one store read (stampede protection).
    let misses = SingleFlight<[UInt8]?>()
    /// Rate-limits the log line of a full group-commit queue.
    let overload = OverloadLog()
    let metrics: OrderServiceMetrics
    let maxBodySize: Int
    /// How long an `Idempotency-Key` keeps answering with its order.
    let idempotencyKeyTTL: Duration
    let logger: Logger

    /// Adds the routes under `/orders`.
    public func add(to router: Router<Context>) {
        let group = router.group("orders")
        group.post(use: self.create)
        group.get(use: self.list)
        group.get("{id}", use: self.get)
    }

    @Sendable func create(request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: self.maxBodySize)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(limit: self.maxBodySize)
        }
        let idempotencyKey = try IdempotencyKey.from(request.headers)
        let input = try CreateOrderRequest.parse(Array(body.readableBytesView))
        let now = Timestamp.now()
        let order = Order(
            id: Identifier.timeOrdered(at: now),
            customerID: input.customerID,
            productID: input.productID,
            quantity: input.quantity,
            totalAmount: input.totalAmount,
            status: Order.initialStatus,
            createdAt: now,
            updatedAt: now
        )
        let event = order.createdEvent(eventID: Identifier.timeOrdered(at: now))
        let outboxEvent = OutboxEvent(
            eventID: event.eventID!,
            aggregateID: order.id,
            eventType: OrderCreatedEvent.eventType,
            routingKey: OrderTopology.orderCreatedRoutingKey,
            payload: event.encode(),
            createdAt: now
        )
        let claim = idempotencyKey.map {
            IdempotencyClaim(key: $0, expiredBefore: now.adding(seconds: -self.idempotencyKeyTTL.totalSeconds))
        }
        let creation: OrderCreation
        do {
            if let claim {
                creation = try await self.store.create(order, event: outboxEvent, idempotency: claim)
            } else {
                try await self.groupCommit.create(NewOrder(order: order, event: outboxEvent))
                creation = .created
            }
        } catch let full as OrderGroupCommitFull {
            // Load shedding, not a failure of the store: counted, logged at most once per burst, answered at once.
            self.metrics.ordersRejectedQueueFull.increment()
            self.overload.note(full, logger: self.logger)
            throw APIError.unavailable("too many orders are waiting to be stored; retry shortly (the order was not created)")
        } catch {
            self.metrics.storeErrors.increment()
            self.logger.error("storing an order failed", metadata: ["order_id": "\(order.id)", "error": "\(error)"])
            throw APIError.unavailable("the order store is unavailable; the order was not created")
        }
        if case .existing(let earlier) = creation {
            return try self.replay(earlier, for: input, key: idempotencyKey)
        }
        if idempotencyKey != nil { self.metrics.idempotentCreated.increment() }
        // Committed: the relay publishes it from memory (the table keeps it for recovery).
        self.outbox.hand(outboxEvent)
        let json = order.jsonBytes
        await self.cache.store(id: order.id, json: json)
        self.metrics.ordersCreated.increment()
        self.metrics.orderCreationDuration.recordInterval(since: start)
        self.logger.debug(
            "order created",
            metadata: ["order_id": "\(order.id)", "event_id": "\(outboxEvent.eventID)"]
        )
        return .json(json, status: .created, headers: [.location: "/orders/\(order.id)"])
    }

    /// The answer to a repeated `Idempotency-Key`: the earlier order (200) when the body asks for the same order,
    /// else 422 `idempotency_conflict`.
    private func replay(_ earlier: Order, for input: CreateOrderRequest, key: IdempotencyKey?) throws(APIError) -> Response {
        guard earlier.matches(input) else {
            self.metrics.idempotentConflicts.increment()
            throw APIError(
                status: .unprocessableContent,
                code: "idempotency_conflict",
                message: "this Idempotency-Key was already used for a different order",
                details: [("Idempotency-Key", "already used for order \(earlier.id) with a different body")]
            )
        }
        self.metrics.idempotentReplays.increment()
        self.logger.debug("order replayed for a repeated idempotency key", metadata: ["order_id": "\(earlier.id)"])
        return .json(
            earlier.jsonBytes,
            status: .ok,
            headers: [.location: "/orders/\(earlier.id)", IdempotencyKey.replayedHeaderName: "true"]
        )
    }

    @Sendable func get(request: Request, context: Context) async throws -> Response {
        let raw = context.parameters.get("id") ?? ""
        guard let id = Identifier.canonicalUUID(raw) else {
            throw APIError.invalidRequest("order id must be a UUID", details: [("id", "must be a UUID")])
        }
        if let json = await self.cache.json(id: id) {
            return .json(json)
        }
        let store = self.store
        let cache = self.cache
        let json: [UInt8]?
        do {
            json = try await self.misses.run(key: id) {
                guard let order = try await store.order(id: id) else { return nil }
                let json = order.jsonBytes
                await cache.store(id: id, json: json)
                return json
            }
        } catch {
            self.metrics.storeErrors.increment()
            self.logger.error("reading an order failed", metadata: ["order_id": "\(id)", "error": "\(error)"])
            throw APIError.unavailable("the order store is unavailable")
        }
        guard let json else { throw APIError.notFound("order \(id) not found") }
        return .json(json)
    }

    @Sendable func list(request: Request, context: Context) async throws -> Response {
        let page = try Self.pagination(request.uri.queryParameters)
        let orders: [Order]
        do {
            switch page.position {
            case .offset(let offset):
                orders = try await self.store.orders(limit: page.limit, offset: offset)
            case .before(let id):
                guard let found = try await self.store.orders(limit: page.limit, before: id) else {
                    throw APIError.invalidRequest(
                        "invalid pagination parameters", details: [("before", "no order has this id")])
                }
                orders = found
            }
        } catch let error as APIError {
            throw error
        } catch {
            self.metrics.storeErrors.increment()
            self.logger.error("listing orders failed", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the order store is unavailable")
        }
        var writer = JSONWriter(capacity: 64 + orders.count * 256)
        writer.beginArray()
        for order in orders {
            order.write(to: &writer)
        }
        writer.endArray()
        // A full page may have a next one: its URL continues after this page's last order, by key, not offset.
        guard orders.count == page.limit, let last = orders.last else { return .json(writer.bytes) }
        return .json(writer.bytes, headers: [.link: "</orders?limit=\(page.limit)&before=\(last.id)>; rel=\"next\""])
    }

    /// Where a page of `GET /orders` starts.
    enum PagePosition: Equatable {
        /// After skipping this many orders (at most ``maximumOffset``).
        case offset(Int)
        /// After the order with this id (canonical UUID).
        case before(String)
    }

    /// The deepest `offset` served: skipping rows costs a scan of all of them on a pooled connection, so deeper
    /// pages are reached with `before=`.
    static var maximumOffset: Int { 10_000 }

    /// The original's rules: limit defaults to 10, ≤ 0 means 10, over 100 is capped at 100; a negative offset
    /// means 0. Unlike the original, a value that is not an integer is a 400 instead of being ignored, an offset
    /// over ``maximumOffset`` is a 400 (page with `before=` instead), and `before` must be an order id (a UUID),
    /// not given with `offset`.
    static func pagination(_ query: Parameters) throws(APIError) -> (limit: Int, position: PagePosition) {
        var problems: [(field: String, reason: String)] = []
        func integer(_ name: String) -> Int? {
            guard let text = query[name[...]] else { return nil }
            guard let value = Int(text) else {
                // An integer too large for Int is still an integer: clamp it like the others. At most one sign,
                // as `Int(_:)` takes it: `--5` is not an integer, `+99999999999999999999` is.
                let negative = text.hasPrefix("-")
                let digits = text.utf8.dropFirst(negative || text.hasPrefix("+") ? 1 : 0)
                if !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                    return negative ? Int.min : Int.max
                }
                problems.append((name, "must be an integer"))
                return nil
            }
            return value
        }
        let limit = integer("limit")
        let offset = integer("offset")
        if let offset, offset > Self.maximumOffset {
            problems.append(("offset", "must be at most \(Self.maximumOffset); page further with before=<id of the last order>"))
        }
        var before: String?
        if let text = query["before"] {
            if let id = Identifier.canonicalUUID(String(text)) {
                before = id
            } else {
                problems.append(("before", "must be an order id (a UUID)"))
            }
            // One reason per field: `details` is a JSON object.
            if offset != nil, !problems.contains(where: { $0.field == "offset" }) {
                problems.append(("offset", "cannot be combined with before"))
            }
        }
        guard problems.isEmpty else { throw APIError.invalidRequest("invalid pagination parameters", details: problems) }
        var effectiveLimit = limit ?? 10
        if effectiveLimit <= 0 { effectiveLimit = 10 }
        if effectiveLimit > 100 { effectiveLimit = 100 }
        if let before { return (effectiveLimit, .before(before)) }
        return (effectiveLimit, .offset(max(offset ?? 0, 0)))
    }
}

extension HTTPField.Name {
    /// `Link` (RFC 8288), which swift-http-types does not predefine.
    static var link: Self { Self("Link")! }
}
