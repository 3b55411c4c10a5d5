import ClientTestSupport
import NIOCore
import XCTest

@testable import MySQLClient

/// A statement whose task is cancelled returns at once with `CancellationError`, also while the server (or a paused
/// peer) does not answer, so that callers such as `withDeadline` are never held by a stuck socket. MySQL cannot
/// cancel a statement on its own connection, so the connection is closed, and the pool opens another.
///
/// The query timeouts here are far longer than any test: a statement that came back by its timeout, not by its
/// cancellation, would fail with a timeout error, not `CancellationError`.
final class CancellationTests: XCTestCase {
    private func configuration(port: Int) throws -> MySQLConfiguration {
        var configuration = try TestServer.configuration(queryTimeout: .seconds(600))
        configuration.host = "127.0.0.1"
        configuration.port = port
        // Plain text through the proxy; TLS would not change what is tested.
        configuration.tls.mode = .disabled
        return configuration
    }

    /// Runs `statement` in a child task, cancels it once `reached` returns, and returns how it ended.
    private func cancel(
        _ statement: @escaping @Sendable () async throws -> Void,
        once reached: () async -> Void
    ) async -> (any Error)? {
        await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                do {
                    try await statement()
                    return nil
                } catch {
                    return error
                }
            }
            await reached()
            group.cancelAll()
            return await group.next()!
        }
    }

    func testCancelledQueryOnAStalledConnectionReturnsAtOnceAndClosesTheConnection() async throws {
        let (host, port) = try TestServer.address()
        let proxy = try await StallingProxy.start(targetHost: host, targetPort: port)
        let connection = try await MySQLConnection.connect(
            configuration: try self.configuration(port: proxy.port), logger: TestServer.logger)
        await proxy.stall()

        let error = await self.cancel({ try await connection.query("SELECT 1") }, once: proxy.waitUntilHolding)
        XCTAssertTrue(error is CancellationError, "\(String(describing: error))")
        // Closed rather than left with an answer in flight that the next statement would take for its own.
        try await connection.channel.closeFuture.get()
        await proxy.stop()
    }

    func testPoolReplacesTheConnectionOfACancelledQuery() async throws {
        let (host, port) = try TestServer.address()
        let proxy = try await StallingProxy.start(targetHost: host, targetPort: port)
        var configuration = try self.configuration(port: proxy.port)
        // No keep-alive ping: it could be the statement the proxy holds.
        configuration.pool = .init(minimumConnections: 0, maximumConnections: 1, keepAliveFrequency: nil)
        let client = MySQLClient(configuration: configuration, logger: TestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let before = try await client.query("SELECT CONNECTION_ID() AS id").rows[0]
                .decode(UInt64.self, column: "id")
            await proxy.stall()

            let error = await self.cancel({ try await client.ping() }, once: proxy.waitUntilHolding)
            XCTAssertTrue(error is CancellationError, "\(String(describing: error))")

            await proxy.release()
            let after = try await client.query("SELECT CONNECTION_ID() AS id").rows[0]
                .decode(UInt64.self, column: "id")
            XCTAssertNotEqual(after, before, "the only connection was given back with the cancelled ping in flight")
        }
        await proxy.stop()
    }
}
