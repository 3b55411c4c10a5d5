import NotificationStorage
import NotificationWorker
import RedisClient
import ServiceCore
import TestSupport
import XCTest

/// The worker's dedupe record on the stack's Redis (`--cache redis`).
final class RedisNotificationRecordTests: XCTestCase {
    func testASendIsRememberedPerOrderAndChannel() async throws {
        try await withRedisClient { client in
            let record = RedisNotificationRecord(client: client, retention: .seconds(60))
            let order = Identifier.random()
            let before = try await record.wasSent(orderID: order, channel: .email)
            XCTAssertFalse(before)
            try await record.markSent(orderID: order, channel: .email)
            try await record.markSent(orderID: order, channel: .email)  // a second record is harmless
            let email = try await record.wasSent(orderID: order, channel: .email)
            let sms = try await record.wasSent(orderID: order, channel: .sms)
            let other = try await record.wasSent(orderID: Identifier.random(), channel: .email)
            XCTAssertTrue(email)
            XCTAssertFalse(sms, "channels are recorded apart")
            XCTAssertFalse(other)
            let ttl = try await client.ttl("notification:sent:\(order):email")
            guard case .seconds(let seconds) = ttl, seconds > 0, seconds <= 60 else { return XCTFail("the record must expire, got \(ttl)") }
            _ = try await client.delete(["notification:sent:\(order):email"])
        }
    }
}
