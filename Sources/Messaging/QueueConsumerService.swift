import Logging
import Metrics
import ServiceCore
import ServiceLifecycle
import Synchronization
import Timing

/// Processes one batch of deliveries. It must settle every delivery (ack, retry, dead-letter or requeue).
public protocol DeliveryBatchHandler: Sendable {
    /// Handles `deliveries` received from `consumer`.
    func handle(_ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl) async
}

/// What a handler may ask of the consumer loop.
public struct ConsumerControl: Sendable {
    fileprivate let service: QueueConsumerService

    /// True once graceful shutdown has begun: finish the batch in hand, or requeue it.
    public var isStopping: Bool { self.service.stopping.load(ordering: .relaxed) }

    /// Waits `delay` before retrying after an outage of a dependency (the message is not at fault, so no retry
    /// attempt is used). Returns false, early, when shutdown begins: the handler should then requeue.
    public func pause(for delay: Duration) async -> Bool {
        if self.isStopping { return false }
        await self.service.stopRequested.wait(timeout: delay)
        return !self.isStopping
    }

    /// Runs `operation` until it succeeds, pausing with backoff between failures and logging the first failure and
    /// the recovery once. Returns nil when shutdown began before it succeeded. While it waits, the service counts as
    /// paused by `dependency` (``QueueConsumerService/checkNotPaused(by:)``, the `consumer_paused` gauge).
    public func retryingDependency<T: Sendable>(
        _ dependency: String,
        errors: Counter? = nil,
        _ operation: () async throws -> T
    ) async -> T? {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        var failed = false
        defer { if failed { self.service.resumed(dependency) } }
        while true {
            do {
                let value = try await operation()
                if failed {
                    self.service.logger.info("\(dependency) is back; consumption resumed", metadata: ["queue": "\(self.service.queue)"])
                }
                return value
            } catch {
                errors?.increment()
                if !failed {
                    failed = true
                    self.service.paused(dependency, error: "\(error)")
                    self.service.logger.warning(
                        "\(dependency) unavailable; consumption paused until it is back",
                        metadata: ["queue": "\(self.service.queue)", "error": "\(error)"]
                    )
                }
                guard await self.pause(for: backoff.nextDelay()) else { return nil }
            }
        }
    }
}

/// Consumption is paused because a dependency fails (the reason, for `/health`).
public struct ConsumerPausedError: Error, CustomStringConvertible {
    /// What failed and how, e.g. `consumption of analytics.orders paused: analytics store failing: ...`.
    public var description: String
}

/// Consumes one queue in batches and hands each batch to a ``DeliveryBatchHandler``.
///
/// If the broker cannot be subscribed to, or the subscription breaks, it retries with backoff. On graceful shutdown
/// it stops taking deliveries, lets the batch in hand finish, then requeues whatever is still unsettled.
///
/// A delivery whose body the broker did not hand over (``Delivery/oversizedBody``, over `AMQP_MAX_BODY`) never
/// reaches the handler, which could not decode it: it is dead-lettered here with the reason, one warning each, and
/// counted in `oversizedBodies`.
public final class QueueConsumerService: Service, Sendable {
    let queue: String
    private let broker: any MessageBroker
    private let prefetch: Int
    private let batchLimit: Int
    private let handler: any DeliveryBatchHandler
    let logger: Logger
    private let brokerErrors: Counter?
    /// Dead letters of deliveries over the body limit.
    private let oversizedBodies: Counter?
    private let topology: BrokerTopology?
    fileprivate let stopping = Atomic<Bool>(false)
    /// Opened by ``stop()``; every wait of the service and its handlers (pauses, backoff, the consumer's watcher)
    /// ends on it.
    fileprivate let stopRequested = Latch()
    /// Per dependency: how many operations wait for it, and the first error that paused them.
    private let pauses = Mutex<[String: (waiting: Int, error: String)]>([:])
    private let pausedGauge: Gauge?

    /// Creates the service. At most `prefetch` deliveries are unsettled at once; batches hold at most `batchLimit`
    /// (default: `prefetch`). A batch limit below the prefetch lets the next batch arrive while one is handled.
    /// When the subscription breaks (e.g. the broker cancelled it because someone deleted the queue), `topology` is
    /// declared again before subscribing anew, so a deleted queue comes back with its bindings and consumption resumes.
    public init(
        broker: any MessageBroker,
        queue: String,
        prefetch: Int,
        batchLimit: Int? = nil,
        handler: any DeliveryBatchHandler,
        brokerErrors: Counter? = nil,
        paused: Gauge? = nil,
        topology: BrokerTopology? = nil,
        oversizedBodies: Counter? = nil,
        logger: Logger
    ) {
        self.oversizedBodies = oversizedBodies
        self.topology = topology
        self.pausedGauge = paused
        paused?.record(0)
        self.broker = broker
        self.queue = queue
        self.prefetch = max(prefetch, 1)
        self.batchLimit = min(max(batchLimit ?? prefetch, 1), max(prefetch, 1))
        self.handler = handler
        self.brokerErrors = brokerErrors
        self.logger = logger
    }

    /// True while a handler waits for a dependency to come back.
    public var isPaused: Bool { self.pauses.withLock { !$0.isEmpty } }

    /// Throws ``ConsumerPausedError`` while consumption is paused because `dependency` fails: for that dependency's
    /// health check, whose own probe may still succeed (a read-only server during a failover answers pings, and a
    /// database that refuses writes for lack of space still reads).
    public func checkNotPaused(by dependency: String) throws {
        if let pause = self.pauses.withLock({ $0[dependency] }) {
            throw ConsumerPausedError(
                description: "consumption of \(self.queue) paused: \(dependency) failing: \(pause.error)")
        }
    }

    fileprivate func paused(_ dependency: String, error: String) {
        self.pauses.withLock { pauses in
            pauses[dependency] = ((pauses[dependency]?.waiting ?? 0) + 1, pauses[dependency]?.error ?? error)
        }
        self.pausedGauge?.record(1)
    }

    fileprivate func resumed(_ dependency: String) {
        let stillPaused = self.pauses.withLock { pauses -> Bool in
            if let pause = pauses[dependency] {
                pauses[dependency] = pause.waiting > 1 ? (pause.waiting - 1, pause.error) : nil
            }
            return !pauses.isEmpty
        }
        if !stillPaused { self.pausedGauge?.record(0) }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.consumeUntilStopped()
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Begins a graceful stop: no new deliveries, the batch in hand finishes. The consumer is cancelled by
    /// ``run()`` itself, which returns once it has closed it.
    public func stop() {
        self.stopping.store(true, ordering: .relaxed)
        self.stopRequested.open()
    }

    private func consumeUntilStopped() async {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        let control = ConsumerControl(service: self)
        var lost = false
        while !self.stopping.load(ordering: .relaxed) && !Task.isCancelled {
            if lost { await self.redeclareTopology() }
            lost = true
            let consumer: any MessageConsumer
            do {
                consumer = try await self.broker.consume(queue: self.queue, prefetch: self.prefetch)
            } catch {
                self.brokerErrors?.increment()
                let delay = backoff.nextDelay()
                self.logger.warning(
                    "cannot consume; retrying",
                    metadata: ["queue": "\(self.queue)", "error": "\(error)", "retry_in": "\(DurationParser.format(delay))"]
                )
                await self.stopRequested.wait(timeout: delay)
                continue
            }
            self.logger.info("consuming", metadata: ["queue": "\(self.queue)", "prefetch": "\(self.prefetch)"])
            await withTaskGroup(of: Void.self) { group in
                // The stop ends `next` by cancelling the consumer here, in a child of this loop: awaited before the
                // consumer is closed, so nothing of it outlives `run()`. (The handler's batch is not interrupted.)
                group.addTask {
                    if await self.stopRequested.wait() { await consumer.cancel() }
                }
                do {
                    while let deliveries = try await consumer.next(limit: self.batchLimit) {
                        backoff.reset()
                        let decodable = await self.deadLetterOversized(deliveries, from: consumer, control: control)
                        if !decodable.isEmpty { await self.handler.handle(decodable, from: consumer, control: control) }
                    }
                } catch {
                    self.brokerErrors?.increment()
                    self.logger.warning(
                        "consumer failed; subscribing again",
                        metadata: ["queue": "\(self.queue)", "error": "\(error)"])
                    await self.stopRequested.wait(timeout: backoff.nextDelay())
                }
                // The consumer ended without a stop (broken subscription, task cancelled): end the watcher.
                group.cancelAll()
            }
            await consumer.close()
        }
        self.logger.info("stopped consuming", metadata: ["queue": "\(self.queue)"])
    }

    /// Dead-letters the deliveries whose body was not handed over and returns the others, in order. While a
    /// dead-letter forward fails (the broker away) it pauses like any forward; at shutdown the delivery is requeued.
    private func deadLetterOversized(
        _ deliveries: [Delivery], from consumer: any MessageConsumer, control: ConsumerControl
    ) async -> [Delivery] {
        guard deliveries.contains(where: { $0.oversizedBody != nil }) else { return deliveries }
        var decodable: [Delivery] = []
        for delivery in deliveries {
            guard let oversized = delivery.oversizedBody else {
                decodable.append(delivery)
                continue
            }
            _ = await control.deadLetter(
                delivery, reason: oversized.reason, consumer: consumer, deadLettered: self.oversizedBodies,
                brokerErrors: self.brokerErrors, logger: self.logger,
                details: ["size": "\(oversized.size)", "limit": "\(oversized.limit)"])
        }
        return decodable
    }

    /// Declares the topology again after the subscription broke: a queue deleted under a running consumer is
    /// recreated (empty: what it held went with it) and bound, so events reach it again. A declaration that fails
    /// (typically: RabbitMQ is away) is logged at debug level only: subscribing then fails too, and that is logged.
    private func redeclareTopology() async {
        guard let topology = self.topology else { return }
        do {
            try await self.broker.declare(topology)
        } catch is TopologyConflict {
            // Logged when first declared; the existing queues are still consumed.
        } catch {
            self.logger.debug(
                "declaring the topology again failed", metadata: ["queue": "\(self.queue)", "error": "\(error)"])
        }
    }
}
