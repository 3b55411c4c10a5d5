import ClientTestSupport
import Clocks
import Logging
import NIOCore
import NIOPosix
import XCTest

@testable import MySQLClient

/// The client's own pool: lease timeout, cancellation of a waiting request, and, on a test clock that the tests
/// advance instead of sleeping, the idle timeout, keep-alive pings and the circuit breaker.
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

    /// Runs `body` with a running pool on `clock` that connects as `configuration` says, then shuts it down.
    private func withPool<Result: Sendable>(
        _ configuration: MySQLConfiguration, clock: TestClock<Duration>,
        _ body: @escaping @Sendable (MySQLConnectionPool<TestClock<Duration>>) async throws -> Result
    ) async throws -> Result {
        let pool = MySQLConnectionPool(
            configuration: configuration.pool, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, clock: clock,
            logger: TestServer.logger
        ) { id in
            try await MySQLConnection.connect(configuration: configuration, id: id, logger: TestServer.logger)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await pool.run() }
            defer { group.cancelAll() }
            return try await body(pool)
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
                let queued = await eventually { client.pool.counts.waiting == 1 }
                XCTAssertTrue(queued, "the request waits for the one busy connection")
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

    func testConnectionsAboveTheMinimumCloseOnceIdleForTheIdleTimeout() async throws {
        var configuration = try TestServer.configuration()
        configuration.pool = .init(
            minimumConnections: 1, maximumConnections: 4, idleTimeout: .seconds(10), keepAliveFrequency: nil)
        let clock = TestClock()
        try await self.withPool(configuration, clock: clock) { pool in
            // Four held at once need four connections; released together, they are idle from the same instant.
            var leased: [MySQLConnection] = []
            for _ in 0..<4 { leased.append(try await pool.lease()) }
            for connection in leased { pool.release(connection) }
            XCTAssertEqual(pool.counts.open, 4)

            await clock.advance(by: .seconds(9))
            XCTAssertEqual(pool.counts.open, 4, "none idled out before the idle timeout")
            let closed = await eventually(advancing: clock, by: .seconds(1)) { pool.counts.open == 1 }
            XCTAssertTrue(closed, "the connections above the minimum close; the minimum stays (\(pool.counts))")

            let connection = try await pool.lease()
            let value = try await connection.query("SELECT 5 AS n").rows[0].decode(Int.self, column: "n")
            pool.release(connection)
            XCTAssertEqual(value, 5)
        }
    }

    func testIdleConnectionsArePingedAtTheKeepAliveFrequencyAndStayUsable() async throws {
        var configuration = try TestServer.configuration()
        configuration.pool = .init(
            minimumConnections: 2, maximumConnections: 4, idleTimeout: .seconds(60), keepAliveFrequency: .seconds(10))
        configuration.connectionInitialization = ["SET @pool_marker = 1"]
        let clock = TestClock()
        try await self.withPool(configuration, clock: clock) { pool in
            let opened = await eventually { pool.counts.open == 2 && pool.counts.idle == 2 }
            XCTAssertTrue(opened, "the minimum is opened without any request")
            await clock.advance(by: .seconds(9))
            XCTAssertEqual(pool.history.keepAlivePings, 0, "no ping before the keep-alive frequency")
            // A ping is a real round trip: the clock moves on a second at a time until three rounds are done.
            let pinged = await eventually(advancing: clock, by: .seconds(1)) {
                pool.history.keepAlivePings >= 6 && pool.counts.idle == 2
            }
            XCTAssertTrue(pinged, "both idle connections pinged, again and again, and back (\(pool.history))")
            XCTAssertEqual(pool.counts.open, 2, "the pings kept both connections")
            let connection = try await pool.lease()
            let marker = try await connection.query("SELECT @pool_marker AS m").rows[0].decode(Int.self, column: "m")
            pool.release(connection)
            XCTAssertEqual(marker, 1, "still the connection that was set up, not a replacement")
        }
    }

    /// Needs no server: nothing listens on port 1. Only the test clock decides when the breaker trips.
    func testCircuitBreakerTripsOnlyAfterConnectingFailedForItsPeriodThenRequestsFailAtOnce() async throws {
        var configuration = MySQLConfiguration(
            host: "127.0.0.1", port: 1, username: "u", password: "p", connectTimeout: .seconds(5))
        configuration.pool = .init(maximumConnections: 1, circuitBreakerTripAfter: .seconds(15), leaseTimeout: nil)
        let clock = TestClock()
        try await self.withPool(configuration, clock: clock) { pool in
            let waiting = Task { try await pool.lease() }
            let failedOnce = await eventually { pool.history.connectFailures >= 1 }
            XCTAssertTrue(failedOnce)
            // Retries follow on the clock, but fail for less than the breaker's period: the request keeps waiting.
            let retried = await eventually(advancing: clock, by: .milliseconds(500), upTo: .seconds(14)) {
                pool.history.connectFailures >= 3
            }
            XCTAssertTrue(retried, "the backoff's sleeps ended on the test clock (\(pool.history))")
            XCTAssertFalse(pool.history.tripped)
            XCTAssertEqual(pool.counts.waiting, 1)

            // Each failure after 15 s of failing trips it; the retries run as the clock moves on.
            let tripped = await eventually(advancing: clock, by: .seconds(1)) { pool.history.tripped }
            XCTAssertTrue(tripped, "\(pool.history)")
            do {
                _ = try await waiting.value
                XCTFail("the waiting request fails once the breaker trips")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .connectionClosed, "\(error)")
            }
            do {
                _ = try await pool.lease()
                XCTFail("a tripped breaker with no connection refuses at once")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .connectionClosed, "\(error)")
                XCTAssertTrue(error.message.hasPrefix("no connection from the pool"), "\(error)")
            }
        }
    }
}
