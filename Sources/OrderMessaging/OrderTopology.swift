import Messaging

/// The order system's exchanges, routing key and queues (docs/CONTRACTS.md, "Messaging"): a contract with the
/// original's deployments and tools.
public enum OrderTopology {
    /// The durable topic exchange order events are published to.
    public static let exchange = "orders"
    /// The durable direct exchange for retry and dead-letter queues.
    public static let deadLetterExchange = "orders.dlx"
    /// The routing key of `OrderCreated`.
    public static let orderCreatedRoutingKey = "order.created"
    /// The analytics service's queue.
    public static let analyticsQueue = "analytics.orders"
    /// The notification worker's queue.
    public static let notificationsQueue = "notifications.orders"
    /// The consumers' queues, each bound with `order.created`: every tool that acts on all of them uses this list.
    public static let consumerQueues = [analyticsQueue, notificationsQueue]
    /// Default delays of the three retry levels.
    public static let defaultRetryDelays: [Duration] = [.seconds(1), .seconds(10), .seconds(60)]

    /// The topology with the given queues, each bound with `order.created`.
    public static func topology(queues: [String], retryDelays: [Duration] = defaultRetryDelays) -> BrokerTopology {
        BrokerTopology(
            exchange: Self.exchange,
            deadLetterExchange: Self.deadLetterExchange,
            queues: queues.map {
                BrokerTopology.Queue(name: $0, bindingKeys: [Self.orderCreatedRoutingKey], retryDelays: retryDelays)
            }
        )
    }
}
