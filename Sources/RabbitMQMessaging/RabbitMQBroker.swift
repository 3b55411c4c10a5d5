// The RabbitMQ adapter: `MessageBroker` on our recovering `AMQPClient`.
//
// Mapping
// - Topology (docs/CONTRACTS.md, "Messaging"): a durable topic exchange `topology.exchange`, a durable direct exchange
//   `topology.deadLetterExchange` (dlx). Per queue `q`: durable `q` with `x-dead-letter-exchange = dlx` and
//   `x-dead-letter-routing-key = q.dlq`, bound to the topic exchange with each binding key and to the dlx with key
//   `q` (retries come back that way); per retry level n: durable `q.retry.n` with `x-message-ttl` = the delay in ms
//   that dead-letters to the dlx with key `q`, bound to the dlx with key `q.retry.n`; durable `q.dlq` bound to the dlx
//   with key `q.dlq`. Everything is declared through the client's recorded topology, so it is re-declared after a
//   reconnect. A queue that already exists with other arguments (the original system's queues) makes RabbitMQ answer
//   406 PRECONDITION_FAILED: it is checked on a throwaway channel before it is recorded (so a conflicting declaration
//   never reaches the recorded topology, which would make every reconnection fail), logged with what to do, and
//   reported as ``TopologyConflict``.
// - Publishing: one `publishBatch` on the client's confirm-mode channel, every message in flight at once and
//   `mandatory`, so a message no binding matches comes back (`basic.return`) and fails as unroutable instead of
//   being confirmed and dropped: confirmed means routed. Properties
//   map 1:1 (`content_type`, `message_id`, `type`, `timestamp`, delivery mode 2 when persistent, headers as long
//   strings). Publishing to an exchange that does not exist would make RabbitMQ close the client's shared publishing
//   channel (404), so an exchange this broker has not declared or seen is first checked with a passive declare on a
//   throwaway channel; messages for a missing exchange are unroutable without being sent.
// - Consuming: `AMQPClient.consume` (one channel per consumer, `basic.qos` = prefetch, resumed after reconnects). The
//   client's own task for the consumer (a child of its `run()`) appends deliveries to the consumer's buffer, so the
//   consumer has no task of its own; `next` hands them out with the consumer's own tags
//   (a counter, unique across reconnects), remembering the AMQP delivery (with its channel) behind each tag. A
//   delivery is settled on the channel it came on: after a reconnect that channel is dead, and RabbitMQ has already
//   requeued the message, so such a settle is logged at debug level and otherwise ignored (never sent on the new
//   channel, where its tag would be unknown and close the channel).
// - Retry and dead-letter publish a copy (persistent, confirmed) to the dlx with key `q.retry.<level>` (with
//   `x-retry-count` one higher) or `q.dlq` (with `x-death-reason`), then ack the original: at least once, a crash in
//   between delivers the original again.
// - Bodies over `maximumBodySize` (`AMQP_MAX_BODY`): the client drops them frame by frame as they arrive
//   (`AMQPClient.consume(maxBodySize:)`), so a delivery comes with an empty body and `Delivery.oversizedBody`. With
//   no body there is no copy to publish: dead-lettering it rejects it without requeue, and the queue's own
//   `x-dead-letter-exchange` moves the original, body and all, to `q.dlq` (with RabbitMQ's `x-death` record, not our
//   `x-death-reason`; the reason is logged). A main queue adopted in the conflict mode (the original's, declared
//   without those arguments) has no dead-letter exchange, so RabbitMQ drops the rejected message: that is logged as
//   an error naming the queue and the size, and still done, since keeping it would mean buffering the body or
//   redelivering it forever.
//
// Differences from the embedded broker (RabbitMQ's own behaviour)
// - A message back from a retry queue has routing key `q` (RabbitMQ's dead-lettering replaces it), not the key it
//   was published with; its headers gain RabbitMQ's `x-first-death-*` strings (the `x-death` table is not mapped).
// - Consuming a `.dlq` queue works (the embedded broker refuses it); `messageCount` counts ready messages only.
// - Settling a delivery whose channel died (reconnect) is silently ignored instead of throwing; settling a tag that
//   was never handed out or is already settled throws, as in the embedded broker.
import AMQPClient
import Logging
import Messaging
import NIOCore
import Synchronization
import Timing

/// A ``MessageBroker`` on RabbitMQ, through an ``AMQPClient`` that the caller owns and runs.
///
/// ```swift
/// let client = AMQPClient(configuration: try .init(url: url), logger: logger)
/// // run `client` in the ServiceGroup (or `Task { try await client.run() }`), then:
/// let broker = RabbitMQBroker(client: client, logger: logger)
/// try await broker.declare(topology)
/// ```
///
/// Declaring needs a connection (it throws while the client is reconnecting; call it again, e.g. at startup after
/// ``AMQPClient/waitUntilConnected(timeout:)``). Publishing never throws: while disconnected every message is
/// `.failed`. Consumers survive reconnects; see ``RabbitMQConsumer``.
///
/// Thread-safety: `Sendable`; every method may be called from any task.
public final class RabbitMQBroker: MessageBroker {
    let client: AMQPClient
    let logger: Logger
    /// What declared topologies say: retry levels and dead-letter exchange per queue, exchanges known to exist.
    let registry = Mutex(Registry())

    struct Registry {
        var queues: [String: QueueInfo] = [:]
        var knownExchanges: Set<String> = [""]
    }

    struct QueueInfo: Sendable {
        var retryLevels: Int
        var deadLetterExchange: String
        /// Whether the queue was declared with our dead-letter arguments, so a rejected message reaches `q.dlq`;
        /// false for a main queue adopted in the conflict mode.
        var deadLettersRejected = true
    }

    /// The largest body a consumer takes, in bytes; `nil`: any size.
    let maximumBodySize: Int?
    /// How long a publish waits for its confirm (`PUBLISH_CONFIRM_TIMEOUT`); then it fails, to be retried.
    let confirmTimeout: Duration

    /// Creates the broker on `client`; the caller runs the client (`run()`) for as long as the broker is used.
    /// - Parameters:
    ///   - client: a recovering AMQP client, e.g. from `AMQPConnectionConfiguration(url: RABBITMQ_URL)`.
    ///   - maximumBodySize: the largest body a consumer takes, in bytes (`AMQP_MAX_BODY`); a larger one is dropped
    ///     as it arrives and the delivery comes with ``Delivery/oversizedBody`` (see the mapping at the top of this
    ///     file). `nil`: any size the broker accepts.
    ///   - confirmTimeout: how long ``publish(_:)`` waits for the broker's confirms; a publish not confirmed by
    ///     then fails (`PUBLISH_CONFIRM_TIMEOUT`).
    ///   - logger: for topology conflicts and stale settles.
    public init(
        client: AMQPClient, maximumBodySize: Int? = nil, confirmTimeout: Duration = .seconds(10), logger: Logger
    ) {
        self.client = client
        self.maximumBodySize = maximumBodySize.map { max($0, 0) }
        self.confirmTimeout = confirmTimeout
        self.logger = logger
    }

    // MARK: MessageBroker

    /// Declares the exchanges, queues, retry queues, dead-letter queues and bindings of `topology` (see the mapping
    /// at the top of this file), recorded in the client so they are re-declared after a reconnect. Idempotent.
    ///
    /// Queues that exist with other arguments are skipped (the rest is still declared) and reported together as a
    /// ``TopologyConflict`` after a clear log message; other failures (e.g. not connected) throw as they come.
    public func declare(_ topology: BrokerTopology) async throws {
        try await self.declareExchange(topology.exchange, type: .topic)
        try await self.declareExchange(topology.deadLetterExchange, type: .direct)
        let dlx = topology.deadLetterExchange
        var conflicts: [String] = []
        for queue in topology.queues {
            self.registry.withLock {
                $0.queues[queue.name] = QueueInfo(retryLevels: queue.retryDelays.count, deadLetterExchange: dlx)
            }
            let mainArguments: AMQPFieldTable = [
                "x-dead-letter-exchange": .string(dlx),
                "x-dead-letter-routing-key": .string(queue.deadLetterQueueName),
            ]
            if try await self.declareQueue(queue.name, arguments: mainArguments, isMain: true) {
                for key in queue.bindingKeys {
                    try await self.client.bindQueue(queue: queue.name, exchange: topology.exchange, routingKey: key)
                }
                try await self.client.bindQueue(queue: queue.name, exchange: dlx, routingKey: queue.name)
            } else {
                conflicts.append(queue.name)
                self.registry.withLock { $0.queues[queue.name]?.deadLettersRejected = false }
                // The existing queue (the original's) still gets the bindings: events keep reaching it, and a retry
                // comes back to it through the dead-letter exchange instead of being dropped at an unbound key.
                // Bound on a throwaway channel, not recorded: a recorded binding to a queue that `migrate-queues`
                // deletes and recreates would make every reconnection fail meanwhile; the binding itself is durable.
                try await self.client.withChannel { channel in
                    for key in queue.bindingKeys {
                        try await channel.queueBind(queue: queue.name, exchange: topology.exchange, routingKey: key)
                    }
                    try await channel.queueBind(queue: queue.name, exchange: dlx, routingKey: queue.name)
                }
            }
            var retryConflicts: [String] = []
            for (index, delay) in queue.retryDelays.enumerated() {
                let name = queue.retryQueueName(level: index + 1)
                let arguments: AMQPFieldTable = [
                    "x-message-ttl": .int64(Self.milliseconds(delay)),
                    "x-dead-letter-exchange": .string(dlx),
                    "x-dead-letter-routing-key": .string(queue.name),
                ]
                if try await self.declareQueue(name, arguments: arguments, isMain: false) {
                    try await self.client.bindQueue(queue: name, exchange: dlx, routingKey: name)
                } else {
                    retryConflicts.append(name)
                }
            }
            if !retryConflicts.isEmpty {
                // A retry queue declared by someone else may hold a message for another delay or dead-letter it
                // elsewhere; sending retries there could lose them. Failed messages go to the dead-letter queue.
                self.registry.withLock { $0.queues[queue.name]?.retryLevels = 0 }
                self.logger.error(
                    "retries are off for queue \(queue.name): its retry queues exist with other arguments; failed messages are dead-lettered at once until `ordersystem migrate-queues` has run",
                    metadata: ["queue": "\(queue.name)", "conflicting": "\(retryConflicts.joined(separator: ","))"])
                conflicts += retryConflicts
            }
            if try await self.declareQueue(queue.deadLetterQueueName, arguments: [:], isMain: false) {
                try await self.client.bindQueue(
                    queue: queue.deadLetterQueueName, exchange: dlx, routingKey: queue.deadLetterQueueName)
            } else {
                conflicts.append(queue.deadLetterQueueName)
            }
        }
        if !conflicts.isEmpty { throw TopologyConflict(queues: conflicts) }
    }

    /// Publishes the batch with every message in flight at once on the client's confirm-mode channel, each
    /// `mandatory`; one outcome per message, in order: `.confirmed` when the broker routed it to a queue and acked it,
    /// `.unroutable` when it returned it (no binding matched) or the exchange does not exist, `.failed` when it
    /// nacked it, the connection dropped first, or the client is disconnected. Never throws.
    public func publish(_ messages: [OutgoingMessage]) async -> [PublishOutcome] {
        guard !messages.isEmpty else { return [] }
        var missing: [String: PublishOutcome] = [:]  // exchange → why its messages cannot go
        let unknown = self.registry.withLock { registry in
            Set(messages.map(\.exchange)).subtracting(registry.knownExchanges)
        }
        for exchange in unknown {
            do {
                try await self.client.withChannel { channel in
                    try await channel.exchangeDeclare(name: exchange, type: .topic, passive: true)
                }
                _ = self.registry.withLock { $0.knownExchanges.insert(exchange) }
            } catch let error as AMQPError where error.replyCode == 404 {
                missing[exchange] = .unroutable(reason: "exchange \(exchange) does not exist")
            } catch {
                missing[exchange] = .unavailable(reason: "cannot check exchange \(exchange): \(error)")
            }
        }
        var outcomes = [PublishOutcome?](repeating: nil, count: messages.count)
        var toSend: [(index: Int, message: AMQPOutboundMessage)] = []
        for (index, message) in messages.enumerated() {
            if let outcome = missing[message.exchange] {
                outcomes[index] = outcome
            } else {
                toSend.append((
                    index,
                    AMQPOutboundMessage(
                        body: ByteBuffer(bytes: message.body), exchange: message.exchange,
                        routingKey: message.routingKey, mandatory: true,
                        properties: Self.amqpProperties(message.properties))
                ))
            }
        }
        if !toSend.isEmpty {
            let results = await self.client.publishBatch(toSend.map(\.message), confirmTimeout: self.confirmTimeout)
            for ((index, sent), result) in zip(toSend, results) {
                switch result {
                case .success: outcomes[index] = .confirmed
                case .failure(let error) where error.code == .unroutable:
                    outcomes[index] = .unroutable(reason: "\(error)")
                case .failure(let error) where error.code == .brokerClosedChannel && error.replyCode == 404:
                    // The exchange was deleted after it was checked: RabbitMQ closed the publishing channel (the
                    // client opens a new one). Forgotten, so the next publish checks it passively first.
                    _ = self.registry.withLock { $0.knownExchanges.remove(sent.exchange) }
                    outcomes[index] = .unroutable(reason: "\(error)")
                case .failure(let error) where Self.isUnavailability(error):
                    outcomes[index] = .unavailable(reason: "\(error)")
                case .failure(let error): outcomes[index] = .failed(reason: "\(error)")
                }
            }
        }
        return outcomes.map { $0 ?? .failed(reason: "not published") }
    }

    /// Failures that say the broker could take nothing just now, not that it refused this message: the connection
    /// is down or was closed, publishing is blocked by an alarm, or no confirm came in time.
    static func isUnavailability(_ error: AMQPError) -> Bool {
        [.connectionClosed, .brokerClosedConnection, .channelClosed, .timeout, .blocked].contains(error.code)
    }

    /// Starts a consumer of `queue` on its own channel with `prefetch` (clamped to 1...65,535) unacknowledged
    /// deliveries at most. Throws when `queue` does not exist or the client is disconnected.
    public func consume(queue: String, prefetch: Int) async throws -> any MessageConsumer {
        _ = try await self.client.withChannel { channel in
            try await channel.queueDeclare(name: queue, passive: true)
        }
        return RabbitMQConsumer(broker: self, queue: queue, prefetch: UInt16(clamping: max(prefetch, 1)))
    }

    /// The number of messages ready in `queue` (passive declare; unacknowledged ones are not counted).
    /// Throws when the queue does not exist or the client is disconnected.
    public func messageCount(queue: String) async throws -> Int {
        let result = try await self.client.withChannel { channel in
            try await channel.queueDeclare(name: queue, passive: true)
        }
        return Int(result.messageCount)
    }

    /// Throws ``RabbitMQBrokerError`` when the client is not connected (it is reconnecting or stopped).
    public func checkHealth() async throws {
        guard self.client.isConnected else {
            throw RabbitMQBrokerError("not connected to RabbitMQ (the client is reconnecting)")
        }
    }

    // MARK: helpers

    private func declareExchange(_ name: String, type: AMQPExchangeType) async throws {
        try await self.client.withChannel { channel in
            try await channel.exchangeDeclare(name: name, type: type, durable: true)
        }
        try await self.client.declareExchange(name: name, type: type, durable: true)
        _ = self.registry.withLock { $0.knownExchanges.insert(name) }
    }

    /// Declares a durable queue: checked first on a throwaway channel, recorded only when that worked. Returns false
    /// (after logging what to do) when the queue exists with other arguments.
    private func declareQueue(_ name: String, arguments: AMQPFieldTable, isMain: Bool) async throws -> Bool {
        do {
            try await self.client.withChannel { channel in
                _ = try await channel.queueDeclare(name: name, durable: true, arguments: arguments)
            }
        } catch let error as AMQPError where error.code == .brokerClosedChannel && error.replyCode == 406 {
            if isMain {
                self.logger.error(
                    """
                    queue \(name) exists without dead-lettering arguments; \
                    run `ordersystem migrate-queues` to move it to the new topology
                    """,
                    metadata: ["queue": "\(name)", "error": "\(error)"])
            } else {
                self.logger.error(
                    """
                    queue \(name) exists with other arguments (e.g. another retry delay); \
                    run `ordersystem migrate-queues` to move it to the new topology
                    """,
                    metadata: ["queue": "\(name)", "error": "\(error)"])
            }
            return false
        }
        try await self.client.declareQueue(name: name, durable: true, arguments: arguments)
        return true
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        max(0, duration.totalMilliseconds)
    }

    static func amqpProperties(_ properties: MessageProperties) -> AMQPBasicProperties {
        var headers: AMQPFieldTable?
        if !properties.headers.isEmpty {
            headers = AMQPFieldTable(properties.headers.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
        }
        return AMQPBasicProperties(
            contentType: properties.contentType,
            headers: headers,
            deliveryMode: properties.persistent ? .persistent : .transient,
            messageID: properties.messageID,
            timestamp: properties.timestamp.map { UInt64(clamping: $0) },
            type: properties.type)
    }

    static func messageProperties(_ properties: AMQPBasicProperties) -> MessageProperties {
        var headers: [String: String] = [:]
        for entry in properties.headers ?? [:] {
            if let string = entry.value.stringValue {
                headers[entry.key] = string
            } else if let number = entry.value.int64Value {
                headers[entry.key] = String(number)
            } else if case .bool(let flag) = entry.value {
                headers[entry.key] = String(flag)
            }
            // Tables and arrays (e.g. RabbitMQ's `x-death`) have no string form here.
        }
        return MessageProperties(
            contentType: properties.contentType,
            messageID: properties.messageID,
            type: properties.type,
            timestamp: properties.timestamp.map { Int64(clamping: $0) },
            persistent: properties.deliveryMode == .persistent,
            headers: headers)
    }
}

/// A failure of the RabbitMQ adapter itself (not connected, unknown delivery, no retry level).
public struct RabbitMQBrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { "RabbitMQBrokerError: \(self.message)" }
}
