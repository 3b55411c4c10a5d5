// Moves queues that exist on RabbitMQ with other arguments (the original system's queues, declared without
// dead-lettering arguments, or retry queues with other delays) to the topology `RabbitMQBroker.declare` asks for,
// without losing a message. `ordersystem migrate-queues` runs it.
//
// Per conflicting main queue `q` (checked with a declare carrying our arguments on a throwaway channel: a 406 closes
// that channel only):
// 1. declare the durable holding queue `q.migrating` (no arguments), bound like `q` (topic exchange with each binding
//    key, and the dead-letter exchange with key `q`, so retries expiring meanwhile are kept); then unbind `q` from the
//    topic exchange. Events published meanwhile land in the holding queue (during the instant both are bound, in both:
//    consumers deduplicate by order id).
// 2. move every message of `q` into `q.migrating`: `basic.get`, publish a persistent copy with every property and
//    header on a confirm-mode channel, ack the originals only after the broker confirmed the copies (a crash in
//    between leaves a duplicate, never a loss).
// 3. delete `q` (only if empty), and move the messages of conflicting retry queues `q.retry.n` into `q.migrating`
//    (they would be retried anyway), then delete them.
// 4. declare the whole topology (`RabbitMQBroker.declare`), unbind `q.migrating`, move its messages into `q`
//    (default exchange, key `q`), delete `q.migrating`.
// A holding queue left by an interrupted run is picked up again. Without conflicts and holding queues: nothing to do.
import AMQPClient
import Logging
import Messaging
import NIOCore

/// Migrates queues that RabbitMQ refuses to redeclare (406) to the topology, moving their messages. See the top of
/// this file.
public enum RabbitMQQueueMigration {
    /// What happened to one main queue.
    public struct QueueReport: Sendable, Equatable, CustomStringConvertible {
        /// The main queue.
        public var queue: String
        /// Whether the main queue itself was redeclared (it conflicted, or a holding queue was left).
        public var migrated: Bool
        /// Messages moved out of the old main queue into the holding queue.
        public var movedOut: Int
        /// Retry queues that conflicted and were redeclared.
        public var retryQueuesFixed: [String]
        /// Messages moved out of those retry queues.
        public var movedFromRetryQueues: Int
        /// Messages moved from the holding queue back into the new main queue (includes events published meanwhile
        /// and the retry queues' messages).
        public var movedBack: Int

        public init(queue: String) {
            self.queue = queue
            self.migrated = false
            self.movedOut = 0
            self.retryQueuesFixed = []
            self.movedFromRetryQueues = 0
            self.movedBack = 0
        }

        public var description: String {
            var parts: [String] = []
            if self.migrated {
                parts.append("\(self.movedOut) message(s) moved, \(self.movedBack) back into the new queue")
            }
            if !self.retryQueuesFixed.isEmpty {
                parts.append(
                    "retry queue(s) \(self.retryQueuesFixed.joined(separator: ", ")) redeclared, "
                        + "\(self.movedFromRetryQueues) message(s) moved to the main queue")
            }
            return "\(self.queue): " + parts.joined(separator: "; ")
        }
    }

    /// What a run did.
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        /// The queues that needed work, in the order given.
        public var queues: [QueueReport]
        /// True when every queue already had the topology's arguments (and no holding queue was left).
        public var nothingToDo: Bool { self.queues.isEmpty }

        public init(queues: [QueueReport]) { self.queues = queues }

        /// The report for `queue`, if it needed work.
        public subscript(queue: String) -> QueueReport? { self.queues.first { $0.queue == queue } }

        public var description: String {
            if self.nothingToDo { return "nothing to do: every queue already has the expected arguments" }
            return self.queues.map(\.description).joined(separator: "\n")
        }
    }

    /// A queue cannot be migrated now (e.g. it has consumers, or messages stayed behind).
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { self.message }
    }

    /// The name of the holding queue of `queue`.
    public static func holdingQueueName(_ queue: String) -> String { "\(queue).migrating" }

    /// Messages fetched, copied and confirmed per round.
    static let batchSize = 200

    /// Migrates the queues of `topology` that conflict; `client` must be connected (and run by the caller).
    /// Throws ``Failure`` when a queue to replace has consumers (stop the services first), `AMQPError` on broker
    /// failures, ``TopologyConflict`` when the topology still cannot be declared at the end.
    public static func migrate(
        client: AMQPClient, topology: BrokerTopology, logger: Logger
    ) async throws -> Report {
        let dlx = topology.deadLetterExchange
        // 1. What needs work.
        struct Plan {
            var queue: BrokerTopology.Queue
            var mainConflicts: Bool
            var holdingExists: Bool
            var conflictingRetryQueues: [String]
        }
        var plans: [Plan] = []
        for queue in topology.queues {
            let holding = Self.holdingQueueName(queue.name)
            let mainConflicts = try await Self.conflicts(
                client: client, name: queue.name, arguments: Self.mainArguments(queue, dlx: dlx))
            let holdingExists = try await Self.passiveDeclare(client: client, name: holding) != nil
            var retries: [String] = []
            for (index, delay) in queue.retryDelays.enumerated() {
                let name = queue.retryQueueName(level: index + 1)
                if try await Self.conflicts(
                    client: client, name: name, arguments: Self.retryArguments(queue, delay: delay, dlx: dlx))
                {
                    retries.append(name)
                }
            }
            if mainConflicts || holdingExists || !retries.isEmpty {
                plans.append(
                    Plan(queue: queue, mainConflicts: mainConflicts, holdingExists: holdingExists,
                         conflictingRetryQueues: retries))
            }
        }
        guard !plans.isEmpty else {
            logger.info("nothing to migrate: every queue already has the expected arguments")
            return Report(queues: [])
        }
        // Refuse to replace a queue that is being consumed: stop the services first.
        for plan in plans {
            for name in (plan.mainConflicts ? [plan.queue.name] : []) + plan.conflictingRetryQueues {
                if let state = try await Self.passiveDeclare(client: client, name: name), state.consumerCount > 0 {
                    throw Failure(
                        "queue \(name) has \(state.consumerCount) consumer(s): stop the services (at least the "
                            + "consumers) first, then run `ordersystem migrate-queues` again")
                }
            }
        }
        try await client.withChannel { channel in
            try await channel.exchangeDeclare(name: topology.exchange, type: .topic, durable: true)
            try await channel.exchangeDeclare(name: dlx, type: .direct, durable: true)
        }
        var reports: [QueueReport] = []
        // 2. Empty the conflicting queues into the holding queues (or, for retry queues only, into the main queue).
        for plan in plans {
            let queue = plan.queue
            var report = QueueReport(queue: queue.name)
            let holding = Self.holdingQueueName(queue.name)
            let needsHolding = plan.mainConflicts || plan.holdingExists
            if needsHolding {
                report.migrated = true
                try await client.withChannel { channel in
                    _ = try await channel.queueDeclare(name: holding, durable: true)
                    for key in queue.bindingKeys {
                        try await channel.queueBind(queue: holding, exchange: topology.exchange, routingKey: key)
                    }
                    try await channel.queueBind(queue: holding, exchange: dlx, routingKey: queue.name)
                }
            }
            if plan.mainConflicts {
                try await client.withChannel { channel in
                    for key in queue.bindingKeys {
                        try await channel.queueUnbind(queue: queue.name, exchange: topology.exchange, routingKey: key)
                    }
                }
                report.movedOut = try await Self.move(
                    client: client, from: queue.name, to: holding, logger: logger)
                try await Self.deleteEmpty(client: client, name: queue.name)
                logger.info(
                    "queue emptied into its holding queue and deleted",
                    metadata: ["queue": "\(queue.name)", "moved": "\(report.movedOut)"])
            }
            for name in plan.conflictingRetryQueues {
                // Into the holding queue when the main queue is being replaced, else straight into the main queue.
                report.movedFromRetryQueues += try await Self.move(
                    client: client, from: name, to: needsHolding ? holding : queue.name, logger: logger)
                try await Self.deleteEmpty(client: client, name: name)
                report.retryQueuesFixed.append(name)
                logger.info("retry queue emptied and deleted", metadata: ["queue": "\(name)"])
            }
            reports.append(report)
        }
        // 3. The topology, as the services declare it.
        try await RabbitMQBroker(client: client, logger: logger).declare(topology)
        // 4. Back from the holding queues.
        for index in reports.indices where reports[index].migrated {
            let queue = plans[index].queue
            let holding = Self.holdingQueueName(queue.name)
            try await client.withChannel { channel in
                for key in queue.bindingKeys {
                    try await channel.queueUnbind(queue: holding, exchange: topology.exchange, routingKey: key)
                }
                try await channel.queueUnbind(queue: holding, exchange: dlx, routingKey: queue.name)
            }
            reports[index].movedBack = try await Self.move(
                client: client, from: holding, to: queue.name, logger: logger)
            try await Self.deleteEmpty(client: client, name: holding)
            logger.info(
                "queue migrated", metadata: ["queue": "\(queue.name)", "moved": "\(reports[index].movedBack)"])
        }
        return Report(queues: reports)
    }

    // MARK: helpers

    static func mainArguments(_ queue: BrokerTopology.Queue, dlx: String) -> AMQPFieldTable {
        ["x-dead-letter-exchange": .string(dlx), "x-dead-letter-routing-key": .string(queue.deadLetterQueueName)]
    }

    static func retryArguments(_ queue: BrokerTopology.Queue, delay: Duration, dlx: String) -> AMQPFieldTable {
        [
            "x-message-ttl": .int64(RabbitMQBroker.milliseconds(delay)),
            "x-dead-letter-exchange": .string(dlx),
            "x-dead-letter-routing-key": .string(queue.name),
        ]
    }

    /// The queue's counts, or nil when it does not exist (404 closes the throwaway channel only).
    static func passiveDeclare(client: AMQPClient, name: String) async throws -> AMQPQueueDeclareResult? {
        do {
            return try await client.withChannel { try await $0.queueDeclare(name: name, passive: true) }
        } catch let error as AMQPError where error.code == .brokerClosedChannel && error.replyCode == 404 {
            return nil
        }
    }

    /// Whether `name` exists with other arguments than `arguments` (a missing queue does not conflict and is not
    /// created).
    static func conflicts(client: AMQPClient, name: String, arguments: AMQPFieldTable) async throws -> Bool {
        guard try await Self.passiveDeclare(client: client, name: name) != nil else { return false }
        do {
            try await client.withChannel { channel in
                _ = try await channel.queueDeclare(name: name, durable: true, arguments: arguments)
            }
            return false
        } catch let error as AMQPError where error.code == .brokerClosedChannel && error.replyCode == 406 {
            return true
        }
    }

    /// Moves every message of `source` (at most `limit`) into `destination` (default exchange): confirmed copies,
    /// with their properties passed through `rewrite`, then acks. Returns how many were moved.
    static func move(
        client: AMQPClient, from source: String, to destination: String, limit: Int = .max,
        rewrite: (inout AMQPBasicProperties) -> Void = { _ in }, logger: Logger
    ) async throws -> Int {
        guard try await Self.passiveDeclare(client: client, name: destination) != nil else {
            throw Failure("cannot move the messages of \(source): queue \(destination) does not exist")
        }
        return try await client.withChannel { channel in
            try await channel.confirmSelect()
            var moved = 0
            while true {
                var batch: [AMQPDelivery] = []
                while batch.count < min(Self.batchSize, limit - moved), let delivery = try await channel.get(queue: source) {
                    batch.append(delivery)
                }
                guard let last = batch.last else { break }
                let copies = batch.map { delivery in
                    var properties = delivery.properties
                    rewrite(&properties)
                    properties.deliveryMode = .persistent
                    return AMQPOutboundMessage(
                        body: delivery.body, exchange: "", routingKey: destination, properties: properties)
                }
                let results = await channel.publishBatch(copies)
                let failures = results.compactMap { result -> AMQPError? in
                    if case .failure(let error) = result { return error }
                    return nil
                }
                if let failure = failures.first {
                    // Nothing acked: the originals go back to `source` (some copies may exist: duplicates, no loss).
                    try? await channel.nack(deliveryTag: last.deliveryTag, multiple: true, requeue: true)
                    throw Failure(
                        "copying messages from \(source) to \(destination) was not confirmed "
                            + "(\(failures.count) of \(copies.count)): \(failure); run the command again")
                }
                try await channel.ack(deliveryTag: last.deliveryTag, multiple: true)
                moved += batch.count
                logger.debug("moved messages", metadata: ["from": "\(source)", "to": "\(destination)", "count": "\(moved)"])
            }
            return moved
        }
    }

    /// Deletes `name` only when it is empty (a message arriving in between makes RabbitMQ refuse: 406).
    static func deleteEmpty(client: AMQPClient, name: String) async throws {
        do {
            _ = try await client.withChannel { try await $0.queueDelete(name: name, ifEmpty: true) }
        } catch let error as AMQPError where error.replyCode == 406 {
            throw Failure("queue \(name) received messages while it was being emptied; run the command again")
        }
    }
}
