import Logging
import Messaging
import Metrics
import ServiceCore
import ServiceLifecycle
import Synchronization
import Timing

/// Publishes the outbox: new events from memory as soon as their order is committed, and everything else (events
/// of a crashed or stopped instance, events set aside after a failure) by claiming due rows; an event is marked
/// published only once the broker confirmed it, which means routed to a queue. A broker outage, or a topology that
/// routes the events nowhere, delays events and never loses them.
///
/// - New events come through ``OutboxHandoff`` (`POST /orders` hands each one over after its commit), so the relay
///   never reads back what the request just wrote. The table keeps them too: an event the relay did not publish
///   (the hand-off was full, the broker failed, the process died) becomes due after ``Configuration/handoffWindow``
///   and the poll claims it.
/// - The poll claims due rows in a short transaction that leases them (``Configuration/lease``) and holds no lock
///   while the broker confirms, so a slow or blocked broker never keeps rows locked.
/// - While the broker confirms nothing (an outage, a blocked connection, no confirm in time) no event is blamed:
///   the relay backs off and retries. An event that fails while others of its round are confirmed is its own
///   problem (so is one that fails alone while the broker confirmed others seconds ago): it is set aside with a
///   growing delay, so it never slows the others, and after
///   ``Configuration/maxAttempts`` such failures it is parked, counted and reported by `/health` (`degraded`).
///
/// On graceful shutdown it flushes what is pending, bounded by ``Configuration/flushTimeout``.
public final class OutboxRelay: Service, Sendable {
    /// Tunables.
    public struct Configuration: Sendable {
        /// Events per batch.
        public var batchSize: Int = 256
        /// The poll for due events.
        public var pollInterval: Duration = .seconds(1)
        /// How long published events are kept.
        public var retention: Duration = .seconds(24 * 3600)
        /// How long idempotency keys are kept (the housekeeping that purges published events purges them too).
        public var idempotencyKeyTTL: Duration = .seconds(24 * 3600)
        /// How long shutdown may spend flushing.
        public var flushTimeout: Duration = .seconds(5)
        /// Failed attempts of one event, each while the broker confirmed others, before it is parked
        /// (`OUTBOX_MAX_ATTEMPTS`).
        public var maxAttempts: Int = 10
        /// How long a new event belongs to the instance that stored it (which publishes it from memory) before any
        /// relay's poll may claim it. Longer than a commit-to-publish takes under load, short enough that an event of
        /// a crashed instance is not late for long.
        public var handoffWindow: Duration = .seconds(10)
        /// How long a claimed event stays out of other relays' polls: longer than a publish and its confirms take.
        public var lease: Duration = .seconds(30)
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
    /// New events from `POST /orders`.
    public let handoff: OutboxHandoff
    /// Wakes the relay (new events, or a test that wants a round now).
    public var signal: WakeSignal { self.handoff.signal }
    private let stopSignal = WakeSignal()
    private let stopping = Atomic<Bool>(false)
    /// Opens at graceful shutdown: a publish still waiting for confirms is abandoned, so the stop is not held up
    /// by a broker that blocks publishers (the events stay in the outbox).
    private let stopped = Latch()
    /// Declared again when events come back unroutable, which restores bindings someone removed.
    private let topology: BrokerTopology?
    private let routing = Mutex(RoutingState())

    private struct RoutingState {
        /// Why the last attempt left events unroutable; nil once a round publishes with none unroutable.
        var problem: String?
        var lastRepair: ContinuousClock.Instant?
        /// Events parked, as last counted.
        var parked = 0
        /// When the broker last confirmed an event.
        var lastConfirmed: ContinuousClock.Instant?
    }

    /// A failure counts against an event only while the broker confirmed others this recently: then the broker
    /// works and the failure is the event's own. Past it, failures are an outage, which no event is blamed for.
    static let brokerWorkingWindow: Duration = .seconds(10)

    /// How often at most the relay declares the topology again while events come back unroutable.
    static let topologyRepairInterval: Duration = .seconds(5)

    /// Creates a relay.
    public init(
        store: any OrderStore,
        broker: any MessageBroker,
        configuration: Configuration,
        metrics: OrderServiceMetrics,
        handoff: OutboxHandoff = OutboxHandoff(),
        topology: BrokerTopology? = nil,
        logger: Logger
    ) {
        self.topology = topology
        self.store = store
        self.broker = broker
        self.configuration = configuration
        self.metrics = metrics
        self.handoff = handoff
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.stopped.open()
            self.signal.signal()
            self.stopSignal.signal()
        }
        await self.flush()
    }

    private func loop() async {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        var lastBacklogUpdate = ContinuousClock.now - .seconds(60)
        var lastPurge = ContinuousClock.now
        // The first poll runs at once: it recovers what a previous run left.
        var nextPoll = ContinuousClock.now
        while !self.stopping.load(ordering: .relaxed) && !Task.isCancelled {
            var worked = false
            do {
                let fresh = self.handoff.take(self.configuration.batchSize)
                if !fresh.isEmpty {
                    try await self.publish(fresh, claimed: false)
                    worked = true
                }
                if ContinuousClock.now >= nextPoll {
                    if try await self.pollOnce() {
                        worked = true
                    } else {
                        nextPoll = ContinuousClock.now + self.configuration.pollInterval
                    }
                }
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
                // What was in hand is in the table: the poll finds it once due.
                nextPoll = ContinuousClock.now
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
            if !worked {
                await self.signal.wait(timeout: max(nextPoll - ContinuousClock.now, .milliseconds(1)))
            }
        }
    }

    /// Throws ``OutboxRoutingError`` while published events come back unroutable (no queue bound for them): the
    /// order service's `mq` health check reports it, so `/health` says `degraded` with the reason.
    public func checkRouting() throws {
        if let problem = self.routing.withLock({ $0.problem }) { throw OutboxRoutingError(description: problem) }
    }

    /// Throws ``OutboxParkedError`` while events are parked: the order service's `outbox` health check reports it.
    public func checkParked() throws {
        let parked = self.routing.withLock { $0.parked }
        if parked > 0 { throw OutboxParkedError(parked: parked, maxAttempts: self.configuration.maxAttempts) }
    }

    /// Claims one batch of due events and publishes it; false when none was due.
    func pollOnce(cutoff: ContinuousClock.Instant? = nil) async throws -> Bool {
        let now = Timestamp.now()
        let claimed = try await self.store.claimDueEvents(
            limit: self.configuration.batchSize,
            createdBefore: now.adding(seconds: -self.configuration.handoffWindow.totalSeconds),
            now: now,
            leaseUntil: now.adding(seconds: self.configuration.lease.totalSeconds)
        )
        guard !claimed.isEmpty else { return false }
        try await self.publish(claimed, claimed: true, cutoff: cutoff)
        return true
    }

    /// Publishes one round and records what the broker said: confirmed events are marked published. An event the
    /// broker refused (a nack, a return) while it confirms others, in this round or within ``brokerWorkingWindow``,
    /// is set aside (or parked after ``Configuration/maxAttempts``). Otherwise, and whenever the broker could take
    /// nothing (``PublishOutcome/unavailable(reason:)``: disconnected, blocked, no confirm in time), no attempt is
    /// counted and it throws ``OutboxRelayError`` so the relay backs off.
    ///
    /// After a failed round the events are released (due at once), so the poll after the backoff finds them:
    /// claimed ones lose their lease, and ones from memory do not wait for the hand-off window.
    func publish(
        _ events: [OutboxEvent], claimed: Bool, cutoff: ContinuousClock.Instant? = nil
    ) async throws {
        let outcomes = await self.publishUnlessCut(
            events.map { $0.message(exchange: self.configuration.exchange) }, cutoff: cutoff)
        var confirmed: [String] = []
        confirmed.reserveCapacity(events.count)
        // Failures the broker pinned on the event (a nack, a return) and failures that say only that the broker
        // took nothing just now.
        var failed: [(event: OutboxEvent, reason: String)] = []
        var unavailable: [(event: OutboxEvent, reason: String)] = []
        var unroutable: (count: Int, reason: String)?
        for (event, outcome) in zip(events, outcomes) {
            switch outcome {
            case .confirmed: confirmed.append(event.eventID)
            case .unroutable(let reason):
                unroutable = ((unroutable?.count ?? 0) + 1, reason)
                failed.append((event, reason))
            case .failed(let reason): failed.append((event, reason))
            case .unavailable(let reason): unavailable.append((event, reason))
            }
        }
        let now = Timestamp.now()
        let clockNow = ContinuousClock.now
        let brokerWorks = self.routing.withLock { state -> Bool in
            if !confirmed.isEmpty { state.lastConfirmed = clockNow }
            return state.lastConfirmed.map { clockNow - $0 < Self.brokerWorkingWindow } ?? false
        }
        if !confirmed.isEmpty {
            try await self.store.markPublished(eventIDs: confirmed, at: now)
            self.metrics.outboxPublished.increment(by: Int64(confirmed.count))
        }
        if let unroutable {
            self.metrics.outboxUnroutable.increment(by: Int64(unroutable.count))
            await self.unroutable(count: unroutable.count, reason: unroutable.reason)
        } else if !confirmed.isEmpty {
            self.routing.withLock { $0.problem = nil }
        }
        if !brokerWorks {
            unavailable += failed
            failed = []
        }
        if !failed.isEmpty {
            try await self.setAside(failed, at: now)
        }
        guard unavailable.isEmpty else {
            // Due again at once, for the poll after the backoff: claimed ones lose their lease, and new ones from
            // memory need not wait for the hand-off window.
            try await self.store.releaseEvents(eventIDs: unavailable.map(\.event.eventID), dueAt: now)
            throw OutboxRelayError(unconfirmed: unavailable.count, reason: unavailable[0].reason)
        }
    }

    /// The broker's outcomes. At graceful shutdown during the relay's loop, or at `cutoff` (the flush's deadline),
    /// the publish is cancelled: what the broker confirmed by then counts, and the rest comes back unavailable (the
    /// RabbitMQ adapter stops waiting for confirms at once), so the stop is not held up and nothing confirmed is
    /// sent again.
    private func publishUnlessCut(
        _ messages: [OutgoingMessage], cutoff: ContinuousClock.Instant?
    ) async -> [PublishOutcome] {
        let stopped = self.stopped
        let outcomes = await withTaskGroup(of: [PublishOutcome]?.self) { group -> [PublishOutcome]? in
            group.addTask { await self.broker.publish(messages) }
            group.addTask {
                // The loop's publish is cut by the stop; the flush's (which runs after the stop) only by its deadline.
                if let cutoff {
                    try? await Task.sleep(until: cutoff)
                } else {
                    _ = await stopped.wait()
                }
                return nil
            }
            var outcomes: [PublishOutcome]?
            // Whichever ends first cancels the other; the publish's answer is kept either way. A cancelled publish
            // answers what it had not done as unavailable (the adapters' contract), so no event is blamed for it.
            while let result = await group.next() {
                if let result { outcomes = result }
                group.cancelAll()
            }
            return outcomes
        }
        return outcomes ?? messages.map { _ in .unavailable(reason: "abandoned: the service is stopping") }
    }

    /// Sets aside events the broker failed while it works: each due again after a growing delay, or parked after
    /// ``Configuration/maxAttempts``.
    private func setAside(_ failed: [(event: OutboxEvent, reason: String)], at now: Timestamp) async throws {
        var failures: [OutboxFailure] = []
        for (event, reason) in failed {
            let attempts = event.attempts + 1
            if attempts >= self.configuration.maxAttempts {
                failures.append(OutboxFailure(eventID: event.eventID, attempts: attempts, retryAt: nil, reason: reason))
                self.metrics.outboxParked.increment()
                self.logger.error(
                    "outbox event parked: the broker failed it while confirming others, OUTBOX_MAX_ATTEMPTS times",
                    metadata: [
                        "event_id": "\(event.eventID)", "order_id": "\(event.aggregateID)", "attempts": "\(attempts)",
                        "reason": "\(reason)",
                    ])
            } else {
                let delay = Self.retryDelay(afterAttempt: attempts)
                failures.append(OutboxFailure(
                    eventID: event.eventID, attempts: attempts, retryAt: now.adding(seconds: delay.totalSeconds), reason: reason))
                self.logger.warning(
                    "outbox event set aside: the broker failed it while confirming others",
                    metadata: [
                        "event_id": "\(event.eventID)", "attempts": "\(attempts)", "reason": "\(reason)",
                        "retry_in": "\(DurationParser.format(delay))",
                    ])
            }
        }
        try await self.store.setAside(failures, at: now)
    }

    /// The delay before an event's next attempt: 1 s, doubling, at most 5 minutes.
    static func retryDelay(afterAttempt attempt: Int) -> Duration {
        .seconds(min(1 << min(max(attempt - 1, 0), 16), 300))
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

    /// Publishes what is pending before the service stops (the events in hand, then due ones), retrying for at
    /// most `flushTimeout`.
    ///
    /// A cancelled task (the group stopped because another service failed, e.g. the HTTP port was taken) can do no
    /// I/O: every attempt would fail at once and the pause between attempts would not wait, so it logs once and
    /// leaves the events in the outbox for the next start.
    private func flush() async {
        let deadline = ContinuousClock.now + self.configuration.flushTimeout
        var inHand = self.handoff.take(Int.max)
        while ContinuousClock.now < deadline {
            if Task.isCancelled {
                self.logger.warning("outbox flush at shutdown skipped: the service was cancelled; events stay in the outbox")
                return
            }
            do {
                while !inHand.isEmpty {
                    let batch = Array(inHand.prefix(self.configuration.batchSize))
                    try await self.publish(batch, claimed: false, cutoff: deadline)
                    inHand.removeFirst(batch.count)
                }
                while try await self.pollOnce(cutoff: deadline) {
                    guard ContinuousClock.now < deadline else { break }
                }
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
            self.metrics.outboxParkedEvents.record(backlog.parked)
            self.routing.withLock { $0.parked = backlog.parked }
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

/// The broker confirmed none of a round's events; they stay in the outbox.
public struct OutboxRelayError: Error, CustomStringConvertible {
    /// How many events were not confirmed.
    public var unconfirmed: Int
    /// What the broker said about the first of them.
    public var reason: String = ""
    public var description: String {
        "\(self.unconfirmed) event(s) not confirmed by the broker" + (self.reason.isEmpty ? "" : ": \(self.reason)")
    }
}

/// Events are parked after `OUTBOX_MAX_ATTEMPTS` failed attempts.
public struct OutboxParkedError: Error, CustomStringConvertible {
    /// How many.
    public var parked: Int
    /// The setting they reached.
    public var maxAttempts: Int
    public var description: String {
        "\(self.parked) outbox event(s) parked after \(self.maxAttempts) failed attempts each: see docs/OPERATIONS.md, \"Parked outbox events\""
    }
}
