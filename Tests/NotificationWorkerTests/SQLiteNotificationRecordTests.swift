import NotificationStorage
import NotificationWorker
import SQLiteStorage
import ServiceCore
import TestSupport
import XCTest

/// The worker's dedupe record in its SQLite file (without `--cache redis`).
final class SQLiteNotificationRecordTests: XCTestCase {
    func testSendsAreRememberedPerOrderAndChannelAcrossChunksAndReopening() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("notifications.sqlite")
        // More orders than one statement's placeholders, so both calls work in chunks.
        let keys = (0..<1_200).map { NotificationKey(orderID: Identifier.random(), channel: $0 % 3 == 0 ? .sms : .email) }
        let recorded = Array(keys.prefix(900))
        let record = try await SQLiteNotificationRecord.open(path: path, durability: .normal, logger: testLogger("record"))
        let before = try await record.sent(among: keys)
        XCTAssertEqual(before, [])
        try await record.recordSent(recorded)
        try await record.recordSent(Array(recorded.prefix(10)))  // a second record is harmless
        // The other channel of a recorded order is not sent.
        let otherChannel = recorded[0].channel == .email ? NotificationChannel.sms : .email
        let sent = try await record.sent(among: keys + [NotificationKey(orderID: recorded[0].orderID, channel: otherChannel)])
        XCTAssertEqual(sent, Set(recorded))
        await record.close()

        let reopened = try await SQLiteNotificationRecord.open(path: path, durability: .normal, logger: testLogger("record"))
        let afterReopening = try await reopened.sent(among: keys)
        XCTAssertEqual(afterReopening, Set(recorded))
        await reopened.close()
    }
}
