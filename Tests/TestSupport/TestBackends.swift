import SQLiteStorage
import EmbeddedMessaging
import Logging
import ServiceRuntime

/// A logger for tests: quiet unless `TEST_LOG_LEVEL` is set.
public func testLogger(_ label: String = "test") -> Logger {
    var logger = Logger(label: label)
    let level = ProcessInfoEnvironment.value("TEST_LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .critical
    logger.logLevel = level
    return logger
}

/// An embedded broker on its own SQLite file, and the file's database, for tests; the broker runs (its `run()`
/// returns retried messages to their queues) until ``close()``.
public struct TestBroker: Sendable {
    /// The broker.
    public let broker: EmbeddedBroker
    /// Its database.
    public let database: SQLiteFileDatabase
    private let running: FixtureService

    /// Opens a broker on `path` and runs it; its consumers take bodies up to `maximumBodySize`.
    public static func open(
        path: String, maximumBodySize: Int? = nil, logger: Logger = testLogger("broker")
    ) async throws -> TestBroker {
        let database = try await SQLiteFileDatabase.open(path: path, logger: logger)
        let broker = try await EmbeddedBroker.open(database: database, maximumBodySize: maximumBodySize, logger: logger)
        return TestBroker(broker: broker, database: database, running: FixtureService(broker))
    }

    /// Shuts the broker down, waits for its `run()` and closes its database.
    public func close() async {
        await self.broker.shutdown()
        await self.running.stop()
        await self.database.close()
    }
}

/// Reads one environment variable.
public enum ProcessInfoEnvironment {
    /// The variable's value, or nil.
    public static func value(_ name: String) -> String? {
        guard let pointer = getenv(name) else { return nil }
        return String(cString: pointer)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
