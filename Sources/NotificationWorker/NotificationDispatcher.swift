import Logging
import Messaging
import Metrics
import OrderEvents

/// Sends the email and the SMS for each `OrderCreated` delivery, at most once per (order, channel) as far as the
/// record knows, with bounded retries.
///
/// - Invalid event (one that breaks ``OrderContract``): dead-lettered at once.
/// - Several deliveries of one order in a batch: the first is processed, the others are settled with it, so one batch
///   never sends twice.
/// - A send fails: the delivery goes to retry level `n` (growing delays); after `maxAttempts` attempts, or at once
///   for a permanent refusal, it is dead-lettered. Channels already sent are skipped on the retry.
/// - The record is unreachable: an outage, not the message's fault; the delivery waits (consumption pauses) and no
///   attempt is used.
///
/// A batch costs two calls to the record, one read before its sends and one write after them; its deliveries are
/// sent concurrently, and the successful ones are acked together once their sends are recorded.
public struct NotificationDispatcher: DeliveryBatchHandler {
    let sender: any NotificationSender
    let record: any NotificationRecord
    let maxAttempts: Int
    let statistics: WorkerStatistics
    let logger: Logger

    /// Creates the handler.
    public init(
        sender: any NotificationSender,
        record: any NotificationRecord,
        maxAttempts: Int,
        statistics: WorkerStatistics,
        logger: Logger
    ) {
        self.sender = sender
        self.record = record
        self.maxAttempts = max(maxAttempts, 1)
        self.statistics = statistics
        self.logger = logger
    }

    /// The dependency name consumption pauses under while the record fails (for its health check).
    public static let recordDependency = "notification record"

    public func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        // Claim each order before anything is sent: the first delivery of an order in this batch does the work,
        // later ones (a redelivery, a duplicate publish) wait for it and are settled as duplicates. Processed side
        // by side, both would find nothing recorded and both would send.
        var claimed: [(delivery: Delivery, event: OrderCreatedEvent)] = []
        var duplicates: [Delivery] = []
        var claims = Set<String>()
        for delivery in deliveries {
            let event: OrderCreatedEvent
            do {
                event = try OrderCreatedEvent.decode(delivery.body)
            } catch {
                await self.deadLetter(delivery, reason: "invalid event: \(error.reason)", consumer: consumer, control: control)
                continue
            }
            if claims.insert(event.orderID).inserted {
                claimed.append((delivery, event))
            } else {
                duplicates.append(delivery)
            }
        }
        // One read of the record for the whole batch, every send, one write of what was sent, then the settling:
        // a delivery is acknowledged, retried or dead-lettered only once its sends are recorded, so a retry skips
        // them. Two round trips per batch instead of two per notification.
        let record = self.record
        let keys = claimed.flatMap { claim in NotificationChannel.allCases.map { NotificationKey(orderID: claim.event.orderID, channel: $0) } }
        guard
            let alreadySent = await control.retryingDependency(
                Self.recordDependency, errors: self.statistics.recordErrors, { try await record.sent(among: keys) }
            )
        else {
            // Shutting down before the record answered: nothing was sent.
            try? await consumer.requeue(claimed.map(\.delivery))
            return
        }
        let outcomes = await withTaskGroup(of: SendOutcome.self) { group in
            for (delivery, event) in claimed {
                group.addTask { await self.send(delivery, event: event, skipping: alreadySent) }
            }
            var outcomes: [SendOutcome] = []
            outcomes.reserveCapacity(claimed.count)
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let sent = outcomes.flatMap(\.sent)
        guard
            await control.retryingDependency(
                Self.recordDependency, errors: self.statistics.recordErrors, { try await record.recordSent(sent) }
            ) != nil
        else {
            // Sent but not recorded, and shutting down: the documented window for a repeated send.
            try? await consumer.requeue(claimed.map(\.delivery))
            return
        }
        var toAck: [Delivery] = []
        for outcome in outcomes {
            if let failure = outcome.failure {
                await self.retryOrDeadLetter(
                    outcome.delivery, event: outcome.event, channel: failure.channel, error: failure.error,
                    consumer: consumer, control: control)
            } else {
                self.statistics.recordProcessed()
                toAck.append(outcome.delivery)
            }
        }
        if !duplicates.isEmpty {
            // Their order's first delivery is settled now (acked, retried, dead-lettered or requeued): that copy
            // carries the work, so these are done.
            for _ in duplicates {
                for _ in NotificationChannel.allCases { self.statistics.recordDuplicate() }
            }
            self.logger.info("duplicate deliveries of an order in one batch settled with its first", metadata: ["count": "\(duplicates.count)"])
            toAck += duplicates
        }
        guard !toAck.isEmpty else { return }
        do {
            try await consumer.ack(toAck)
        } catch {
            // Sends are recorded; a redelivery will skip them.
            self.statistics.brokerErrors.increment()
            self.logger.warning("acknowledging notifications failed", metadata: ["error": "\(error)"])
        }
    }

    /// What sending one delivery's notifications came to.
    private struct SendOutcome: Sendable {
        var delivery: Delivery
        var event: OrderCreatedEvent
        /// The notifications the provider accepted, to record.
        var sent: [NotificationKey] = []
        /// The send that failed; the channels after it were not tried.
        var failure: (channel: NotificationChannel, error: any Error)?
    }

    /// Sends each channel of `event` not in `alreadySent`, in order, stopping at the first failure.
    private func send(_ delivery: Delivery, event: OrderCreatedEvent, skipping alreadySent: Set<NotificationKey>) async -> SendOutcome {
        var outcome = SendOutcome(delivery: delivery, event: event)
        for channel in NotificationChannel.allCases {
            let key = NotificationKey(orderID: event.orderID, channel: channel)
            if alreadySent.contains(key) {
                self.statistics.recordDuplicate()
                continue
            }
            do {
                try await self.sender.send(Self.notification(for: event, channel: channel))
            } catch {
                self.statistics.recordFailed()
                outcome.failure = (channel, error)
                return outcome
            }
            self.statistics.recordSent(channel)
            outcome.sent.append(key)
        }
        return outcome
    }

    private func retryOrDeadLetter(
        _ delivery: Delivery,
        event: OrderCreatedEvent,
        channel: NotificationChannel,
        error: any Error,
        consumer: any MessageConsumer,
        control: ConsumerControl
    ) async {
        // retryCount is bounded (MessageHeaders.retryCount), whatever the header said: + 1 cannot overflow.
        let attempt = delivery.retryCount + 1
        let permanent = (error as? NotificationSendError)?.isPermanent ?? false
        if permanent || attempt >= self.maxAttempts || !consumer.retriesAvailable {
            let reason: String
            if permanent {
                reason = "\(channel.rawValue) refused permanently: \(error)"
            } else if attempt >= self.maxAttempts {
                reason = "\(channel.rawValue) failed after \(attempt) attempts: \(error)"
            } else {
                reason = "\(channel.rawValue) failed and retries are off for this queue: \(error)"
            }
            await self.deadLetter(delivery, reason: reason, consumer: consumer, control: control)
            return
        }
        self.logger.warning(
            "notification failed; will retry",
            metadata: [
                "order_id": "\(event.orderID)", "channel": "\(channel.rawValue)", "attempt": "\(attempt)",
                "error": "\(error)",
            ]
        )
        if await control.retry(delivery, level: attempt, consumer: consumer, brokerErrors: self.statistics.brokerErrors) {
            self.statistics.recordRetried()
        }
    }

    private func deadLetter(
        _ delivery: Delivery, reason: String, consumer: any MessageConsumer, control: ConsumerControl
    ) async {
        if await control.deadLetter(
            delivery, reason: reason, consumer: consumer, deadLettered: self.statistics.deadLettered,
            brokerErrors: self.statistics.brokerErrors, logger: self.logger)
        {
            self.statistics.recordDeadLettered()
        }
    }

    static func notification(for event: OrderCreatedEvent, channel: NotificationChannel) -> NotificationMessage {
        let text: String
        switch channel {
        case .email:
            text = "Your order \(event.orderID) for \(event.quantity) x \(event.productID) (total \(event.totalAmount)) was received."
        case .sms:
            text = "Order \(event.orderID) received, total \(event.totalAmount)."
        }
        return NotificationMessage(channel: channel, orderID: event.orderID, customerID: event.customerID, message: text)
    }
}
