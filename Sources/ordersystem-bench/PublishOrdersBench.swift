// benchmarks/run: a backlog of valid OrderCreated events, published as the order service's relay does (persistent,
// confirmed, to the `orders` exchange), so the consumers' drain rate can be measured on its own.
import AMQPClient
import ArgumentParser
import NIOCore
import OrderEvents
import OrderMessaging
import ServiceCore
import Timing

struct PublishOrders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish-orders",
        abstract: "Publish N valid OrderCreated events to the orders exchange (confirmed, persistent); prints their total."
    )
    @Option(help: "Broker URL.") var url = "amqp://guest:guest@127.0.0.1:5672/"
    @Option(help: "Events to publish.") var count = 100_000
    @Option(help: "Customer id prefix, so the events can be told apart.") var tag = "backlog"

    func run() async throws {
        let connection = try await AMQPConnection.connect(
            configuration: try AMQPConnectionConfiguration(url: self.url), logger: quietLogger()
        )
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        var cents: Int64 = 0
        var published = 0
        let start = ContinuousClock.now
        while published < self.count {
            let size = min(512, self.count - published)
            var messages: [AMQPOutboundMessage] = []
            messages.reserveCapacity(size)
            for index in published..<(published + size) {
                let amount = Int64(100 + index % 9_900)
                cents += amount
                let event = OrderCreatedEvent(
                    eventID: Identifier.random(), orderID: Identifier.random(), customerID: "\(self.tag)-\(index % 1000)",
                    productID: "product-\(index % 17)", quantity: 1 + index % 5, totalAmount: Money(cents: amount),
                    status: "pending", createdAt: .now()
                )
                messages.append(AMQPOutboundMessage(
                    body: ByteBuffer(bytes: event.encode()), exchange: OrderTopology.exchange,
                    routingKey: OrderTopology.orderCreatedRoutingKey,
                    properties: AMQPBasicProperties(
                        contentType: "application/json", deliveryMode: .persistent, messageID: event.eventID,
                        type: OrderCreatedEvent.eventType
                    )
                ))
            }
            for result in await channel.publishBatch(messages) { try result.get() }
            published += size
        }
        let seconds = (ContinuousClock.now - start).totalSeconds
        try await connection.close()
        print("ordersystem-bench publish-orders: \(published) events, revenue \(Money(cents: cents).decimalString), "
            + "\(Int(Double(published) / seconds)) events/s")
    }
}
