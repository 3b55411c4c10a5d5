import ArgumentParser
import ClientTestSupport
import Logging
@testable import OrderSystemCLI
import XCTest

/// The start-up warnings about credentials: each says what to set and none shows a password.
final class CredentialWarningsTests: XCTestCase {
    private func warnings(
        _ service: ServiceName, arguments: [String] = [], _ environment: [String: String]
    ) throws -> [String] {
        let configuration: SystemConfiguration
        switch service {
        case .order: configuration = try OrderServiceCommand.parse(arguments).resolve(environment: environment)
        case .analytics: configuration = try AnalyticsServiceCommand.parse(arguments).resolve(environment: environment)
        case .notification: configuration = try NotificationWorkerCommand.parse(arguments).resolve(environment: environment)
        }
        let recorder = LogRecorder()
        CredentialWarnings.log(configuration, service: service, logger: recorder.logger())
        return recorder.all
    }

    func testTheOriginalsDefaultPasswordsAgainstAnotherMachineAreWarnedAbout() throws {
        let remote = try self.warnings(.analytics, ["DB_HOST": "db.internal", "RABBITMQ_URL": "amqp://guest:guest@mq.internal:5672/"])
        XCTAssertEqual(remote.count, 2, "\(remote)")
        XCTAssertTrue(remote.contains { $0.contains("DB_PASSWORD_FILE") && $0.contains("db.internal") }, "\(remote)")
        XCTAssertTrue(remote.contains { $0.contains("guest account") && $0.contains("RABBITMQ_URL_FILE") }, "\(remote)")
        XCTAssertFalse(remote.contains { $0.contains("analyticspass") }, "\(remote)")
    }

    func testNothingIsWarnedAboutOnThisMachineOrWithOwnPasswords() throws {
        XCTAssertEqual(try self.warnings(.order, ["DB_HOST": "127.0.0.1"]), [])
        XCTAssertEqual(try self.warnings(.order, ["DB_HOST": "localhost", "RABBITMQ_URL": "amqp://guest:guest@[::1]:5672/"]), [])
        XCTAssertEqual(
            try self.warnings(.order, ["DB_HOST": "db.internal", "DB_PASSWORD": "own", "RABBITMQ_URL": "amqp://svc:own@mq/"]), [])
    }

    func testAPasswordInTheURLArgumentIsWarnedAboutWithoutShowingIt() throws {
        let lines = try self.warnings(.notification, arguments: ["--rabbitmq-url", "amqp://svc:hunter2@localhost/"], [:])
        XCTAssertEqual(lines.count, 1, "\(lines)")
        XCTAssertTrue(lines[0].contains("--rabbitmq-url") && lines[0].contains("RABBITMQ_URL_FILE"), lines[0])
        XCTAssertFalse(lines[0].contains("hunter2"), lines[0])
        XCTAssertEqual(try self.warnings(.notification, ["RABBITMQ_URL": "amqp://svc:hunter2@localhost/"]), [])
    }
}
