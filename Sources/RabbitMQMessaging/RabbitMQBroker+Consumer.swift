import AMQPClient
import Logging
import Messaging
import NIOCore
import Synchronization

/// A consumer of one RabbitMQ queue, made by ``RabbitMQBroker/consume(queue:prefetch:)``.
///
/// Deliveries come from ``AMQPClient/consume(queue:prefetchCount:noAck:exclusive:arguments:maxBodySize:receiver:)``
/// (its own channel, resumed after reconnects): the client's task for the consumer, a child of the client's `run()`,
/// appends them to a buffer that ``next(limit:)`` hands out from in the caller's task. No task belongs to the consumer
/// itself. Tags are the consumer's own (unique across reconnects); each maps to the AMQP delivery and the channel
/// it came on. Settling a delivery whose channel died with a reconnect does nothing (logged at debug level):
/// RabbitMQ already requeued it. Settling a tag that was never handed out or is already settled throws
/// ``RabbitMQBrokerError``.
///
/// Thread-safety: `Sendable`; settle calls may come from several tasks, `next` from one task at a time.
public final class RabbitMQConsumer: MessageConsumer {
    private struct Entry: Sendable {
        var delivery: AMQPDelivery
        var channel: ObjectIdentifier { ObjectIdentifier(self.delivery.channel) }
    }

    private struct State {
        var buffer: [AMQPDelivery] = []
        var bufferStart = 0
        var unsettled: [UInt64: Entry] = [:]
        var nextTag: UInt64 = 1
        var cancelled = false
        /// Set once the consumer is cancelled on the broker (or released): deliveries still arriving are declined.
        /// Not at `cancelled`: until the broker has confirmed the cancel, what it sends is buffered for `close()`.
        var declining = false
        var ended = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<Void, Never>?
        /// Settle operations that removed tags but may not have sent their frames yet; `multiple` acks wait for 0.
        var settlesInFlight = 0
        /// Channels deliveries came on, to cancel the consumer and close them.
        var channels: [ObjectIdentifier: (channel: AMQPChannel, consumerTag: String?)] = [:]

        var buffered: ArraySlice<AMQPDelivery> { self.buffer[self.bufferStart...] }

        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { self.waiter = nil }
            return self.waiter
        }
    }

    private let broker: RabbitMQBroker
    /// The queue consumed.
    public let queue: String

    /// The consumer's state, and the receiver the client's consumer task hands the deliveries to.
    private final class Box: AMQPDeliveryReceiver {
        let state = Mutex(State())

        func receive(_ delivery: AMQPDelivery) -> Bool {
            let (taken, waiter) = self.state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                // Declined: the client requeues it (and closes its channel), as RabbitMQ does with what it sent to a
                // consumer that went away.
                guard !state.declining else { return (false, nil) }
                state.buffer.append(delivery)
                let channel = delivery.channel
                state.channels[ObjectIdentifier(channel)] = (channel, delivery.consumerTag)
                return (true, state.takeWaiter())
            }
            waiter?.resume()
            return taken
        }

        func finish(throwing error: (any Error)?) {
            let waiter = self.state.withLock { state in
                state.ended = true
                state.failure = error
                return state.takeWaiter()
            }
            waiter?.resume()
        }
    }

    private let box = Box()
    /// The client's registration, to stop it (no resumption after a reconnect) once cancelled.
    private let registration: AMQPClient.ConsumerID

    init(broker: RabbitMQBroker, queue: String, prefetch: UInt16) {
        self.broker = broker
        self.queue = queue
        self.registration = broker.client.consume(
            queue: queue, prefetchCount: prefetch, maxBodySize: broker.maximumBodySize.map { UInt64($0) },
            receiver: self.box)
    }

    deinit {
        // Released without `cancel`: deliveries still arriving are declined (requeued), and a reconnect does not
        // resume the consumer.
        self.box.state.withLock { $0.declining = true }
        self.broker.client.stopConsuming(self.registration)
    }

    private var logger: Logger { self.broker.logger }

    // MARK: MessageConsumer

    /// Waits for at least one delivery and returns up to `limit` of those already received, oldest first; nil once
    /// the consumer is cancelled or closed, or when the calling task is cancelled. Throws when the broker ended the
    /// consumer (e.g. the queue was deleted).
    public func next(limit: Int) async throws -> [Delivery]? {
        let limit = max(limit, 1)
        while true {
            enum Action {
                case deliver([Delivery])
                case finish
                case fail(any Error)
                case wait
            }
            let action: Action = self.box.state.withLock { state in
                if state.cancelled { return .finish }
                if state.bufferStart < state.buffer.count {
                    let taken = state.buffered.prefix(limit)
                    state.bufferStart += taken.count
                    if state.bufferStart == state.buffer.count {
                        state.buffer.removeAll(keepingCapacity: true)
                        state.bufferStart = 0
                    }
                    var deliveries: [Delivery] = []
                    deliveries.reserveCapacity(taken.count)
                    for amqp in taken {
                        let tag = state.nextTag
                        state.nextTag += 1
                        state.unsettled[tag] = Entry(delivery: amqp)
                        deliveries.append(
                            Delivery(
                                tag: tag, queue: self.queue, routingKey: amqp.routingKey,
                                body: Array(amqp.body.readableBytesView),
                                properties: RabbitMQBroker.messageProperties(amqp.properties),
                                redelivered: amqp.redelivered,
                                oversizedBody: amqp.oversizedBodySize.map {
                                    OversizedBody(size: $0, limit: self.broker.maximumBodySize ?? 0)
                                }))
                    }
                    return .deliver(deliveries)
                }
                if let failure = state.failure { return .fail(failure) }
                if state.ended { return .finish }
                return .wait
            }
            switch action {
            case .deliver(let deliveries): return deliveries
            case .finish: return nil
            case .fail(let error): throw error
            case .wait:
                if Task.isCancelled { return nil }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.box.state.withLock { state in
                            if state.cancelled || state.ended || state.bufferStart < state.buffer.count
                                || Task.isCancelled
                            {
                                return true
                            }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.box.state.withLock { $0.takeWaiter() }?.resume()
                }
                if Task.isCancelled { return nil }
            }
        }
    }

    /// Acknowledges the deliveries; a contiguous run of one channel is acked with one `multiple` ack when no other
    /// unsettled delivery of that channel precedes it. Throws (changing nothing) when a tag is unknown or settled.
    public func ack(_ deliveries: [Delivery]) async throws {
        guard !deliveries.isEmpty else { return }
        let plan = try self.box.state.withLock { state throws -> [(AMQPDelivery, multiple: Bool)] in
            let entries = try Self.remove(deliveries, from: &state)
            var plan: [(AMQPDelivery, multiple: Bool)] = []
            let othersInFlight = state.settlesInFlight > 0
            state.settlesInFlight += 1
            let byChannel = Dictionary(grouping: entries, by: \.channel)
            for (channel, group) in byChannel {
                let sorted = group.sorted { $0.delivery.deliveryTag < $1.delivery.deliveryTag }
                let last = sorted[sorted.count - 1].delivery
                let earlierUnsettled =
                    state.unsettled.values.contains {
                        $0.channel == channel && $0.delivery.deliveryTag < last.deliveryTag
                    }
                    || state.buffered.contains {
                        ObjectIdentifier($0.channel) == channel && $0.deliveryTag < last.deliveryTag
                    }
                if sorted.count > 1 && !othersInFlight && !earlierUnsettled {
                    plan.append((last, multiple: true))
                } else {
                    plan.append(contentsOf: sorted.map { ($0.delivery, multiple: false) })
                }
            }
            return plan
        }
        defer { self.box.state.withLock { $0.settlesInFlight -= 1 } }
        for (delivery, multiple) in plan {
            await self.settle(delivery, what: "ack") { try await $0.ack(multiple: multiple) }
        }
    }

    /// True when the declared topology gives this queue retry levels (false when its retry queues conflict).
    public var retriesAvailable: Bool {
        (self.broker.registry.withLock { $0.queues[self.queue]?.retryLevels } ?? 0) > 0
    }

    /// Publishes a copy to the dead-letter exchange with key `q.retry.<level>` (level clamped to the queue's retry
    /// levels, from the declared topology) and `x-retry-count` one higher, confirmed; then acks the original.
    /// Throws when the queue has no retry levels or the copy was not confirmed (the original then stays unsettled).
    public func retry(_ delivery: Delivery, level: Int) async throws {
        guard let info = self.broker.registry.withLock({ $0.queues[self.queue] }), info.retryLevels > 0 else {
            throw RabbitMQBrokerError("queue \(self.queue) has no retry levels in the declared topology")
        }
        let entry = try self.entry(for: delivery)
        let clamped = min(max(level, 1), info.retryLevels)
        var properties = entry.delivery.properties
        var headers = properties.headers ?? [:]
        // Whoever published the message chose this header: read it bounded, so one higher cannot overflow.
        let header = headers[MessageHeaders.retryCount]
        let current = header?.int64Value.map { String($0) } ?? header?.stringValue
        let count = min(MessageHeaders.retryCount(current) + 1, MessageHeaders.maximumRetryCount)
        headers[MessageHeaders.retryCount] = .string(String(count))
        properties.headers = headers
        properties.deliveryMode = .persistent
        try await self.forward(
            entry, to: info.deadLetterExchange, routingKey: BrokerTopology.retryQueueName(of: self.queue, level: clamped), properties: properties,
            tag: delivery.tag)
    }

    /// Publishes a copy to the dead-letter exchange with key `q.dlq` and `x-death-reason = reason`, confirmed; then
    /// acks the original. Throws when the copy was not confirmed (the original then stays unsettled).
    ///
    /// A delivery whose body was dropped for its size has no body to copy: it is rejected without requeue, and the
    /// queue's own dead-letter arguments move the original to `q.dlq` (see ``RabbitMQBroker``).
    public func deadLetter(_ delivery: Delivery, reason: String) async throws {
        if let size = try self.entry(for: delivery).delivery.oversizedBodySize {
            return try await self.rejectOversized(delivery, size: size, reason: reason)
        }
        guard let info = self.broker.registry.withLock({ $0.queues[self.queue] }) else {
            throw RabbitMQBrokerError("queue \(self.queue) is not in a declared topology: no dead-letter exchange")
        }
        let entry = try self.entry(for: delivery)
        var properties = entry.delivery.properties
        var headers = properties.headers ?? [:]
        headers[MessageHeaders.deathReason] = .string(reason)
        properties.headers = headers
        properties.deliveryMode = .persistent
        try await self.forward(
            entry, to: info.deadLetterExchange, routingKey: BrokerTopology.deadLetterQueueName(of: self.queue), properties: properties,
            tag: delivery.tag)
    }

    /// Nacks the deliveries with requeue: RabbitMQ puts them back and delivers them again marked redelivered.
    public func requeue(_ deliveries: [Delivery]) async throws {
        guard !deliveries.isEmpty else { return }
        let entries = try self.box.state.withLock { state throws in
            let entries = try Self.remove(deliveries, from: &state)
            state.settlesInFlight += 1
            return entries
        }
        defer { self.box.state.withLock { $0.settlesInFlight -= 1 } }
        for entry in entries {
            await self.settle(entry.delivery, what: "requeue") { try await $0.nack(requeue: true) }
        }
    }

    /// Stops the consumer on the broker and ends `next` (it returns nil); deliveries handed out can still be
    /// settled. Deliveries received but not handed out stay unacknowledged until ``close()`` (or a reconnect); any
    /// still arriving are requeued. A reconnect does not resume the consumer.
    public func cancel() async {
        let (waiter, channels) = self.box.state.withLock { state in
            state.cancelled = true
            return (state.takeWaiter(), Array(state.channels.values))
        }
        waiter?.resume()
        // Cancel on the broker first, so the client's consumer loop ends without closing the channel (which would
        // requeue the deliveries in hand); then end our side of the client's stream (no resumption on reconnect).
        for (channel, consumerTag) in channels where channel.isOpen {
            if let consumerTag { try? await channel.cancel(consumerTag: consumerTag) }
        }
        self.box.state.withLock { $0.declining = true }
        self.broker.client.stopConsuming(self.registration)
    }

    /// Cancels, requeues every delivery not settled (handed out or buffered) and closes the consumer's channels.
    public func close() async {
        await self.cancel()
        let (unsettled, buffered, channels) = self.box.state.withLock { state in
            let unsettled = state.unsettled.values.map(\.delivery)
            let buffered = Array(state.buffered)
            state.unsettled.removeAll()
            state.buffer.removeAll()
            state.bufferStart = 0
            let channels = state.channels.values.map(\.channel)
            state.channels.removeAll()
            return (unsettled, buffered, channels)
        }
        for delivery in (unsettled + buffered).sorted(by: { $0.deliveryTag > $1.deliveryTag }) {
            await self.settle(delivery, what: "requeue on close") { try await $0.nack(requeue: true) }
        }
        for channel in channels where channel.isOpen {
            try? await channel.close()
        }
    }

    // MARK: helpers

    /// Rejects a delivery whose body was dropped, without requeue, so RabbitMQ dead-letters the original. Counted in
    /// `settlesInFlight` like every settle, so no `multiple` ack runs ahead of it and acks it first.
    private func rejectOversized(_ delivery: Delivery, size: UInt64, reason: String) async throws {
        let entry = try self.box.state.withLock { state throws in
            let entry = try Self.remove([delivery], from: &state)[0]
            state.settlesInFlight += 1
            return entry
        }
        defer { self.box.state.withLock { $0.settlesInFlight -= 1 } }
        if self.broker.registry.withLock({ $0.queues[self.queue]?.deadLettersRejected }) != true {
            // Nothing else is safe: a requeue would deliver it again forever, and a copy needs the body we dropped.
            self.logger.error(
                """
                queue \(self.queue) has no dead-letter exchange of ours (declared without our arguments, or not \
                declared by this service): RabbitMQ drops the rejected message of \(size) bytes unless the queue has \
                one of its own; run `ordersystem migrate-queues` to move it to the new topology
                """,
                metadata: ["queue": "\(self.queue)", "size": "\(size)", "reason": "\(reason)"])
        }
        await self.settle(entry.delivery, what: "reject (body too large)") { try await $0.reject(requeue: false) }
    }

    private static func remove(_ deliveries: [Delivery], from state: inout State) throws -> [Entry] {
        var seen = Set<UInt64>()
        for delivery in deliveries {
            guard state.unsettled[delivery.tag] != nil, seen.insert(delivery.tag).inserted else {
                throw RabbitMQBrokerError("delivery \(delivery.tag) is unknown or already settled")
            }
        }
        return deliveries.map { state.unsettled.removeValue(forKey: $0.tag)! }
    }

    private func entry(for delivery: Delivery) throws -> Entry {
        guard let entry = self.box.state.withLock({ $0.unsettled[delivery.tag] }) else {
            throw RabbitMQBrokerError("delivery \(delivery.tag) is unknown or already settled")
        }
        return entry
    }

    /// Publishes a copy (confirmed), then acks the original if it is still unsettled.
    private func forward(
        _ entry: Entry, to exchange: String, routingKey: String, properties: AMQPBasicProperties, tag: UInt64
    ) async throws {
        guard entry.delivery.channel.isOpen else {
            // The channel died (reconnect): RabbitMQ requeued the original, so a copy would only duplicate it.
            _ = self.box.state.withLock { $0.unsettled.removeValue(forKey: tag) }
            self.logger.debug(
                "retry or dead-letter of a delivery of a closed channel: RabbitMQ has requeued it",
                metadata: ["queue": "\(self.queue)"])
            return
        }
        // Mandatory: a copy that reaches no queue (its retry or dead-letter queue deleted or unbound) fails, and the
        // original stays with us instead of being acked into nowhere.
        let message = AMQPOutboundMessage(
            body: entry.delivery.body, exchange: exchange, routingKey: routingKey, mandatory: true,
            properties: properties)
        let result = await self.broker.client.publishBatch([message])
        if case .failure(let error) = result.first ?? .failure(AMQPError(code: .protocolError, message: "no result")) {
            throw error
        }
        let removed = self.box.state.withLock { state -> Entry? in
            guard let entry = state.unsettled.removeValue(forKey: tag) else { return nil }
            state.settlesInFlight += 1
            return entry
        }
        guard let removed else {
            // Settled concurrently meanwhile; the copy is out, which at-least-once delivery allows.
            self.logger.debug("delivery settled while it was forwarded", metadata: ["queue": "\(self.queue)"])
            return
        }
        defer { self.box.state.withLock { $0.settlesInFlight -= 1 } }
        await self.settle(removed.delivery, what: "ack after forward") { try await $0.ack() }
    }

    /// Sends a settle frame on the delivery's own channel; a dead channel (reconnect, close) means RabbitMQ already
    /// requeued the message, so that is logged at debug level and ignored.
    private func settle(
        _ delivery: AMQPDelivery, what: String, _ body: (AMQPDelivery) async throws -> Void
    ) async {
        guard delivery.channel.isOpen else {
            self.logger.debug(
                "settling a delivery of a closed channel: RabbitMQ has requeued it",
                metadata: ["queue": "\(self.queue)", "settle": "\(what)"])
            return
        }
        do {
            try await body(delivery)
        } catch {
            self.logger.debug(
                "settle failed (the channel closed): RabbitMQ requeues the message",
                metadata: ["queue": "\(self.queue)", "settle": "\(what)", "error": "\(error)"])
        }
    }
}
