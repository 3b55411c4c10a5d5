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
        try self.require("RABBITMQ_URL")
    }

    /// The error connecting with `configuration` fails with; a test failure (and nil) when it connects or fails with
    /// another error type.
    static func connectError(
        _ configuration: AMQPConnectionConfiguration, file: StaticString = #filePath, line: UInt = #line
    ) async -> AMQPError? {
        do {
            let connection = try await AMQPConnection.connect(configuration: configuration, logger: Self.logger)
            try? await connection.close()
            XCTFail("connected with \(configuration)", file: file, line: line)
            return nil
        } catch let error as AMQPError {
            return error
        } catch {
            XCTFail("not an AMQPError: \(error)", file: file, line: line)
            return nil
        }
    }

    /// The value of `name`, or a failure (CI) / skip (elsewhere) that says how to get the servers.
    static func require(_ name: String) throws -> String {
        if let value = environment(name), !value.isEmpty { return value }
        let message = "\(name) is not set: this test needs the real servers. Run it through scripts/test, or "
            + "`scripts/stack up && eval \"$(scripts/stack env)\"` first."
        if environment("CI") == "true" {
            XCTFail(message)
            throw AMQPError(code: .invalidArgument, message: message)
        }
        throw XCTSkip(message)
    }

    /// The stack's TLS side for RabbitMQ, from the variables `TestSupport.RealServersTLS` reads (this target does not
    /// depend on TestSupport): a TLS-only listener whose certificate names `localhost` and `127.0.0.1`, signed by
    /// `caFile`; `otherCAFile` signed nothing the broker presents.
    struct TLSFiles {
        var caFile: String
        var otherCAFile: String
        var clientCertificateFile: String
        var clientKeyFile: String
        /// `RABBITMQ_TLS_PORT`.
        var port: Int
    }

    static func tls() throws -> TLSFiles {
        let portText = try require("RABBITMQ_TLS_PORT")
        guard let port = Int(portText), (1...65535).contains(port) else {
            XCTFail("RABBITMQ_TLS_PORT=\(portText) is not a port")
            throw AMQPError(code: .invalidArgument, message: "RABBITMQ_TLS_PORT is not a port")
        }
        return TLSFiles(
            caFile: try require("STACK_TLS_CA"), otherCAFile: try require("STACK_TLS_OTHER_CA"),
            clientCertificateFile: try require("STACK_TLS_CLIENT_CERT"),
            clientKeyFile: try require("STACK_TLS_CLIENT_KEY"), port: port)
    }

    /// The stack's RabbitMQ user whose password holds `/`, `@`, `#` and `:` (`RABBITMQ_SECRET_USER`,
    /// `RABBITMQ_SECRET_PASSWORD`).
    static func secretUser() throws -> (user: String, password: String) {
        (try require("RABBITMQ_SECRET_USER"), try require("RABBITMQ_SECRET_PASSWORD"))
    }

    /// `text` with every byte but RFC 3986's unreserved characters percent-encoded, as a URL's user information needs.
    static func percentEncoded(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            let character = Character(Unicode.Scalar(byte))
            if byte < 0x80, character.isLetter || character.isNumber || "-._~".contains(character) {
                encoded.append(character)
            } else {
                encoded += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    /// Every run of four characters of `secret` (all of it when shorter), to check that no message holds any
    /// recognisable piece of it.
    static func pieces(of secret: String) -> [String] {
        let characters = Array(secret)
        guard characters.count > 4 else { return [secret] }
        return (0...(characters.count - 4)).map { String(characters[$0..<($0 + 4)]) }
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
