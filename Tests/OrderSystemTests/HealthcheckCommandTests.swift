import ArgumentParser
import ClientTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
@testable import OrderSystemCLI
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ordersystem healthcheck`: what the compose file's healthchecks run inside the slim image.
final class HealthcheckCommandTests: XCTestCase {
    func testURLPartsAreParsed() {
        let plain = HTTPHealthProbe.Target("http://127.0.0.1:8080/health")
        XCTAssertEqual(plain?.host, "127.0.0.1")
        XCTAssertEqual(plain?.port, 8080)
        XCTAssertEqual(plain?.pathAndQuery, "/health")
        let defaults = HTTPHealthProbe.Target("HTTP://order-service")
        XCTAssertEqual(defaults?.host, "order-service")
        XCTAssertEqual(defaults?.port, 80)
        XCTAssertEqual(defaults?.pathAndQuery, "/")
        XCTAssertEqual(defaults?.hostHeader, "order-service")
        let query = HTTPHealthProbe.Target("http://localhost:8081/health?verbose=1#top")
        XCTAssertEqual(query?.pathAndQuery, "/health?verbose=1", "the fragment is not sent")
        let onlyQuery = HTTPHealthProbe.Target("http://localhost:8081?x=1")
        XCTAssertEqual(onlyQuery?.pathAndQuery, "/?x=1")
        let ipv6 = HTTPHealthProbe.Target("http://[::1]:8082/health")
        XCTAssertEqual(ipv6?.host, "::1", "bare, as getaddrinfo wants it")
        XCTAssertEqual(ipv6?.port, 8082)
        XCTAssertEqual(ipv6?.authority, "[::1]:8082")
        XCTAssertEqual(HTTPHealthProbe.Target("http://[::1]/")?.port, 80)
        for bad in ["https://127.0.0.1/health", "127.0.0.1:8080/health", "http://", "http://:8080/", "http://host:0/",
                    "http://host:65536/", "http://host:port/", "http://[::1/", "http://[::1]x/", "http://user:pw@host/"] {
            XCTAssertNil(HTTPHealthProbe.Target(bad), bad)
        }
    }

    // MARK: - Answers

    func testA200AnswerPassesAndExitsZero() async throws {
        try await Self.withServer { port in
            let outcome = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(port)/ok", timeout: 3)
            XCTAssertEqual(outcome, .answered(status: 200, firstLine: #"{"status":"healthy"}"#))
            XCTAssertTrue(outcome.passed)
            // Through the root command, as `ordersystem healthcheck --url …` runs it: no error means exit 0.
            try await Self.run(["healthcheck", "--url", "http://127.0.0.1:\(port)/ok"])
        }
    }

    func testA503AnswerFailsWithItsStatusAndFirstLine() async throws {
        try await Self.withServer { port in
            let outcome = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(port)/down", timeout: 3)
            XCTAssertEqual(outcome, .answered(status: 503, firstLine: #"{"status":"unhealthy"}"#))
            XCTAssertFalse(outcome.passed)
            XCTAssertEqual(outcome.description, #"HTTP 503 {"status":"unhealthy"}"#)
            try await Self.assertExitsWithFailure(["healthcheck", "--url", "http://127.0.0.1:\(port)/down"])
        }
    }

    func testOther2xxPassAndOtherStatusesFail() async throws {
        try await Self.withServer { port in
            let accepted = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(port)/accepted", timeout: 3)
            XCTAssertEqual(accepted, .answered(status: 204, firstLine: ""))
            XCTAssertTrue(accepted.passed)
            let missing = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(port)/missing", timeout: 3)
            guard case .answered(404, _) = missing else { return XCTFail("expected a 404, got \(missing)") }
            XCTAssertFalse(missing.passed)
        }
    }

    /// The real thing: `ordersystem all`'s three services on ephemeral ports, each one's actual `/health`.
    func testEachRealServicesHealthEndpointPasses() async throws {
        let directory = try TemporaryDirectory(prefix: "ordersystem-healthcheck")
        defer { directory.remove() }
        var configuration = try AllCommand.parse([
            "--data-dir", directory.path, "--order-port", "0", "--analytics-port", "0", "--notification-port", "0",
            "--hostname", "127.0.0.1",
        ]).resolve(environment: [:])
        configuration.logLevel = .critical
        try await withRunningSystem(configuration) { ports, _ in
            for name in ServiceName.allCases {
                let outcome = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(ports[name])/health", timeout: 3)
                XCTAssertTrue(outcome.passed, "\(name.rawValue): \(outcome)")
                guard case .answered(200, let firstLine) = outcome else { continue }
                XCTAssertTrue(firstLine.contains(#""status":"healthy""#), firstLine)
            }
        }
    }

    // MARK: - No answer

    func testNothingListeningFailsWithAClearMessage() async throws {
        let port = try Self.unusedPort()
        let outcome = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(port)/health", timeout: 3)
        XCTAssertFalse(outcome.passed)
        XCTAssertEqual(outcome.description, "cannot connect to 127.0.0.1:\(port): Connection refused")
        try await Self.assertExitsWithFailure(["healthcheck", "--url", "http://127.0.0.1:\(port)/health"])
    }

    func testAServerThatNeverAnswersFailsWithinTheTimeout() async throws {
        // A listening socket nobody accepts from: the kernel completes the connection, no byte ever comes back.
        let listener = try SilentListener()
        defer { listener.stop() }
        let started = ContinuousClock.now
        let outcome = await HTTPHealthProbe.check(url: "http://127.0.0.1:\(listener.port)/health", timeout: 0.5)
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(outcome.description, "127.0.0.1:\(listener.port): no answer within 0.5s")
        XCTAssertFalse(outcome.passed)
        // Not a speed assertion: only that the deadline bounds the wait at all.
        XCTAssertLessThan(elapsed, .seconds(10))
        try await Self.assertExitsWithFailure(["healthcheck", "--url", "http://127.0.0.1:\(listener.port)/", "--timeout", "0.3"])
    }

    func testUnusableArgumentsAreRefused() async throws {
        let https = await HTTPHealthProbe.check(url: "https://127.0.0.1/health", timeout: 1)
        XCTAssertEqual(https, .failed("not a plain http URL with a host: https://127.0.0.1/health"))
        let unresolvable = await HTTPHealthProbe.check(url: "http://no-such-host.invalid/health", timeout: 1)
        XCTAssertTrue(unresolvable.description.hasPrefix("cannot resolve no-such-host.invalid"), unresolvable.description)
        XCTAssertThrowsError(try OrderSystemCommand.parseAsRoot(["healthcheck", "--url", "http://x/", "--timeout", "0"]))
        for huge in ["1e300", "inf", "nan", "86401"] {
            XCTAssertThrowsError(
                try OrderSystemCommand.parseAsRoot(["healthcheck", "--url", "http://x/", "--timeout", huge]), huge)
        }
        XCTAssertThrowsError(try OrderSystemCommand.parseAsRoot(["healthcheck"]), "--url is required")
    }

    // MARK: - Helpers

    /// Parses `arguments` as the root command does and runs the result; the command must be `healthcheck`.
    private static func run(_ arguments: [String]) async throws {
        let parsed = try OrderSystemCommand.parseAsRoot(arguments)
        guard let command = parsed as? HealthcheckCommand else {
            throw TestFailure("\(arguments) parsed as \(type(of: parsed)), not HealthcheckCommand")
        }
        try await command.run()
    }

    private static func assertExitsWithFailure(
        _ arguments: [String], file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        do {
            try await Self.run(arguments)
            XCTFail("\(arguments) passed", file: file, line: line)
        } catch let exit as ExitCode {
            XCTAssertEqual(exit, .failure, file: file, line: line)
        }
    }

    /// Runs a small Hummingbird server on 127.0.0.1 with fixed answers while `body` runs.
    private static func withServer(_ body: (Int) async throws -> Void) async throws {
        let router = Router()
        router.get("/ok") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"healthy\"}\nsecond line\n")))
        }
        router.get("/down") { _, _ in
            Response(status: .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"unhealthy"}"#)))
        }
        router.get("/accepted") { _, _ in HTTPResponse.Status.noContent }
        let port = Mutex(0)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } },
            logger: testLogger("healthcheck-server")
        )
        let group = ServiceGroup(configuration: .init(services: [application], logger: testLogger("healthcheck-server")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let started = await eventually { port.withLock { $0 } != 0 }
                XCTAssertTrue(started, "the test server did not start")
                try await body(port.withLock { $0 })
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// A port nothing listens on: bound once to learn a free one, then released.
    private static func unusedPort() throws -> Int {
        let listener = try SilentListener()
        let port = listener.port
        listener.stop()
        return port
    }
}

/// A TCP socket listening on 127.0.0.1 that never accepts, so clients connect (through the backlog) and wait forever.
private struct SilentListener {
    private let socket: LoopbackSocket
    var port: Int { self.socket.port }

    init() throws { self.socket = try LoopbackSocket(listening: true) }

    func stop() { self.socket.close() }
}
