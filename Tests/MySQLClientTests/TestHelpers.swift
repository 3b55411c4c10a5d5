import Foundation
import Logging
import XCTest

@testable import MySQLClient

/// The real MariaDB's address from `DB_HOST`/`DB_PORT` (as `TestSupport.RealServers.mariaDB()`, copied here because
/// `TestSupport` depends on `ServiceRuntime`): fails in CI when missing, skips elsewhere, saying how to get it.
enum TestServer {
    static func address() throws -> (host: String, port: Int) {
        let environment = ProcessInfo.processInfo.environment
        guard let host = environment["DB_HOST"], !host.isEmpty, let portText = environment["DB_PORT"] else {
            let message = "DB_HOST/DB_PORT are not set: this test needs the real MariaDB. Run it through scripts/test, "
                + "or `scripts/stack up && eval \"$(scripts/stack env)\"` first."
            if environment["CI"] == "true" { throw TestEnvironmentError(message: message) }
            throw XCTSkip(message)
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw TestEnvironmentError(message: "DB_PORT=\(portText) is not a port")
        }
        return (host, port)
    }

    static func configuration(
        password: String = "orderpass", database: String? = "order_db", queryTimeout: Duration? = .seconds(20)
    ) throws -> MySQLConfiguration {
        let (host, port) = try address()
        return MySQLConfiguration(
            host: host, port: port, username: "orderuser", password: password, database: database,
            connectTimeout: .seconds(5), queryTimeout: queryTimeout)
    }

    static let logger: Logger = {
        var logger = Logger(label: "mysql-tests")
        logger.logLevel = .error
        return logger
    }()

    static func connect(password: String = "orderpass", database: String? = "order_db") async throws
        -> MySQLConnection
    {
        try await MySQLConnection.connect(
            configuration: configuration(password: password, database: database), logger: logger)
    }

    /// A table name unique to this run, so tests can share a server.
    static func tableName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// The stack's TLS files and MariaDB admin account, from the variables `scripts/stack env` exports (as
/// `TestSupport.RealServersTLS` documents them; copied for the same reason as ``TestServer``): fails in CI when
/// missing, skips elsewhere. The server certificate names `DNS:localhost` and `IP:127.0.0.1` only.
struct TestTLSFiles {
    /// The authority that signed the server and client certificates (`STACK_TLS_CA`).
    var caFile: String
    /// An authority that signed nothing the server presents (`STACK_TLS_OTHER_CA`).
    var otherCAFile: String
    /// A client certificate signed by ``caFile`` (`STACK_TLS_CLIENT_CERT`).
    var clientCertificateFile: String
    /// Its private key (`STACK_TLS_CLIENT_KEY`).
    var clientKeyFile: String

    static func fromEnvironment() throws -> TestTLSFiles {
        TestTLSFiles(
            caFile: try require("STACK_TLS_CA"), otherCAFile: try require("STACK_TLS_OTHER_CA"),
            clientCertificateFile: try require("STACK_TLS_CLIENT_CERT"),
            clientKeyFile: try require("STACK_TLS_CLIENT_KEY"))
    }

    /// A MariaDB account with every privilege (`STACK_DB_ADMIN_USER`, `STACK_DB_ADMIN_PASSWORD`), for tests that
    /// change a server setting and put it back.
    static func admin() throws -> (user: String, password: String) {
        (try require("STACK_DB_ADMIN_USER"), try require("STACK_DB_ADMIN_PASSWORD"))
    }

    private static func require(_ name: String) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let value = environment[name], !value.isEmpty { return value }
        let message = "\(name) is not set: this test needs the real servers with TLS. Run it through scripts/test, "
            + "or `scripts/stack up && eval \"$(scripts/stack env)\"` first."
        if environment["CI"] == "true" { throw TestEnvironmentError(message: message) }
        throw XCTSkip(message)
    }
}

/// A missing or wrong test environment (fails the test with its message).
struct TestEnvironmentError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}
