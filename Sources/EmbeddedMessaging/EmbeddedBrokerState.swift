import DequeModule
import Messaging

extension EmbeddedBroker {
    /// One stored message as the embedded broker keeps it in memory: a row of `broker_messages`.
    struct StoredMessage: Sendable {
        /// The row id.
        var id: Int64
        /// The queue the row is in now: its main queue, one of its retry queues, or its dead-letter queue.
        var queue: String
        /// The main queue it belongs to, where retries return and consumers receive it.
        var home: String
        var routingKey: String
        var body: [UInt8]
        var properties: MessageProperties
        /// Milliseconds since the epoch: when a retried message is due back; for a ready one, when it became ready.
        var availableAt: Int64
        /// Whether the next delivery is marked redelivered.
        var redelivered: Bool
        /// Whether the row waits on disk only (its main queue's ready list was full): read back in a page later.
        var paged = false

        /// The delivery handed out under `tag`; a body over `maximumBodySize` stays in the store (as RabbitMQ's
        /// client drops it, see ``OversizedBody``): the delivery then has an empty body and says why.
        func delivery(tag: UInt64, maximumBodySize: Int? = nil) -> Delivery {
            if let limit = maximumBodySize, self.body.count > limit {
                return Delivery(
                    tag: tag, queue: self.home, routingKey: self.routingKey, body: [], properties: self.properties,
                    redelivered: self.redelivered,
                    oversizedBody: OversizedBody(size: UInt64(self.body.count), limit: limit))
            }
            return Delivery(
                tag: tag,
                queue: self.home,
                routingKey: self.routingKey,
                body: self.body,
                properties: self.properties,
                redelivered: self.redelivered
            )
        }
    }
}

/// The in-memory state of an ``EmbeddedBroker``: topology, ready lists, delayed retries and consumers.
///
/// A state machine with no I/O and no awaits: the broker calls it under its mutex and, after unlocking, performs
/// what it returns (resuming waiting consumers, writing rows). Keeping it pure keeps every decision in one place
/// and makes it impossible to hold the lock across a suspension.
struct EmbeddedBrokerState {
    typealias StoredMessage = EmbeddedBroker.StoredMessage
    typealias Continuation = CheckedContinuation<[Delivery]?, any Error>
    /// Deliveries taken from a consumer's unsettled ones, with their tags.
    typealias Taken = [(tag: UInt64, message: StoredMessage)]

    private enum ExchangeKind: String, Sendable {
        case topic
        case direct
    }

    /// A queue a message is routed to.
    struct Route: Sendable, Equatable {
        /// The queue: a main queue, or through the dead-letter exchange a retry or dead-letter queue.
        var queue: String
        /// The main queue it belongs to.
        var home: String
        /// How long a copy waits before it is ready: the delay of a retry queue, zero elsewhere.
        var delay: Duration = .zero
    }

    private struct TopicBinding: Sendable, Equatable {
        var pattern: String
        var queue: String
    }

    private struct QueueState {
        var retryDelays: [Duration]
        /// Appended at the tail, requeued at the head (swift-collections' ring buffer), both O(1).
        var ready = Deque<StoredMessage>()
        /// Consumers whose `next` waits, in the order they asked.
        var waiting: [UInt64] = []
        /// Ready messages waiting on disk only (`paged` rows, committed or about to be), read back in pages.
        var spilled = 0
        /// Copies of publishes under way that will join `ready` once their rows are committed.
        var reservedMemory = 0
        /// Whether a page is being read.
        var loading = false
    }

    private struct Waiter {
        var limit: Int
        var continuation: Continuation
    }

    private struct ConsumerState {
        let queue: String
        let prefetch: Int
        /// Delivered and not yet settled, by delivery tag; tags grow, so sorting them gives the delivery order.
        var unsettled: [UInt64: StoredMessage] = [:]
        var waiter: Waiter?
        var cancelled = false
    }

    /// Consumers to resume once the lock is released.
    struct Wakeups: Sendable {
        var items: [(Continuation, [Delivery]?)] = []

        func resume() {
            for (continuation, deliveries) in self.items { continuation.resume(returning: deliveries) }
        }
    }

    /// What `next` does after the state has seen it.
    enum NextAction {
        case resume([Delivery]?)
        case fail(EmbeddedBrokerError)
        case wait
    }

    private(set) var isShutDown = false
    /// Whether ``EmbeddedBroker/run()`` runs the scheduler, and who waits in `shutdown()` for it to stop.
    private var scheduler = SchedulerState.idle
    private var exchanges: [String: ExchangeKind] = [:]
    private var topicBindings: [String: [TopicBinding]] = [:]
    private var directBindings: [String: [String: Route]] = [:]
    private var queues: [String: QueueState] = [:]
    /// Rows loaded at open whose main queue is not declared yet, by main queue, in ready order.
    private var parked: [String: [StoredMessage]] = [:]
    /// Rows waiting on disk at open whose main queue is not declared yet, counted by main queue.
    private var parkedSpilled: [String: Int] = [:]
    /// Rows in retry queues of declared queues, waiting for their delay.
    private var delayed: [StoredMessage] = []
    private var consumers: [UInt64: ConsumerState] = [:]
    private var nextConsumerID: UInt64 = 1
    private var nextDeliveryTag: UInt64 = 1
    /// The largest body handed to a consumer (`AMQP_MAX_BODY`); `nil`: any.
    private let maximumBodySize: Int?
    /// Ready messages kept in memory per main queue at most; beyond it new ones wait on disk and are read back in
    /// pages as consumers take the others, so a backlog costs disk, not memory.
    let readyWindow: Int

    init(loaded: [StoredMessage], spilled: [String: Int] = [:], maximumBodySize: Int? = nil, readyWindow: Int = 4096) {
        self.maximumBodySize = maximumBodySize
        self.readyWindow = max(readyWindow, 2)
        self.parkedSpilled = spilled
        for message in loaded { self.parked[message.home, default: []].append(message) }
    }

    // MARK: Topology

    /// Records `topology`; returns true when retried messages were attached and the scheduler must look again.
    mutating func declare(_ topology: BrokerTopology) throws(EmbeddedBrokerError) -> Bool {
        guard !self.isShutDown else { throw .shutDown }
        let hasDeadLetterExchange = !topology.deadLetterExchange.isEmpty
        guard topology.exchange != topology.deadLetterExchange else {
            throw EmbeddedBrokerError(
                .invalidArgument,
                "exchange '\(topology.exchange)' cannot also be the dead-letter exchange"
            )
        }
        // Check before changing anything, so a refused declaration leaves no half of itself behind.
        try self.checkExchange(topology.exchange, is: .topic)
        if hasDeadLetterExchange { try self.checkExchange(topology.deadLetterExchange, is: .direct) }
        self.exchanges[topology.exchange] = .topic
        if hasDeadLetterExchange { self.exchanges[topology.deadLetterExchange] = .direct }

        var attachedRetries = false
        for queue in topology.queues {
            if self.queues[queue.name] == nil {
                var state = QueueState(retryDelays: queue.retryDelays)
                state.spilled = self.parkedSpilled.removeValue(forKey: queue.name) ?? 0
                for message in self.parked.removeValue(forKey: queue.name) ?? [] {
                    if message.queue == message.home {
                        state.ready.append(message)
                    } else {
                        self.delayed.append(message)
                        attachedRetries = true
                    }
                }
                self.queues[queue.name] = state
            } else {
                self.queues[queue.name]?.retryDelays = queue.retryDelays
            }
            for key in queue.bindingKeys {
                let binding = TopicBinding(pattern: key, queue: queue.name)
                if !(self.topicBindings[topology.exchange]?.contains(binding) ?? false) {
                    self.topicBindings[topology.exchange, default: []].append(binding)
                }
            }
            if hasDeadLetterExchange {
                var routes = self.directBindings[topology.deadLetterExchange] ?? [:]
                routes[queue.name] = Route(queue: queue.name, home: queue.name)
                for (index, delay) in queue.retryDelays.enumerated() {
                    let name = queue.retryQueueName(level: index + 1)
                    routes[name] = Route(queue: name, home: queue.name, delay: delay)
                }
                routes[queue.deadLetterQueueName] = Route(queue: queue.deadLetterQueueName, home: queue.name)
                self.directBindings[topology.deadLetterExchange] = routes
            }
        }
        return attachedRetries
    }

    private func checkExchange(_ name: String, is kind: ExchangeKind) throws(EmbeddedBrokerError) {
        if let existing = self.exchanges[name], existing != kind {
            throw EmbeddedBrokerError(
                .exchangeTypeConflict,
                "exchange '\(name)' is declared as \(existing.rawValue), not \(kind.rawValue)"
            )
        }
    }

    /// The queues `message` goes to (none when no binding matches), or why it cannot be published.
    func routes(for message: OutgoingMessage) -> Result<[Route], EmbeddedBrokerError> {
        guard !self.isShutDown else { return .failure(.shutDown) }
        switch self.exchanges[message.exchange] {
        case nil:
            return .failure(EmbeddedBrokerError(.unknownExchange, "exchange '\(message.exchange)' is not declared"))
        case .topic:
            var routes: [Route] = []
            for binding in self.topicBindings[message.exchange] ?? []
            where TopicPattern.matches(pattern: binding.pattern, routingKey: message.routingKey) {
                // Several matching bindings of one queue still give it one copy, as in RabbitMQ.
                if !routes.contains(where: { $0.queue == binding.queue }) {
                    routes.append(Route(queue: binding.queue, home: binding.queue))
                }
            }
            return .success(routes)
        case .direct:
            return .success(self.directBindings[message.exchange]?[message.routingKey].map { [$0] } ?? [])
        }
    }

    /// The delay of retry level `level` of `queue`, clamped to its levels; nil when it has none.
    func retryDelay(queue: String, level: Int) -> (level: Int, delay: Duration)? {
        guard let delays = self.queues[queue]?.retryDelays, !delays.isEmpty else { return nil }
        let clamped = min(max(level, 1), delays.count)
        return (clamped, delays[clamped - 1])
    }

    // MARK: Messages

    /// Decides, before a publish writes its rows, which copies for main queues wait on disk: every one once the
    /// queue holds ``readyWindow`` ready messages in memory, or already has some on disk (so the queue stays first
    /// in, first out). The others reserve their place in memory.
    mutating func place(_ copies: inout [StoredMessage]) {
        for index in copies.indices where copies[index].queue == copies[index].home {
            let home = copies[index].home
            guard let queue = self.queues[home] else { continue }
            if queue.spilled > 0 || queue.ready.count + queue.reservedMemory >= self.readyWindow {
                copies[index].paged = true
                self.queues[home]?.spilled += 1
            } else {
                self.queues[home]?.reservedMemory += 1
            }
        }
    }

    /// Undoes ``place(_:)`` for copies whose rows could not be written.
    mutating func unplace(_ copies: [StoredMessage]) {
        for copy in copies where copy.queue == copy.home && self.queues[copy.home] != nil {
            if copy.paged {
                self.queues[copy.home]?.spilled -= 1
            } else {
                self.queues[copy.home]?.reservedMemory -= 1
            }
        }
    }

    /// How many rows to read back for `queue`, when fewer than half the window are ready in memory, some wait on
    /// disk and no read is under way; marks the read under way. Nil: nothing to read.
    mutating func pageToLoad(queue name: String) -> Int? {
        guard !self.isShutDown, let queue = self.queues[name], queue.spilled > 0, !queue.loading,
            queue.ready.count < self.readyWindow / 2
        else { return nil }
        self.queues[name]?.loading = true
        return max(1, self.readyWindow - queue.ready.count - queue.reservedMemory)
    }

    /// Appends a page read back from disk (oldest first) to `queue`'s ready list, ends the read, and serves waiting
    /// consumers.
    mutating func loaded(_ messages: [StoredMessage], queue name: String, wakeups: inout Wakeups) {
        guard self.queues[name] != nil else { return }
        self.queues[name]?.loading = false
        self.queues[name]?.spilled -= messages.count
        self.queues[name]?.ready.append(contentsOf: messages)
        self.dispatch(queue: name, wakeups: &wakeups)
    }

    /// A read of `queue` failed: the next ``pageToLoad(queue:)`` may start another.
    mutating func loadFailed(queue name: String) {
        self.queues[name]?.loading = false
    }

    /// Takes in messages whose rows were just committed (published, or moved into a retry queue), and hands
    /// ready ones to waiting consumers. Returns whether delayed messages were added. `placed`: the copies of a
    /// publish, placed by ``place(_:)`` (a paged one stays on disk; the others take their reserved place).
    mutating func enqueue(_ messages: [StoredMessage], placed: Bool = false, wakeups: inout Wakeups) -> Bool {
        var touched: [String] = []
        var addedDelayed = false
        for message in messages {
            if message.queue == message.home {
                guard self.queues[message.home] != nil else { continue }
                if message.paged { continue }
                if placed { self.queues[message.home]?.reservedMemory -= 1 }
                self.queues[message.home]?.ready.append(message)
                if !touched.contains(message.home) { touched.append(message.home) }
            } else if message.queue != BrokerTopology.deadLetterQueueName(of: message.home) {
                self.delayed.append(message)
                addedDelayed = true
            }
        }
        for queue in touched { self.dispatch(queue: queue, wakeups: &wakeups) }
        return addedDelayed
    }

    /// Removes and returns the delayed messages due at `now`, and when the next one is due.
    mutating func takeDueMessages(now: Int64) -> (due: [StoredMessage], nextDue: Int64?) {
        var due: [StoredMessage] = []
        var waiting: [StoredMessage] = []
        var nextDue: Int64?
        for message in self.delayed {
            if message.availableAt <= now {
                due.append(message)
            } else {
                waiting.append(message)
                nextDue = min(nextDue ?? message.availableAt, message.availableAt)
            }
        }
        self.delayed = waiting
        return (due, nextDue)
    }

    /// Puts back messages that `takeDueMessages` returned but that could not be moved.
    mutating func restoreDelayed(_ messages: [StoredMessage]) {
        self.delayed += messages
    }

    /// Appends messages whose rows moved back from a retry queue to the tail of their main queue.
    mutating func returnFromRetry(_ messages: [StoredMessage], wakeups: inout Wakeups) {
        let returned = messages.map { message -> StoredMessage in
            var message = message
            message.queue = message.home
            // Routed again by the dead-letter exchange, as in RabbitMQ: a new arrival, not a redelivery.
            message.redelivered = false
            return message
        }
        _ = self.enqueue(returned, wakeups: &wakeups)
    }

    /// The number of ready messages of main queue `queue` (in memory and waiting on disk), or nil when it is no
    /// declared main queue.
    func readyCount(queue: String) -> Int? {
        self.queues[queue].map { $0.ready.count + $0.spilled }
    }

    /// Ready messages of `queue` held in memory (for tests of the window).
    func readyInMemory(queue: String) -> Int? {
        self.queues[queue]?.ready.count
    }

    /// True when `name` is a retry or dead-letter queue of a declared queue: its count lives in the database.
    func isStoredOnlyQueue(_ name: String) -> Bool {
        self.queues.contains { main, state in
            name == BrokerTopology.deadLetterQueueName(of: main)
                || state.retryDelays.indices.contains { name == BrokerTopology.retryQueueName(of: main, level: $0 + 1) }
        }
    }

    // MARK: Consumers

    /// Registers a consumer of main queue `queue` and returns its id.
    mutating func addConsumer(queue: String, prefetch: Int) throws(EmbeddedBrokerError) -> UInt64 {
        guard !self.isShutDown else { throw .shutDown }
        guard prefetch >= 1 else {
            throw EmbeddedBrokerError(.invalidArgument, "prefetch must be at least 1, not \(prefetch)")
        }
        guard self.queues[queue] != nil else {
            throw EmbeddedBrokerError(
                .unknownQueue,
                "queue '\(queue)' is not a declared main queue (retry and dead-letter queues have no consumers)"
            )
        }
        let id = self.nextConsumerID
        self.nextConsumerID += 1
        self.consumers[id] = ConsumerState(queue: queue, prefetch: prefetch)
        return id
    }

    /// A consumer asks for deliveries: handed out at once when it has room and messages are ready, else it waits.
    mutating func next(
        consumer id: UInt64,
        limit: Int,
        continuation: Continuation,
        taskCancelled: Bool
    ) -> NextAction {
        guard !self.isShutDown, !taskCancelled, let consumer = self.consumers[id], !consumer.cancelled else {
            return .resume(nil)
        }
        guard consumer.waiter == nil else {
            return .fail(
                EmbeddedBrokerError(.concurrentNext, "next() was called while another next() of this consumer waits")
            )
        }
        let room = min(limit, consumer.prefetch - consumer.unsettled.count)
        if room > 0, let ready = self.queues[consumer.queue]?.ready.count, ready > 0 {
            return .resume(self.handOut(to: id, count: room))
        }
        self.consumers[id]?.waiter = Waiter(limit: limit, continuation: continuation)
        self.queues[consumer.queue]?.waiting.append(id)
        return .wait
    }

    /// Removes the waiting `next` of consumer `id`, e.g. because its task was cancelled.
    mutating func removeWaiter(consumer id: UInt64) -> Continuation? {
        guard let waiter = self.consumers[id]?.waiter, let queue = self.consumers[id]?.queue else { return nil }
        self.consumers[id]?.waiter = nil
        self.queues[queue]?.waiting.removeAll { $0 == id }
        return waiter.continuation
    }

    /// Marks consumer `id` cancelled: its `next` returns nil from now on.
    mutating func cancel(consumer id: UInt64) -> Continuation? {
        guard self.consumers[id] != nil else { return nil }
        self.consumers[id]?.cancelled = true
        return self.removeWaiter(consumer: id)
    }

    /// Removes consumer `id` and requeues its unsettled deliveries at the head of its queue, in delivery order.
    mutating func close(consumer id: UInt64, wakeups: inout Wakeups) {
        if let continuation = self.cancel(consumer: id) { wakeups.items.append((continuation, nil)) }
        guard let consumer = self.consumers.removeValue(forKey: id) else { return }
        let unsettled = consumer.unsettled.sorted { $0.key < $1.key }.map(\.value)
        self.putBackAtHead(unsettled, queue: consumer.queue, wakeups: &wakeups)
    }

    /// Removes `tags` from the unsettled deliveries of consumer `id`, all or none, and returns their messages in
    /// the order of `tags`. Frees prefetch room, so waiting consumers may be served.
    mutating func takeUnsettled(
        consumer id: UInt64,
        tags: [UInt64],
        wakeups: inout Wakeups
    ) throws(EmbeddedBrokerError) -> Taken {
        guard !self.isShutDown else { throw .shutDown }
        guard let consumer = self.consumers[id] else {
            throw EmbeddedBrokerError(
                .unknownDeliveryTag,
                "the consumer is closed: it holds none of the delivery tags \(tags)"
            )
        }
        var seen: Set<UInt64> = []
        for tag in tags where consumer.unsettled[tag] == nil || !seen.insert(tag).inserted {
            throw EmbeddedBrokerError(
                .unknownDeliveryTag,
                "delivery tag \(tag) is not held unsettled by this consumer of '\(consumer.queue)' "
                    + "(settled already, settled twice in one call, or delivered to another consumer)"
            )
        }
        var taken: Taken = []
        for tag in tags {
            if let message = self.consumers[id]?.unsettled.removeValue(forKey: tag) { taken.append((tag, message)) }
        }
        self.dispatch(queue: consumer.queue, wakeups: &wakeups)
        return taken
    }

    /// Gives back deliveries that `takeUnsettled` returned but whose settlement failed: unsettled again when their
    /// consumer still exists, otherwise ready at the head of the queue.
    mutating func restoreUnsettled(
        consumer id: UInt64,
        _ taken: Taken,
        wakeups: inout Wakeups
    ) {
        guard !taken.isEmpty else { return }
        if self.consumers[id] != nil {
            for (tag, message) in taken { self.consumers[id]?.unsettled[tag] = message }
        } else {
            self.putBackAtHead(taken.map(\.message), queue: taken[0].message.home, wakeups: &wakeups)
        }
    }

    /// Puts messages back at the head of `queue`, first of them first, marked redelivered.
    mutating func putBackAtHead(_ messages: [StoredMessage], queue: String, wakeups: inout Wakeups) {
        guard !messages.isEmpty else { return }
        let redelivered = messages.map { message -> StoredMessage in
            var message = message
            message.redelivered = true
            return message
        }
        self.queues[queue]?.ready.prepend(contentsOf: redelivered)
        self.dispatch(queue: queue, wakeups: &wakeups)
    }

    /// Marks the broker shut down and returns every waiting consumer, to be resumed with nil.
    mutating func shutDown() -> [Continuation] {
        self.isShutDown = true
        var waiters: [Continuation] = []
        for id in self.consumers.keys {
            if let continuation = self.removeWaiter(consumer: id) { waiters.append(continuation) }
        }
        return waiters
    }

    // MARK: Scheduler

    enum SchedulerState {
        case idle
        /// `run()` runs it; the continuations wait for it to stop.
        case running(stopWaiters: [CheckedContinuation<Void, Never>])
        /// It ran and stopped; it never runs again.
        case finished
    }

    /// `run()` starts: returns false (it must return at once) when the broker is shut down or it ran already.
    mutating func startScheduler() -> Bool {
        guard !self.isShutDown, case .idle = self.scheduler else { return false }
        self.scheduler = .running(stopWaiters: [])
        return true
    }

    /// `run()` has stopped the scheduler: returns who waits for that, to be resumed.
    mutating func schedulerStopped() -> [CheckedContinuation<Void, Never>] {
        defer { self.scheduler = .finished }
        if case .running(let waiters) = self.scheduler { return waiters }
        return []
    }

    /// Keeps `continuation` until the scheduler has stopped; returns false (resume it now) when it is not running.
    mutating func waitForScheduler(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard case .running(var waiters) = self.scheduler else { return false }
        waiters.append(continuation)
        self.scheduler = .running(stopWaiters: waiters)
        return true
    }

    /// Serves waiting consumers of `queue` in the order they asked, while messages are ready; a consumer whose
    /// prefetch window is full keeps its place in line.
    private mutating func dispatch(queue name: String, wakeups: inout Wakeups) {
        var index = 0
        // Reads go through the dictionary each time: a local copy of the queue would make every mutation below
        // copy its ready list.
        while !(self.queues[name]?.ready.isEmpty ?? true),
            let id = self.queues[name]?.waiting.dropFirst(index).first
        {
            guard let consumer = self.consumers[id], let waiter = consumer.waiter else {
                self.queues[name]?.waiting.remove(at: index)
                continue
            }
            let room = min(waiter.limit, consumer.prefetch - consumer.unsettled.count)
            guard room > 0 else {
                index += 1
                continue
            }
            self.queues[name]?.waiting.remove(at: index)
            self.consumers[id]?.waiter = nil
            wakeups.items.append((waiter.continuation, self.handOut(to: id, count: room)))
        }
    }

    /// Moves up to `count` ready messages into the unsettled deliveries of consumer `id`.
    private mutating func handOut(to id: UInt64, count: Int) -> [Delivery] {
        guard let queue = self.consumers[id]?.queue else { return [] }
        var deliveries: [Delivery] = []
        while deliveries.count < count, let message = self.queues[queue]?.ready.popFirst() {
            let tag = self.nextDeliveryTag
            self.nextDeliveryTag += 1
            self.consumers[id]?.unsettled[tag] = message
            deliveries.append(message.delivery(tag: tag, maximumBodySize: self.maximumBodySize))
        }
        // A drained queue gives back the memory of a burst (a deque keeps its capacity otherwise).
        if self.queues[queue]?.ready.isEmpty == true { self.queues[queue]?.ready = Deque() }
        return deliveries
    }
}
