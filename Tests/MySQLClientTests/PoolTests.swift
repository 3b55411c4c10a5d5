import Logging
import NIOCore
import XCTest

@testable import MySQLClient

/// The client's own pool: lease timeout, cancellation of a waiting request, idle timeout.
final class PoolTests: XCTestCase {
    /// Runs `body` with a client whose pool is running, then shuts the pool down.
    private func withClient<Result: Sendable>(
        _ configuration: MySQLConfiguration, _ body: @escaping @Sendable (MySQLClient) async throws -> Result
    ) async throws -> Result {
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Needs no server: nothing listens on port 1, and the circuit breaker is set far beyond the lease timeout.
    func testWithNoServerReachableAQueryFailsAtTheLeaseTimeoutWithAClearError() async throws {
        var configuration = MySQLConfiguration(
            host: "127.0.0.1", port: 1, username: "u", password: "p", connectTimeout: .seconds(5))
        configuration.pool.circuitBreakerTripAfter = .seconds(60)
        configuration.pool.leaseTimeout = .milliseconds(300)
        let start = ContinuousClock.now
        try await self.withClient(configuration) { client in
            do {
                try await client.query("SELECT 1")
                XCTFail("expected a timeout")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .timeout, "\(error)")
                XCTAssertTrue(error.message.contains("no connection from the pool within"), "\(error)")
                XCTAssertTrue(error.message.contains("could not connect"), "\(error)")
            }
            XCTAssertEqual(client.pool.counts.waiting, 0)
        }
        // Bounded by the lease timeout, not by the 60 s circuit breaker.
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(30))
    }

    func testRequestWaitingForABusyPoolTimesOutAndThePoolStillWorks() async throws {
        var configuration = try TestServer.configuration()
        configuration.pool = .init(maximumConnections: 1, leaseTimeout: .milliseconds(200))
        try await self.withClient(configuration) { client in
            try await client.withConnection { connection in
                do {
                    try await client.query("SELECT 1")
                    XCTFail("expected a timeout")
                } catch let error as MySQLError {
                    XCTAssertEqual(error.code, .timeout, "\(error)")
                    XCTAssertTrue(error.message.contains("all busy"), "\(error)")
                }
                try await connection.query("SELECT 2")
            }
            let value = try await client.query("SELECT 3 AS n").rows[0].decode(Int.self, column: "n")
            XCTAssertEqual(value, 3)
            XCTAssertEqual(client.pool.counts.open, 1)
        }
    }

    func testCancelledWaitingRequestLeavesTheQueue() async throws {
        var configuration = try TestServer.configuration()
        configuration.pool = .init(maximumConnections: 1, leaseTimeout: nil)
        try await self.withClient(configuration) { client in
            try await client.withConnection { _ in
                let waiting = Task { try await client.query("SELECT 1") }
                while client.pool.counts.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
                waiting.cancel()
                do {
                    _ = try await waiting.value
                    XCTFail("expected a cancellation")
                } catch is CancellationError {}
                XCTAssertEqual(client.pool.counts.waiting, 0)
            }
            let value = try await client.query("SELECT 4 AS n").rows[0].decode(Int.self, column: "n")
            XCTAssertEqual(value, 4)
        }
    }

    func testConnectionsAboveTheMinimumCloseWhenIdle() async throws {
        var configuration = try TestServer.configuration()
        configuration.pool = .init(minimumConnections: 1, maximumConnections: 4, idleTimeout: .milliseconds(100))
        try await self.withClient(configuration) { client in
            // Four at once need four connections.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { try await client.query("SELECT SLEEP(0.2)") } }
                try await group.waitForAll()
            }
            var open = client.pool.counts.open
            XCTAssertGreaterThan(open, 1)
            for _ in 0..<100 where open > 1 {
                try await Task.sleep(for: .milliseconds(50))
                open = client.pool.counts.open
            }
            XCTAssertEqual(open, 1, "the minimum stays")
            let value = try await client.query("SELECT 5 AS n").rows[0].decode(Int.self, column: "n")
            XCTAssertEqual(value, 5)
        }
    }
}
