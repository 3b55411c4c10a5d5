/// Exchanges, queues and bindings a service needs, with retry and dead-letter queues per queue.
///
/// For every queue `q`: retry queues `q.retry.1` … `q.retry.N`, one per delay (RabbitMQ expires only the head of a
/// queue, so one queue per delay keeps delays exact), that dead-letter back to `q`; and a dead-letter queue `q.dlq`.
/// All of them are bound through the direct exchange `deadLetterExchange`.
public struct BrokerTopology: Sendable, Equatable {
    /// A durable queue bound to the main exchange.
    public struct Queue: Sendable, Equatable {
        /// The queue name, e.g. `analytics.orders`.
        public var name: String
        /// Binding keys on the main (topic) exchange, e.g. `order.created`.
        public var bindingKeys: [String]
        /// Delay of each retry level; level 1 is the first element.
        public var retryDelays: [Duration]

        /// Creates a queue description.
        public init(name: String, bindingKeys: [String], retryDelays: [Duration]) {
            self.name = name
            self.bindingKeys = bindingKeys
            self.retryDelays = retryDelays
        }

        /// The name of retry level `level` (1-based).
        public func retryQueueName(level: Int) -> String { BrokerTopology.retryQueueName(of: self.name, level: level) }

        /// The name of the dead-letter queue.
        public var deadLetterQueueName: String { BrokerTopology.deadLetterQueueName(of: self.name) }
    }

    /// The durable topic exchange messages are published to.
    public var exchange: String
    /// The durable direct exchange for retries and dead letters.
    public var deadLetterExchange: String
    /// The queues.
    public var queues: [Queue]

    /// Creates a topology.
    public init(exchange: String, deadLetterExchange: String, queues: [Queue]) {
        self.exchange = exchange
        self.deadLetterExchange = deadLetterExchange
        self.queues = queues
    }

    /// The retry queue of level `level` (1-based) of `queue`: `q.retry.N`. Every broker and tool derives the name
    /// here.
    public static func retryQueueName(of queue: String, level: Int) -> String { "\(queue).retry.\(level)" }

    /// The dead-letter queue of `queue`: `q.dlq`.
    public static func deadLetterQueueName(of queue: String) -> String { "\(queue).dlq" }

    /// Merges `other` into this topology; queues with the same name are replaced.
    public func merging(_ other: BrokerTopology) -> BrokerTopology {
        var result = self
        for queue in other.queues {
            result.queues.removeAll { $0.name == queue.name }
            result.queues.append(queue)
        }
        return result
    }
}

/// Matches AMQP topic patterns: words separated by `.`, `*` matches one word, `#` zero or more.
public enum TopicPattern {
    /// True when `routingKey` matches `pattern`.
    public static func matches(pattern: String, routingKey: String) -> Bool {
        let patternWords = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let keyWords = routingKey.split(separator: ".", omittingEmptySubsequences: false)
        return Self.match(patternWords[...], keyWords[...])
    }

    private static func match(_ pattern: ArraySlice<Substring>, _ key: ArraySlice<Substring>) -> Bool {
        guard let first = pattern.first else { return key.isEmpty }
        if first == "#" {
            let rest = pattern.dropFirst()
            var remaining = key
            while true {
                if Self.match(rest, remaining) { return true }
                guard !remaining.isEmpty else { return false }
                remaining = remaining.dropFirst()
            }
        }
        guard let word = key.first else { return false }
        guard first == "*" || first == word else { return false }
        return Self.match(pattern.dropFirst(), key.dropFirst())
    }
}

/// Queues exist on the broker with other arguments than the topology asks for (typically the original system's
/// queues without dead-lettering arguments): the broker refused to redeclare them (RabbitMQ's 406
/// PRECONDITION_FAILED). The rest of the
/// topology was declared; run `ordersystem migrate-queues` to move these queues to the new topology.
public struct TopologyConflict: Error, Sendable, Equatable, CustomStringConvertible {
    /// The conflicting queues, in declaration order.
    public var queues: [String]
    /// The first conflicting queue.
    public var queue: String { self.queues.first ?? "" }

    /// Creates the error.
    public init(queues: [String]) { self.queues = queues }

    /// What happened and what to do.
    public var description: String {
        "queue(s) \(self.queues.joined(separator: ", ")) exist without the expected (dead-lettering) arguments; "
            + "run `ordersystem migrate-queues` to move them to the new topology"
    }
}
