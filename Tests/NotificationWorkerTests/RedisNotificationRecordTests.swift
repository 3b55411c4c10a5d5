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
            let other = Identifier.random()
            let email = NotificationKey(orderID: order, channel: .email)
            let sms = NotificationKey(orderID: order, channel: .sms)
            let otherEmail = NotificationKey(orderID: other, channel: .email)
            let before = try await record.sent(among: [email, sms, otherEmail])
            XCTAssertEqual(before, [])
            try await record.recordSent([email])
            try await record.recordSent([email, otherEmail])  // a second record is harmless
            let after = try await record.sent(among: [email, sms, otherEmail, NotificationKey(orderID: Identifier.random(), channel: .sms)])
            XCTAssertEqual(after, [email, otherEmail], "channels and orders are recorded apart")
            let none = try await record.sent(among: [])
            XCTAssertEqual(none, [])
            let ttl = try await client.ttl("notification:sent:\(order):email")
            guard case .seconds(let seconds) = ttl, seconds > 0, seconds <= 60 else { return XCTFail("the record must expire, got \(ttl)") }
            _ = try await client.delete(["notification:sent:\(order):email", "notification:sent:\(other):email"])
        }
    }

    func testABatchOfHundredsIsReadAndWrittenWhole() async throws {
        try await withRedisClient { client in
            let record = RedisNotificationRecord(client: client, retention: .seconds(60))
            let keys = (0..<300).map { NotificationKey(orderID: Identifier.random(), channel: $0 % 2 == 0 ? .email : .sms) }
            try await record.recordSent(Array(keys.prefix(200)))
            let sent = try await record.sent(among: keys)
            XCTAssertEqual(sent, Set(keys.prefix(200)))
            _ = try await client.delete(keys.map { "notification:sent:\($0.orderID):\($0.channel.rawValue)" })
        }
    }
}
