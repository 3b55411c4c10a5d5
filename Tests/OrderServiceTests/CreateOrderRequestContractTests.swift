import OrderService
import ServiceCore
import ServiceRuntime
import TestSupport
import XCTest

/// `POST /orders` and the consumers enforce one contract: every hostile event of the shared corpus that breaks a rule
/// of a field the API takes is refused by the API with the same words, and every valid one is accepted alike.
final class CreateOrderRequestContractTests: XCTestCase {
    func testTheAPIRefusesWhatTheConsumersRefuseWithTheSameReason() throws {
        let apiFields = ["customer_id", "product_id", "quantity", "total_amount"]
        var compared = 0
        for entry in try HostileEvent.load(tag: "api") {
            let request: CreateOrderRequest
            do {
                request = try CreateOrderRequest.parse(entry.body)
            } catch {
                let details = error.details.map { "\($0.field) \($0.reason)" }
                if let reason = entry.reason, apiFields.contains(where: { reason.hasPrefix($0 + " ") }) {
                    XCTAssertTrue(details.contains(reason), "\(entry.name): \(details)")
                    compared += 1
                } else {
                    XCTAssertFalse(entry.isValid, "\(entry.name) is valid for the consumers but the API refused it: \(details)")
                }
                continue
            }
            // Accepted: then nothing the API reads was wrong (the event may still break a rule of a field the API
            // does not take, such as created_at or order_id).
            if let reason = entry.reason {
                XCTAssertFalse(apiFields.contains { reason.hasPrefix($0 + " ") }, "\(entry.name): the API accepted it")
            } else {
                XCTAssertEqual(request.quantity, entry.quantity, entry.name)
                XCTAssertEqual(request.totalAmount.decimalString, entry.totalAmount, entry.name)
            }
        }
        XCTAssertGreaterThan(compared, 15)
    }
}
