import Logging
import Messaging
import Metrics
import OrderEvents
import ServiceCore
import ServiceRuntime
import Storage

/// Applies a batch of `OrderCreated` deliveries to the analytics store in one transaction, then acks them together.
///
/// - An event that breaks ``OrderContract`` (or is not an event at all) is dead-lettered at once, with the reason;
///   the rest of its batch is applied.
/// - The store refusing the data (``StoreDataError``: a value a column rejects, a total that would overflow) is the
///   data's fault: the batch is split in halves until the offending event is alone, and that one is dead-lettered.
///   The others are applied.
/// - Any other store failure is an outage, not the messages' fault: the batch waits (consumption pauses) and is
///   applied when the store is back; no retry attempt is used. At shutdown during an outage the batch is requeued.
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

    private typealias Accepted = (delivery: Delivery, event: OrderCreatedEvent)

    /// The dependency name consumption pauses under while the store fails (for the `database` health check).
    public static let storeDependency = "analytics store"

    public func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async {
        var accepted: [Accepted] = []
        accepted.reserveCapacity(deliveries.count)
        for delivery in deliveries {
            do {
                accepted.append((delivery, try OrderCreatedEvent.decode(delivery.body)))
            } catch {
                await self.deadLetter(delivery, reason: "invalid event: \(error.reason)", consumer: consumer, control: control)
            }
        }
        guard !accepted.isEmpty else { return }
        await self.apply(accepted[...], consumer: consumer, control: control)
    }

    /// Applies `batch` in one transaction and acks it; on a data error, applies each half on its own, down to the
    /// single event the store refuses, which is dead-lettered. A batch of n events with one bad event costs about
    /// 2·log2(n) transactions, and only when the store refused something.
    private func apply(_ batch: ArraySlice<Accepted>, consumer: any MessageConsumer, control: ConsumerControl) async {
        let start = ContinuousClock.now
        let store = self.store
        let events = batch.map(\.event)
        let outcome = await control.retryingDependency(Self.storeDependency, errors: self.metrics.storeOutages) {
            () async throws -> Result<AnalyticsApplyResult, StoreDataError> in
            do {
                return .success(try await store.apply(events, processedAt: Timestamp.now()))
            } catch {
                guard let dataError = StoreDataError.classify(error) else { throw error }
                return .failure(dataError)
            }
        }
        switch outcome {
        case nil:
            // Shutting down while the store is away: give the batch back untouched.
            try? await consumer.requeue(batch.map(\.delivery))
        case .failure(let dataError):
            self.metrics.storeDataErrors.increment()
            if batch.count == 1, let only = batch.first {
                await self.deadLetter(
                    only.delivery, reason: "the analytics store refused the event: \(dataError.reason)",
                    consumer: consumer, control: control)
                return
            }
            self.logger.info(
                "the analytics store refused a batch's data; applying it in halves to set the event aside",
                metadata: ["events": "\(batch.count)", "error": "\(dataError.reason)"])
            let middle = batch.startIndex + batch.count / 2
            await self.apply(batch[..<middle], consumer: consumer, control: control)
            await self.apply(batch[middle...], consumer: consumer, control: control)
        case .success(let result):
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
                try await consumer.ack(batch.map(\.delivery))
            } catch {
                // The effect is committed; a redelivery will be recognised as a duplicate.
                self.metrics.brokerErrors.increment()
                self.logger.warning("acknowledging applied events failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func deadLetter(
        _ delivery: Delivery, reason: String, consumer: any MessageConsumer, control: ConsumerControl
    ) async {
        _ = await control.deadLetter(
            delivery, reason: reason, consumer: consumer, deadLettered: self.metrics.eventsDeadLettered,
            brokerErrors: self.metrics.brokerErrors, logger: self.logger)
    }
}
