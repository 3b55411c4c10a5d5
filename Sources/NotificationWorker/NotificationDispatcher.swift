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
/// Deliveries of a batch are processed concurrently; successful ones are acked together.
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
        var toAck = await withTaskGroup(of: Delivery?.self) { group in
            for (delivery, event) in claimed {
                group.addTask {
                    await self.process(delivery, event: event, consumer: consumer, control: control) ? delivery : nil
                }
            }
            var toAck: [Delivery] = []
            for await delivery in group {
                if let delivery { toAck.append(delivery) }
            }
            return toAck
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

    /// Returns true when the delivery should be acked; false when it was settled otherwise.
    private func process(
        _ delivery: Delivery, event: OrderCreatedEvent, consumer: any MessageConsumer, control: ConsumerControl
    ) async -> Bool {
        let record = self.record
        for channel in NotificationChannel.allCases {
            guard
                let alreadySent = await control.retryingDependency(
                    Self.recordDependency,
                    errors: self.statistics.recordErrors,
                    { try await record.wasSent(orderID: event.orderID, channel: channel) }
                )
            else {
                try? await consumer.requeue([delivery])
                return false
            }
            if alreadySent {
                self.statistics.recordDuplicate()
                continue
            }
            do {
                try await self.sender.send(Self.notification(for: event, channel: channel))
            } catch {
                self.statistics.recordFailed()
                await self.retryOrDeadLetter(
                    delivery, event: event, channel: channel, error: error, consumer: consumer, control: control)
                return false
            }
            self.statistics.recordSent(channel)
            guard
                await control.retryingDependency(
                    Self.recordDependency,
                    errors: self.statistics.recordErrors,
                    { try await record.markSent(orderID: event.orderID, channel: channel) }
                ) != nil
            else {
                // Sent but not recorded, and shutting down: the documented window for one repeated send.
                try? await consumer.requeue([delivery])
                return false
            }
        }
        self.statistics.recordProcessed()
        return true
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
