import Logging
import Metrics

extension ConsumerControl {
    /// The dependency name a failing forward pauses consumption under (for the `mq` health check).
    public static let forwardingDependency = "broker (forwarding to a retry or dead-letter queue)"

    /// Dead-letters `delivery` with `reason` (sent in the `x-death-reason` header), logging it with the message id
    /// (and `details`) and counting it in `deadLettered`. Returns true once it is in the dead-letter queue.
    ///
    /// The forward itself can fail (the broker is away, or the dead-letter queue is gone and the copy reached no
    /// queue). That is an outage, not the message's fault: the forward is retried with backoff while consumption
    /// pauses, each failure counted in `brokerErrors`, so the delivery never stays unsettled holding a prefetch slot.
    /// At shutdown it is requeued instead (false).
    public func deadLetter(
        _ delivery: Delivery,
        reason: String,
        consumer: any MessageConsumer,
        deadLettered: Counter?,
        brokerErrors: Counter?,
        logger: Logger,
        details: Logger.Metadata = [:]
    ) async -> Bool {
        let done: Void? = await self.retryingDependency(Self.forwardingDependency, errors: brokerErrors) {
            try await consumer.deadLetter(delivery, reason: reason)
        }
        guard done != nil else {
            try? await consumer.requeue([delivery])
            return false
        }
        // Logged once it is so: a forward that is still being retried at shutdown ends requeued, not dead-lettered.
        var metadata: Logger.Metadata = [
            "queue": "\(delivery.queue)", "message_id": "\(delivery.properties.messageID ?? "")",
            "reason": "\(reason)",
        ]
        metadata.merge(details) { current, _ in current }
        logger.warning("message dead-lettered", metadata: metadata)
        deadLettered?.increment()
        return true
    }

    /// Sends `delivery` to retry level `level`, with the same outage handling as
    /// ``deadLetter(_:reason:consumer:deadLettered:brokerErrors:logger:)``. Returns true once it is scheduled; false
    /// when shutdown began first (it is then requeued).
    public func retry(
        _ delivery: Delivery,
        level: Int,
        consumer: any MessageConsumer,
        brokerErrors: Counter
    ) async -> Bool {
        let done: Void? = await self.retryingDependency(Self.forwardingDependency, errors: brokerErrors) {
            try await consumer.retry(delivery, level: level)
        }
        guard done != nil else {
            try? await consumer.requeue([delivery])
            return false
        }
        return true
    }
}
