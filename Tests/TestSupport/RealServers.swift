import XCTest

/// Addresses of the real servers, from the environment `scripts/stack env` exports.
///
/// Tests that need a server call ``require(_:)``: without the variables they fail with a clear message in CI
/// (`CI=true`, where `scripts/test` always starts the servers) and are skipped, saying why, elsewhere.
public enum RealServers {
    /// The host and port of MariaDB (`DB_HOST`, `DB_PORT`).
    public static func mariaDB() throws -> (host: String, port: Int) {
        try (Self.require("DB_HOST"), Self.port("DB_PORT"))
    }

    /// The host, port and optional password of Redis (`REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`).
    public static func redis() throws -> (host: String, port: Int, password: String?) {
        try (Self.require("REDIS_HOST"), Self.port("REDIS_PORT"), ProcessInfoEnvironment.value("REDIS_PASSWORD"))
    }

    /// The host and port in `RABBITMQ_URL`.
    public static func rabbitMQ() throws -> (host: String, port: Int) {
        let url = try Self.require("RABBITMQ_URL")
        guard url.hasPrefix("amqp://") else { throw TestFailure("RABBITMQ_URL=\(url) is not an amqp:// URL") }
        var authority = url.dropFirst("amqp://".count).prefix { $0 != "/" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let parts = authority.split(separator: ":")
        guard let host = parts.first else { throw TestFailure("RABBITMQ_URL=\(url) has no host") }
        return (String(host), parts.count > 1 ? Int(parts[1]) ?? 5672 : 5672)
    }

    /// The value of `name`, or a failure (CI) / skip (elsewhere) that says how to get the servers.
    public static func require(_ name: String) throws -> String {
        if let value = ProcessInfoEnvironment.value(name), !value.isEmpty { return value }
        let message = "\(name) is not set: this test needs the real servers. Run it through scripts/test, or "
            + "`scripts/stack up && eval \"$(scripts/stack env)\"` first."
        if ProcessInfoEnvironment.value("CI") == "true" {
            throw TestFailure(message)
        }
        throw XCTSkip(message)
    }

    private static func port(_ name: String) throws -> Int {
        let text = try Self.require(name)
        guard let port = Int(text), (1...65535).contains(port) else { throw TestFailure("\(name)=\(text) is not a port") }
        return port
    }
}
