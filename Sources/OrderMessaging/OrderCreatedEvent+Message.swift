import Messaging
import OrderEvents
import ServiceCore

extension OrderCreatedEvent {
    /// The message to publish, with the AMQP properties of docs/CONTRACTS.md ("Messaging").
    public func message(exchange: String = OrderTopology.exchange) -> OutgoingMessage {
        OutgoingMessage(
            exchange: exchange,
            routingKey: OrderTopology.orderCreatedRoutingKey,
            body: self.encode(),
            properties: MessageProperties(
                contentType: "application/json",
                messageID: self.eventID,
                type: Self.eventType,
                timestamp: self.createdAt.secondsSinceEpoch,
                persistent: true
            )
        )
    }
}
