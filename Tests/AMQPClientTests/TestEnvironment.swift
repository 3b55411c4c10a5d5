import AMQPClient
import Logging
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Copied in spirit from `TestSupport.RealServers` (which imports ServiceRuntime): the broker address from
/// `RABBITMQ_URL`, failing clearly in CI (`CI=true`) and skipping elsewhere.
enum TestEnvironment {
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    static func rabbitMQURL() throws -> String {
        if let value = environment("RABBITMQ_URL"), !value.isEmpty { return value }
        let message = "RABBITMQ_URL is not set: this test needs the real servers. Run it through scripts/test, or "
            + "`scripts/stack up && eval \"$(scripts/stack env)\"` first."
        if environment("CI") == "true" {
            XCTFail(message)
            throw AMQPError(code: .invalidArgument, message: message)
        }
        throw XCTSkip(message)
    }

    static var logger: Logger {
        var logger = Logger(label: "amqp-test")
        logger.logLevel = .error
        return logger
    }

    static func connect(heartbeat: UInt16? = nil) async throws -> AMQPConnection {
        var configuration = try AMQPConnectionConfiguration(url: try rabbitMQURL())
        if let heartbeat { configuration.heartbeat = heartbeat }
        return try await AMQPConnection.connect(configuration: configuration, logger: logger)
    }

    static func uniqueName(_ prefix: String) -> String {
        "\(prefix).test.\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)"
    }
}
