import Messaging
import ServiceCore
import Synchronization

/// A consumer of one main queue of an ``EmbeddedBroker``; made by ``EmbeddedBroker/consume(queue:prefetch:)``.
///
/// Settling is all or nothing per call: every delivery must be held unsettled by this consumer, or the call
/// throws ``EmbeddedBrokerError/Code/unknownDeliveryTag`` and changes nothing. When the database write of a
/// settlement fails, the deliveries are unsettled again and the call throws, so it may be repeated.
/// A consumer released without `close()` is closed by its deinit, as a dropped AMQP channel would be.
///
/// Thread-safety: `Sendable`; settle calls may come from several tasks, `next` from one task at a time (a second
/// concurrent `next` throws ``EmbeddedBrokerError/Code/concurrentNext``).
final class EmbeddedBrokerConsumer: MessageConsumer {
    private let broker: EmbeddedBroker
    private let id: UInt64
    /// The main queue consumed.
    let queue: String

    init(broker: EmbeddedBroker, id: UInt64, queue: String) {
        self.broker = broker
        self.id = id
        self.queue = queue
    }

    deinit {
        self.broker.closeConsumer(self.id)
    }

    func next(limit: Int) async throws -> [Delivery]? {
        let limit = max(limit, 1)
        let broker = self.broker
        // Messages waiting on disk are read back before the ready list runs dry.
        await broker.loadPage(queue: self.queue)
        let id = self.id
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: EmbeddedBrokerState.Continuation) in
                // Cancellation is checked under the same lock the handler takes: either the handler finds this
                // waiter, or this check sees the cancellation. No wake-up is lost.
                let action = broker.state.withLock { state in
                    state.next(consumer: id, limit: limit, continuation: continuation, taskCancelled: Task.isCancelled)
                }
                switch action {
                case .resume(let deliveries): continuation.resume(returning: deliveries)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = broker.state.withLock { $0.removeWaiter(consumer: id) }
            waiter?.resume(returning: nil)
        }
    }

    func ack(_ deliveries: [Delivery]) async throws {
        guard !deliveries.isEmpty else { return }
        let taken = try self.takeUnsettled(deliveries.map(\.tag))
        do {
            try await self.broker.deleteRows(ids: taken.map(\.message.id))
        } catch {
            self.restore(taken)
            throw error
        }
    }

    var retriesAvailable: Bool {
        self.broker.state.withLock { $0.retryDelay(queue: self.queue, level: 1) != nil }
    }

    func retry(_ delivery: Delivery, level: Int) async throws {
        let now = EmbeddedBroker.wallClockMilliseconds()
        let (taken, retry, wakeups) = try self.broker.state.withLock { state throws(EmbeddedBrokerError) in
            guard let retry = state.retryDelay(queue: self.queue, level: level) else {
                throw EmbeddedBrokerError(.noRetryLevels, "queue '\(self.queue)' was declared without retry delays")
            }
            var wakeups = EmbeddedBrokerState.Wakeups()
            let taken = try state.takeUnsettled(consumer: self.id, tags: [delivery.tag], wakeups: &wakeups)
            return (taken, retry, wakeups)
        }
        wakeups.resume()
        var message = taken[0].message
        // The count comes from the stored message, not from the caller's copy of the delivery.
        let count = MessageHeaders.retryCount(message.properties.headers[MessageHeaders.retryCount])
        message.properties.headers[MessageHeaders.retryCount] = String(min(count + 1, MessageHeaders.maximumRetryCount))
        message.queue = BrokerTopology.retryQueueName(of: message.home, level: retry.level)
        message.availableAt = now + EmbeddedBroker.milliseconds(retry.delay)
        message.redelivered = false
        do {
            try await self.broker.updateRow(message)
        } catch {
            self.restore(taken)
            throw error
        }
        let (moreWakeups, addedDelayed) = self.broker.state.withLock { state in
            var wakeups = EmbeddedBrokerState.Wakeups()
            let addedDelayed = state.enqueue([message], wakeups: &wakeups)
            return (wakeups, addedDelayed)
        }
        moreWakeups.resume()
        if addedDelayed { self.broker.retrySignal.signal() }
    }

    func deadLetter(_ delivery: Delivery, reason: String) async throws {
        let taken = try self.takeUnsettled([delivery.tag])
        var message = taken[0].message
        message.properties.headers[MessageHeaders.deathReason] = reason
        message.queue = BrokerTopology.deadLetterQueueName(of: message.home)
        // Dead-letter queues list oldest death first.
        message.availableAt = EmbeddedBroker.wallClockMilliseconds()
        do {
            try await self.broker.updateRow(message)
        } catch {
            self.restore(taken)
            throw error
        }
    }

    func requeue(_ deliveries: [Delivery]) async throws {
        guard !deliveries.isEmpty else { return }
        let wakeups = try self.broker.state.withLock { state throws(EmbeddedBrokerError) in
            var wakeups = EmbeddedBrokerState.Wakeups()
            let taken = try state.takeUnsettled(consumer: self.id, tags: deliveries.map(\.tag), wakeups: &wakeups)
            state.putBackAtHead(taken.map(\.message), queue: self.queue, wakeups: &wakeups)
            return wakeups
        }
        wakeups.resume()
    }

    func cancel() async {
        let waiter = self.broker.state.withLock { $0.cancel(consumer: self.id) }
        waiter?.resume(returning: nil)
    }

    func close() async {
        self.broker.closeConsumer(self.id)
    }

    private func takeUnsettled(
        _ tags: [UInt64]
    ) throws(EmbeddedBrokerError) -> EmbeddedBrokerState.Taken {
        let (taken, wakeups) = try self.broker.state.withLock { state throws(EmbeddedBrokerError) in
            var wakeups = EmbeddedBrokerState.Wakeups()
            let taken = try state.takeUnsettled(consumer: self.id, tags: tags, wakeups: &wakeups)
            return (taken, wakeups)
        }
        wakeups.resume()
        return taken
    }

    private func restore(_ taken: EmbeddedBrokerState.Taken) {
        let wakeups = self.broker.state.withLock { state in
            var wakeups = EmbeddedBrokerState.Wakeups()
            state.restoreUnsettled(consumer: self.id, taken, wakeups: &wakeups)
            return wakeups
        }
        wakeups.resume()
    }
}
