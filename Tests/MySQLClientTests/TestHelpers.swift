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

/// A missing or wrong test environment (fails the test with its message).
struct TestEnvironmentError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}
