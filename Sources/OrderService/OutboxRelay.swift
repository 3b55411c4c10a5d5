import Logging
import Messaging
import Metrics
import ServiceCore
import ServiceLifecycle
import Synchronization
import Timing

/// Publishes the outbox: claims unpublished events in batches, publishes them with confirms, and marks published
/// only what the broker confirmed, which means routed to a queue. A broker outage, or a topology that routes the
/// events nowhere, delays events and never loses them.
///
/// Woken by every new order (no polling delay under load); a slow poll is the safety net for events written by
/// another instance or left by a crash. While the broker fails it backs off and keeps the events. On graceful
/// shutdown it flushes what is pending, bounded by ``Configuration/flushTimeout``.
public final class OutboxRelay: Service, Sendable {
    /// Tunables.
    public struct Configuration: Sendable {
        /// Events per batch.
        public var batchSize: Int = 256
        /// The safety-net poll.
        public var pollInterval: Duration = .seconds(1)
        /// How long published events are kept.
        public var retention: Duration = .seconds(24 * 3600)
        /// How long idempotency keys are kept (the housekeeping that purges published events purges them too).
        public var idempotencyKeyTTL: Duration = .seconds(24 * 3600)
        /// How long shutdown may spend flushing.
        public var flushTimeout: Duration = .seconds(5)
        /// The exchange events go to.
        public var exchange: String

        /// Creates a configuration.
        public init(exchange: String) {
            self.exchange = exchange
        }
    }

    private let store: any OrderStore
    private let broker: any MessageBroker
    private let configuration: Configuration
    private let metrics: OrderServiceMetrics
    private let logger: Logger
    /// Signalled by `POST /orders`.
    public let signal: WakeSignal
    private let stopSignal = WakeSignal()
    private let stopping = Atomic<Bool>(false)
    /// Declared again when events come back unroutable, which restores bindings someone removed.
    private let topology: BrokerTopology?
    private let routing = Mutex(RoutingState())

    private struct RoutingState {
        /// Why the last attempt left events unroutable; nil once a drain publishes everything.
        var problem: String?
        var lastRepair: ContinuousClock.Instant?
    }

    /// How often at most the relay declares the topology again while events come back unroutable.
    static let topologyRepairInterval: Duration = .seconds(5)

    /// Creates a relay.
    public init(
        store: any OrderStore,
        broker: any MessageBroker,
        configuration: Configuration,
        metrics: OrderServiceMetrics,
        signal: WakeSignal,
        topology: BrokerTopology? = nil,
        logger: Logger
    ) {
        self.topology = topology
        self.store = store
        self.broker = broker
        self.configuration = configuration
        self.metrics = metrics
        self.signal = signal
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.signal.signal()
            self.stopSignal.signal()
        }
        await self.flush()
    }

    private func loop() async {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        var lastBacklogUpdate = ContinuousClock.now - .seconds(60)
        var lastPurge = ContinuousClock.now
        while !self.stopping.load(ordering: .relaxed) && !Task.isCancelled {
            do {
                try await self.drain()
                backoff.reset()
            } catch {
                self.metrics.outboxPublishFailures.increment()
                let delay = backoff.nextDelay()
                self.logger.warning(
                    "outbox relay could not publish; retrying",
                    metadata: ["error": "\(error)", "retry_in": "\(DurationParser.format(delay))"]
                )
                await self.updateBacklogMetrics()
                await self.stopSignal.wait(timeout: delay)
                continue
            }
            let now = ContinuousClock.now
            if now - lastBacklogUpdate >= .seconds(1) {
                await self.updateBacklogMetrics()
                lastBacklogUpdate = now
            }
            if now - lastPurge >= .seconds(60) {
                await self.purge()
                lastPurge = now
            }
            await self.signal.wait(timeout: self.configuration.pollInterval)
        }
    }

    /// Throws ``OutboxRoutingError`` while published events come back unroutable (no queue bound for them): the
    /// order service's `mq` health check reports it, so `/health` says `degraded` with the reason.
    public func checkRouting() throws {
        if let problem = self.routing.withLock({ $0.problem }) { throw OutboxRoutingError(description: problem) }
    }

    /// Publishes batches until the outbox is empty; throws when a batch could not be fully published.
    ///
    /// Only confirmed events are marked published. A confirmed event reached a queue: the brokers fail one that no
    /// binding matched (`.unroutable`), and it stays pending like any other failure, counted in
    /// `outbox_events_unroutable_total`.
    func drain() async throws {
        while true {
            var unroutable: (count: Int, reason: String)?
            let batch = try await self.store.relayPendingEvents(limit: self.configuration.batchSize) { events in
                let outcomes = await self.broker.publish(events.map { $0.message(exchange: self.configuration.exchange) })
                var confirmed: [Int64] = []
                confirmed.reserveCapacity(events.count)
                for (event, outcome) in zip(events, outcomes) {
                    switch outcome {
                    case .confirmed: confirmed.append(event.sequence)
                    case .unroutable(let reason): unroutable = ((unroutable?.count ?? 0) + 1, reason)
                    case .failed: break
                    }
                }
                return confirmed
            }
            self.metrics.outboxPublished.increment(by: Int64(batch.published))
            if let unroutable {
                self.metrics.outboxUnroutable.increment(by: Int64(unroutable.count))
                await self.unroutable(count: unroutable.count, reason: unroutable.reason)
            }
            if batch.published < batch.claimed {
                throw OutboxRelayError(unconfirmed: batch.claimed - batch.published)
            }
            if batch.claimed < self.configuration.batchSize {
                self.routing.withLock { $0.problem = nil }
                return
            }
        }
    }

    /// Records why events were unroutable and, at most every ``topologyRepairInterval``, declares the topology
    /// again: the order service declared both queues and their bindings at start, so a binding that is gone was
    /// removed by hand, and putting it back is what lets the pending events flow.
    private func unroutable(count: Int, reason: String) async {
        let now = ContinuousClock.now
        let repair = self.routing.withLock { state -> Bool in
            state.problem = "\(count) event(s) came back unroutable and stay in the outbox: \(reason)"
            guard self.topology != nil else { return false }
            if let last = state.lastRepair, now - last < Self.topologyRepairInterval { return false }
            state.lastRepair = now
            return true
        }
        self.logger.error(
            "published events reached no queue; they stay in the outbox until a queue is bound again",
            metadata: ["events": "\(count)", "reason": "\(reason)", "repair": "\(repair ? "declaring the topology again" : "waiting")"])
        guard repair, let topology = self.topology else { return }
        do {
            try await self.broker.declare(topology)
        } catch is TopologyConflict {
            // Logged at start; the existing queues' bindings were declared all the same.
        } catch {
            self.logger.warning("declaring the topology again failed", metadata: ["error": "\(error)"])
        }
    }

    /// Publishes what is pending before the service stops, retrying for at most `flushTimeout`.
    ///
    /// A cancelled task (the group stopped because another service failed, e.g. the HTTP port was taken) can do no
    /// I/O: every attempt would fail at once and the pause between attempts would not wait, so it logs once and
    /// leaves the events in the outbox for the next start.
    private func flush() async {
        let deadline = ContinuousClock.now + self.configuration.flushTimeout
        while ContinuousClock.now < deadline {
            if Task.isCancelled {
                self.logger.warning("outbox flush at shutdown skipped: the service was cancelled; events stay in the outbox")
                return
            }
            do {
                try await self.drain()
                await self.updateBacklogMetrics()
                return
            } catch {
                self.logger.warning("outbox flush at shutdown incomplete; events stay in the outbox", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func updateBacklogMetrics() async {
        do {
            let backlog = try await self.store.outboxBacklog()
            self.metrics.outboxPending.record(backlog.pending)
            let age = backlog.oldestCreatedAt.map { Timestamp.now().seconds(since: $0) } ?? 0
            self.metrics.outboxOldestPendingSeconds.record(max(age, 0))
        } catch {
            self.logger.debug("reading the outbox backlog failed", metadata: ["error": "\(error)"])
        }
    }

    private func purge() async {
        let seconds = self.configuration.retention.totalSeconds
        do {
            let purged = try await self.store.purgePublishedEvents(before: Timestamp.now().adding(seconds: -seconds))
            if purged > 0 {
                self.metrics.outboxPurged.increment(by: Int64(purged))
                self.logger.info("purged published outbox events", metadata: ["count": "\(purged)"])
            }
        } catch {
            self.logger.warning("purging published outbox events failed", metadata: ["error": "\(error)"])
        }
        let keySeconds = self.configuration.idempotencyKeyTTL.totalSeconds
        do {
            let purged = try await self.store.purgeIdempotencyKeys(before: Timestamp.now().adding(seconds: -keySeconds))
            if purged > 0 {
                self.metrics.idempotencyKeysPurged.increment(by: Int64(purged))
                self.logger.info("purged expired idempotency keys", metadata: ["count": "\(purged)"])
            }
        } catch {
            self.logger.warning("purging expired idempotency keys failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Published events came back unroutable; the reason is the description.
public struct OutboxRoutingError: Error, CustomStringConvertible {
    public var description: String
}

/// Some events of a batch were not confirmed by the broker; they stay in the outbox.
public struct OutboxRelayError: Error, CustomStringConvertible {
    /// How many events were not confirmed.
    public var unconfirmed: Int
    public var description: String { "\(self.unconfirmed) event(s) not confirmed by the broker" }
}
