import Logging
import Metrics
import OrderEvents
import ServiceRuntime

/// Sends the email and the SMS for each `OrderCreated` delivery, at most once per (order, channel) as far as the
/// record knows, with bounded retries.
///
/// - Invalid event: dead-lettered at once.
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

    public func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        let toAck = await withTaskGroup(of: Delivery?.self) { group in
            for delivery in deliveries {
                group.addTask { await self.process(delivery, consumer: consumer, control: control) ? delivery : nil }
            }
            var toAck: [Delivery] = []
            for await delivery in group {
                if let delivery { toAck.append(delivery) }
            }
            return toAck
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
    private func process(_ delivery: Delivery, consumer: any MessageConsumer, control: ConsumerControl) async -> Bool {
        let event: OrderCreatedEvent
        do {
            event = try OrderCreatedEvent.decode(delivery.body)
        } catch {
            await self.deadLetter(delivery, reason: error.reason, consumer: consumer)
            return false
        }
        let record = self.record
        for channel in NotificationChannel.allCases {
            guard
                let alreadySent = await control.retryingDependency(
                    "notification record",
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
                await self.retryOrDeadLetter(delivery, event: event, channel: channel, error: error, consumer: consumer)
                return false
            }
            self.statistics.recordSent(channel)
            guard
                await control.retryingDependency(
                    "notification record",
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
        consumer: any MessageConsumer
    ) async {
        let attempt = delivery.retryCount + 1
        let permanent = (error as? NotificationSendError)?.isPermanent ?? false
        if permanent || attempt >= self.maxAttempts {
            let reason = permanent
                ? "\(channel.rawValue) refused permanently: \(error)"
                : "\(channel.rawValue) failed after \(attempt) attempts: \(error)"
            await self.deadLetter(delivery, reason: reason, consumer: consumer)
            return
        }
        self.logger.warning(
            "notification failed; will retry",
            metadata: [
                "order_id": "\(event.orderID)", "channel": "\(channel.rawValue)", "attempt": "\(attempt)",
                "error": "\(error)",
            ]
        )
        do {
            try await consumer.retry(delivery, level: attempt)
            self.statistics.recordRetried()
        } catch {
            self.statistics.brokerErrors.increment()
            self.logger.error("scheduling a retry failed; the message will be redelivered", metadata: ["error": "\(error)"])
        }
    }

    private func deadLetter(_ delivery: Delivery, reason: String, consumer: any MessageConsumer) async {
        if await consumer.deadLetter(
            delivery, reason: reason, logger: self.logger,
            deadLettered: self.statistics.deadLettered, brokerErrors: self.statistics.brokerErrors
        ) {
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
