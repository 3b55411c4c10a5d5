import ArgumentParser
import FoundationEssentials
import OrderEvents
import ServiceCore
import Timing

/// Our JSON reader and writer against FoundationEssentials' `JSONDecoder`/`JSONEncoder` on the order event, one
/// thread, for docs/ARCHITECTURE.md's "Library or our own". Foundation's side does less: no field rules, and the
/// time stays a string.
struct JSONCodecs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "json", abstract: "Nanoseconds per order event: our JSON codec against Foundation's.")

    @Option(help: "Seconds per measurement.") var seconds = 2

    /// The event as Foundation decodes it: the amount an exact `Decimal`.
    struct Event: Codable {
        var event_id: String
        var order_id: String
        var customer_id: String
        var product_id: String
        var quantity: Int
        var total_amount: Decimal
        var status: String
        var created_at: String
    }

    func run() async throws {
        let event = OrderCreatedEvent(
            eventID: Identifier.timeOrdered(), orderID: Identifier.timeOrdered(), customerID: "customer-123",
            productID: "product-456", quantity: 2, totalAmount: Money(cents: 9_999), status: "pending",
            createdAt: Timestamp.now())
        let body = event.encode()
        let data = Data(body)
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        let decoded = try decoder.decode(Event.self, from: data)
        let rows: [(String, () throws -> Int)] = [
            ("decode, ours (with the order rules)", { try OrderCreatedEvent.decode(body).quantity }),
            ("decode, Foundation JSONDecoder", { try decoder.decode(Event.self, from: data).quantity }),
            ("encode, ours", { event.encode().count }),
            ("encode, Foundation JSONEncoder", { try encoder.encode(decoded).count }),
        ]
        for (name, operation) in rows {
            var count = 0
            var sink = 0
            let start = ContinuousClock.now
            let end = start + .seconds(self.seconds)
            while ContinuousClock.now < end {
                for _ in 0..<1000 { sink &+= try operation() }
                count += 1000
            }
            let nanoseconds = Double((ContinuousClock.now - start).totalNanoseconds) / Double(count)
            print("json \(name): \(Int(nanoseconds)) ns/op (\(sink % 2))")
        }
    }
}
