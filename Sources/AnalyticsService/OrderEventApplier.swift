import Logging
import Metrics
import OrderEvents
import ServiceRuntime

/// Applies a batch of `OrderCreated` deliveries to the analytics store in one transaction, then acks them together.
///
/// - An undecodable or invalid event is dead-lettered at once: no retry can fix it.
/// - A store failure is an outage, not the messages' fault: the batch waits (consumption pauses) and is applied
///   when the store is back; no retry attempt is used. At shutdown during an outage the batch is requeued.
/// - Duplicates (redeliveries, or the same order twice) are recognised by the store's unique `order_id` and
///   change nothing.
public struct OrderEventApplier: DeliveryBatchHandler {
    let store: any AnalyticsStore
    let summaryCache: SummaryCache
    let metrics: AnalyticsServiceMetrics
    let logger: Logger

    /// Creates the handler.
    public init(store: any AnalyticsStore, summaryCache: SummaryCache, metrics: AnalyticsServiceMetrics, logger: Logger) {
        self.store = store
        self.summaryCache = summaryCache
        self.metrics = metrics
        self.logger = logger
    }

    public func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        var accepted: [Delivery] = []
        var events: [OrderCreatedEvent] = []
        accepted.reserveCapacity(deliveries.count)
        events.reserveCapacity(deliveries.count)
        for delivery in deliveries {
            do {
                events.append(try OrderCreatedEvent.decode(delivery.body))
                accepted.append(delivery)
            } catch {
                _ = await consumer.deadLetter(
                    delivery, reason: error.reason, logger: self.logger,
                    deadLettered: self.metrics.eventsDeadLettered, brokerErrors: self.metrics.brokerErrors
                )
            }
        }
        guard !events.isEmpty else { return }

        let start = ContinuousClock.now
        let store = self.store
        let applied = await control.retryingDependency("analytics store", errors: self.metrics.storeErrors) {
            try await store.apply(events, processedAt: Timestamp.now())
        }
        guard let result = applied else {
            // Shutting down while the store is away: give the batch back untouched.
            try? await consumer.requeue(accepted)
            return
        }
        self.metrics.batchDuration.recordInterval(since: start)
        self.metrics.eventsApplied.increment(by: Int64(result.applied))
        self.metrics.eventsDuplicate.increment(by: Int64(result.duplicates))
        if result.duplicates > 0 {
            self.logger.info("skipped duplicate events", metadata: ["count": "\(result.duplicates)"])
        }
        await self.summaryCache.replace(
            AnalyticsSummary(totals: result.totals).jsonBytes,
            version: result.totals.lastUpdated?.microsecondsSinceEpoch ?? 0)
        do {
            try await consumer.ack(accepted)
        } catch {
            // The effect is committed; a redelivery will be recognised as a duplicate.
            self.metrics.brokerErrors.increment()
            self.logger.warning("acknowledging applied events failed", metadata: ["error": "\(error)"])
        }
    }
}
