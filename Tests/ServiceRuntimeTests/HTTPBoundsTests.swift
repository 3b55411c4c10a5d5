import Hummingbird
import NIOCore
import ServiceCore
import ServiceRuntime
import TestSupport
import XCTest

/// The HTTP listener's bounds (docs/OPERATIONS.md, "HTTP connections"): the connection cap answers 503 while the
/// ops port keeps answering, and the header-read and idle timeouts close connections that hold a slot for nothing.
final class HTTPBoundsTests: XCTestCase {
    /// A request the test router answers.
    private static let hello = "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n"

    func testConnectionsBeyondTheCapAreAnswered503WhileTheOpsPortAnswers() async throws {
        let settings = HTTPServerSettings(idleTimeout: .seconds(60), headerTimeout: .seconds(10), maxConnections: 3, opsPort: 0)
        try await self.withServer(settings) { port, opsPort in
            // Three connections, each proven open by a first request answered on it.
            var held: [TCPConnection] = []
            for _ in 0..<3 {
                let connection = try TCPConnection(port: port)
                connection.send(Self.hello)
                XCTAssertTrue(connection.receive(until: "hello").text.hasPrefix("HTTP/1.1 200"))
                held.append(connection)
            }

            let refused = try TCPConnection(port: port)
            refused.send(Self.hello)
            let answer = refused.receive(until: "}")
            XCTAssertTrue(answer.text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), answer.text)
            XCTAssertTrue(answer.text.contains("Retry-After: 1\r\n"), answer.text)
            XCTAssertTrue(answer.text.contains(#""error":"unavailable""#), answer.text)
            XCTAssertTrue(answer.text.contains("HTTP_MAX_CONNECTIONS"), answer.text)
            XCTAssertTrue(refused.waitForClose(), "a refused connection is closed by the server")

            // Health and metrics live on the ops port, which answers while the service port is full.
            let live = try await self.get("/health/live", port: opsPort)
            XCTAssertTrue(live.hasPrefix("HTTP/1.1 200"), live)
            XCTAssertTrue(live.contains(#"{"status":"alive"}"#), live)
            let metrics = try await self.get("/metrics", port: opsPort)
            XCTAssertTrue(metrics.contains(#"http_connections_refused_total{listener="service"} 1"#), metrics)
            XCTAssertTrue(metrics.contains(#"http_connections_open{listener="service"} 3"#), metrics)

            // A slot given back is taken by the next connection; the service port no longer serves health.
            held.removeFirst().close()
            let served = try await self.eventually { try await self.get("/hello", port: port) }
            XCTAssertTrue(served.hasPrefix("HTTP/1.1 200"), served)
            let health = try await self.eventually(expecting: "HTTP/1.1 404") { try await self.get("/health", port: port) }
            XCTAssertTrue(health.hasPrefix("HTTP/1.1 404"), "health is on the ops port only: \(health)")
            for connection in held { connection.close() }
        }
    }

    func testAClientDrippingItsHeadersIsClosedAfterTheHeaderTimeout() async throws {
        let settings = HTTPServerSettings(idleTimeout: .seconds(60), headerTimeout: .milliseconds(300))
        try await self.withServer(settings) { port, _ in
            // Prompt requests on one connection are unaffected.
            let prompt = try TCPConnection(port: port)
            for _ in 0..<3 {
                XCTAssertTrue(prompt.send(Self.hello))
                XCTAssertTrue(prompt.receive(until: "hello").text.hasPrefix("HTTP/1.1 200"))
            }
            prompt.close()

            let dripping = try TCPConnection(port: port)
            dripping.send("GET /hello HTTP/1.1\r\n")
            var closedByServer = false
            // One header byte every 100 ms would hold the connection for 60 s under the idle timeout alone.
            for byte in Array("X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8) {
                try await Task.sleep(for: .milliseconds(100))
                if !dripping.send([byte]) {
                    closedByServer = true
                    break
                }
            }
            if !closedByServer { closedByServer = dripping.waitForClose() }
            XCTAssertTrue(closedByServer, "the server closed a head that took more than HTTP_HEADER_TIMEOUT")
            dripping.close()
        }
    }

    func testAnIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        let settings = HTTPServerSettings(idleTimeout: .milliseconds(400), headerTimeout: .seconds(10))
        try await self.withServer(settings) { port, _ in
            let idle = try TCPConnection(port: port, timeoutMilliseconds: 10_000)
            idle.send(Self.hello)
            XCTAssertTrue(idle.receive(until: "hello").text.hasPrefix("HTTP/1.1 200"))
            XCTAssertTrue(idle.waitForClose(), "the server closed a connection idle for HTTP_IDLE_TIMEOUT")
            idle.close()
        }
    }

    // MARK: - Helpers

    /// Runs a service application with `settings` and one route, `/hello`, while `body` runs.
    private func withServer(
        _ settings: HTTPServerSettings,
        _ body: (_ port: Int, _ opsPort: Int) async throws -> Void
    ) async throws {
        let metrics = ServiceMetrics()
        let health = HealthMonitor(service: "test", checks: [])
        let router = ServiceApplication.router(metrics: metrics, health: health, http: settings)
        router.get("/hello") { _, _ in "hello" }
        let ports = PortWaiter()
        let application = ServiceApplication.make(
            router: router, hostname: "127.0.0.1", port: 0, http: settings, metrics: metrics, health: health,
            services: [],
            onServerRunning: { channel in await ports.set(\.service, channel.localAddress?.port ?? -1) },
            onOpsServerRunning: { channel in await ports.set(\.ops, channel.localAddress?.port ?? -1) },
            logger: testLogger("http-bounds")
        )
        try await withRunningServices([application]) {
            let (port, opsPort) = try await ports.wait(ops: settings.opsPort != nil)
            try await body(port, opsPort)
        }
    }

    private func get(_ path: String, port: Int) async throws -> String {
        let connection = try TCPConnection(port: port)
        defer { connection.close() }
        connection.send("GET \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        let reply = connection.receive(until: "\u{0}")
        return reply.text
    }

    /// `body`'s answer once it starts with `status`, retrying for a few seconds (a closed connection gives its slot
    /// back asynchronously).
    private func eventually(expecting status: String = "HTTP/1.1 200", _ body: () async throws -> String) async throws -> String {
        var last = ""
        for _ in 0..<50 {
            last = try await body()
            if last.hasPrefix(status) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }
}

/// The bound ports, learned from the servers' start callbacks.
private actor PortWaiter {
    struct Ports {
        var service: Int?
        var ops: Int?
    }

    private var ports = Ports()

    func set(_ key: WritableKeyPath<Ports, Int?>, _ port: Int) {
        self.ports[keyPath: key] = port
    }

    func wait(ops: Bool) async throws -> (Int, Int) {
        for _ in 0..<200 {
            if let service = self.ports.service, !ops || self.ports.ops != nil { return (service, self.ports.ops ?? -1) }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("the servers did not start")
    }
}
