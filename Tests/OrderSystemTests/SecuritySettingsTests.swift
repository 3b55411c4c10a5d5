import ArgumentParser
import Foundation
import MySQLClient
import OrderSystemCLI
import TestSupport
import XCTest

/// The TLS and secret settings of issue #15: names, precedence, files, and errors that never show a secret.
final class SecuritySettingsTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUp() async throws {
        self.directory = try TemporaryDirectory(prefix: "ordersystem-secrets")
    }

    override func tearDown() async throws {
        self.directory.remove()
    }

    private func file(_ name: String, _ content: String) throws -> String {
        let path = self.directory.file(name)
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func orderService(_ environment: [String: String], arguments: [String] = []) throws -> SystemConfiguration {
        try OrderServiceCommand.parse(arguments).resolve(environment: environment)
    }

    private func assertRefused(
        _ environment: [String: String], _ arguments: [String] = [], mentioning words: [String], notShowing secret: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try self.orderService(environment, arguments: arguments), file: file, line: line) { error in
            let text = "\(error)"
            for word in words { XCTAssertTrue(text.contains(word), "\(text) should name \(word)", file: file, line: line) }
            XCTAssertFalse(text.contains(secret), "\(text) shows the secret", file: file, line: line)
        }
    }

    func testEverySecretAlsoReadsItsFileVariableWithoutTheTrailingNewline() throws {
        let environment = [
            "DB_PASSWORD_FILE": try self.file("db", "s3cret/db\n"),
            "REDIS_PASSWORD_FILE": try self.file("redis", "r3dis#pw\r\n"),
            "RABBITMQ_URL_FILE": try self.file("url", "amqps://u:p%2Fa%40s%23s@mq:5671/\n"),
        ]
        let configuration = try self.orderService(environment)
        XCTAssertEqual(configuration.orderDatabase.password, "s3cret/db")
        XCTAssertEqual(configuration.backends.redisPassword, "r3dis#pw")
        XCTAssertEqual(configuration.backends.rabbitmqURL, "amqps://u:p%2Fa%40s%23s@mq:5671/")
        XCTAssertEqual(configuration.backends.rabbitmqURLSource, "RABBITMQ_URL_FILE")

        let all = try AllCommand.parse([]).resolve(environment: [
            "ORDER_DB_PASSWORD_FILE": try self.file("order", "o"), "ANALYTICS_DB_PASSWORD": "a",
        ])
        XCTAssertEqual(all.orderDatabase.password, "o")
        XCTAssertEqual(all.analyticsDatabase.password, "a")
    }

    func testASecretSetBothWaysOrInAnUnreadableFileIsRefusedWithoutShowingIt() throws {
        self.assertRefused(
            ["DB_PASSWORD": "hunter2", "DB_PASSWORD_FILE": try self.file("db", "hunter2")],
            mentioning: ["DB_PASSWORD", "DB_PASSWORD_FILE", "both"], notShowing: "hunter2")
        self.assertRefused(
            ["RABBITMQ_URL": "amqp://u:hunter2@h/", "RABBITMQ_URL_FILE": try self.file("url", "amqp://u:hunter2@h/")],
            mentioning: ["RABBITMQ_URL_FILE"], notShowing: "hunter2")
        self.assertRefused(
            ["REDIS_PASSWORD_FILE": self.directory.file("missing")], mentioning: ["REDIS_PASSWORD_FILE", "missing"],
            notShowing: "hunter2")
        self.assertRefused(
            ["DB_PASSWORD_FILE": try self.file("empty", "\n")], mentioning: ["DB_PASSWORD_FILE", "empty"],
            notShowing: "hunter2")
    }

    func testASettingFileIsReadBoundedSoAWrongPathCannotHangOrFillMemory() throws {
        self.assertRefused(
            ["DB_PASSWORD_FILE": try self.file("large", String(repeating: "x", count: 64 * 1024 + 1))],
            mentioning: ["DB_PASSWORD_FILE", "64 KiB"], notShowing: "xxxx")
        self.assertRefused(["DB_PASSWORD_FILE": "/dev/zero"], mentioning: ["DB_PASSWORD_FILE", "64 KiB"], notShowing: "hunter2")
        let exactly = try self.orderService(["DB_PASSWORD_FILE": try self.file("limit", String(repeating: "y", count: 64 * 1024))])
        XCTAssertEqual(exactly.orderDatabase.password.count, 64 * 1024)
    }

    func testDatabaseTLSSettingsFollowTheUsualPrecedence() throws {
        let ca = try self.file("ca.pem", "not read until connecting")
        let single = try self.orderService(
            ["DB_TLS_MODE": "verify-identity", "DB_TLS_CA": ca, "DB_ALLOW_PUBLIC_KEY_RETRIEVAL": "true"])
        XCTAssertEqual(single.orderDatabase.tls.mode, .verifyIdentity)
        XCTAssertEqual(single.orderDatabase.tls.caFile, ca)
        XCTAssertTrue(single.orderDatabase.tls.allowPublicKeyRetrieval)
        XCTAssertEqual(try self.orderService([:]).orderDatabase.tls.mode, .preferred, "MySQL's own default")
        XCTAssertEqual(
            try self.orderService(["DB_TLS_MODE": "required"], arguments: ["--db-tls-mode", "disabled"]).orderDatabase.tls.mode,
            .disabled)

        // `all`: each database's own variable first, then the shared one.
        let all = try AllCommand.parse([]).resolve(environment: [
            "DB_TLS_MODE": "required", "ANALYTICS_DB_TLS_MODE": "verify-ca", "ANALYTICS_DB_TLS_CA": ca,
        ])
        XCTAssertEqual(all.orderDatabase.tls.mode, .required)
        XCTAssertEqual(all.analyticsDatabase.tls.mode, .verifyCA)
        XCTAssertEqual(all.analyticsDatabase.tls.caFile, ca)
        XCTAssertNil(all.orderDatabase.tls.caFile)
    }

    func testAPinnedServerKeyIsReadAtStartAndAMissingOneIsAConfigurationError() throws {
        let pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"
        let configuration = try self.orderService(["DB_SERVER_PUBLIC_KEY": try self.file("server.pem", pem + "\n")])
        XCTAssertEqual(configuration.orderDatabase.tls.serverPublicKeyPEM, pem)
        self.assertRefused(
            ["DB_SERVER_PUBLIC_KEY": self.directory.file("nowhere.pem")], mentioning: ["DB_SERVER_PUBLIC_KEY"],
            notShowing: "hunter2")
    }

    func testBadTLSCombinationsAreRefusedWithTheSettingsNamed() throws {
        self.assertRefused(["DB_TLS_MODE": "sometimes"], mentioning: ["DB_TLS_MODE", "verify-identity"], notShowing: "x")
        self.assertRefused(["DB_TLS_CERT": "/c.pem"], mentioning: ["DB_TLS_CERT", "DB_TLS_KEY"], notShowing: "x")
        self.assertRefused(["REDIS_TLS_CA": "/ca.pem"], mentioning: ["REDIS_TLS"], notShowing: "x")
        self.assertRefused(["REDIS_TLS": "maybe"], mentioning: ["REDIS_TLS"], notShowing: "x")
        let redis = try self.orderService(["REDIS_TLS": "true", "REDIS_TLS_CA": "/ca.pem", "REDIS_USERNAME": "svc"])
        XCTAssertEqual(redis.backends.redisTLS?.caFile, "/ca.pem")
        XCTAssertEqual(redis.backends.redisUsername, "svc")
        XCTAssertNil(try self.orderService([:]).backends.redisTLS, "plain by default, as the original")
    }
}
