import Logging
import Metrics

extension MessageConsumer {
    /// Dead-letters `delivery` with `reason`, logging it with the message id; counts success in `deadLettered`
    /// and a broker failure in `brokerErrors` (the message is then redelivered later, nothing is lost).
    public func deadLetter(
        _ delivery: Delivery,
        reason: String,
        logger: Logger,
        deadLettered: Counter,
        brokerErrors: Counter
    ) async -> Bool {
        logger.warning(
            "message dead-lettered",
            metadata: [
                "queue": "\(delivery.queue)", "message_id": "\(delivery.properties.messageID ?? "")",
                "reason": "\(reason)",
            ]
        )
        do {
            try await self.deadLetter(delivery, reason: reason)
            deadLettered.increment()
            return true
        } catch {
            brokerErrors.increment()
            logger.error("dead-lettering failed; the message will be redelivered", metadata: ["error": "\(error)"])
            return false
        }
    }
}
