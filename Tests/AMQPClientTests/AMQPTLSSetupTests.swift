import AMQPClient
import ClientTestSupport
import NIOCore
import XCTest

/// TLS settings and the errors for the wrong kind of port, against in-process servers (no broker needed).
final class AMQPTLSSetupTests: XCTestCase {
    /// Fails unless `error` is there and its message holds `text`.
    private func assert(_ error: AMQPError?, says text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(error?.message.contains(text) == true, "\(String(describing: error))", file: file, line: line)
    }

    /// What plain RabbitMQ answers to bytes that are not an AMQP header (a TLS ClientHello): its own header, then it
    /// closes.
    private static let amqpHeader: [UInt8] = Array("AMQP".utf8) + [0, 0, 9, 1]

    func testBadTLSSettingsFailTheConnectWithATLSErrorNamingTheProblem() async throws {
        let cases: [(AMQPConnectionConfiguration.TLS, String)] = [
            (.init(caFile: "/nonexistent/ca.pem"), "could not read the CA file /nonexistent/ca.pem"),
            (.init(keyFile: "/nonexistent/client.key"), "a client certificate needs its key"),
            (.init(serverName: "::1"), "is an IP address"),
        ]
        for (settings, expected) in cases {
            let error = await TestEnvironment.connectError(AMQPConnectionConfiguration(port: 1, tls: settings))
            XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
            self.assert(error, says: expected)
        }
    }

    func testPlainClientWhoseServerClosesBeforeAnsweringIsToldItMayRequireTLS() async throws {
        let server = try await RudeServer.start(reply: [], thenClose: true)
        defer { Task { await server.stop() } }
        let error = await TestEnvironment.connectError(
            try AMQPConnectionConfiguration(url: "amqp://u:hunter2-secret@127.0.0.1:\(server.port)/"))
        XCTAssertEqual(error?.code, .connectionClosed, "\(String(describing: error))")
        self.assert(error, says: "closed the connection before the AMQP handshake finished")
        self.assert(error, says: "may require TLS")
        self.assert(error, says: "amqps://")
        XCTAssertFalse("\(String(describing: error))".contains("hunter2-secret"))
    }

    func testPlainClientAnsweredWithATLSAlertGetsATLSError() async throws {
        let server = try await RudeServer.start(reply: RudeServer.tlsAlert, thenClose: true)
        defer { Task { await server.stop() } }
        let error = await TestEnvironment.connectError(AMQPConnectionConfiguration(port: server.port))
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "closed the connection before the AMQP handshake finished")
        self.assert(error, says: "requires TLS on this port (use an amqps:// URL)")
    }

    func testTLSClientAgainstAPlainBrokerGetsAHandshakeErrorSayingItMayNotSpeakTLS() async throws {
        let server = try await RudeServer.start(reply: Self.amqpHeader, thenClose: true)
        defer { Task { await server.stop() } }
        let error = await TestEnvironment.connectError(try AMQPConnectionConfiguration(url: "amqps://127.0.0.1:\(server.port)"))
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "TLS handshake with 127.0.0.1:\(server.port)")
        self.assert(error, says: "may not speak TLS on this port")
    }

    func testTLSHandshakeThatNeverFinishesFailsAtTheConnectTimeoutWithATLSError() async throws {
        let server = try await RudeServer.start(reply: [], thenClose: false)
        defer { Task { await server.stop() } }
        var configuration = try AMQPConnectionConfiguration(url: "amqps://127.0.0.1:\(server.port)")
        configuration.connectTimeout = .milliseconds(300)
        let started = ContinuousClock.now
        let error = await TestEnvironment.connectError(configuration)
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "did not finish within")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
    }

    func testRecoveringClientTellsWhyItIsNotConnected() async throws {
        let server = try await RudeServer.start(reply: Self.amqpHeader, thenClose: true)
        defer { Task { await server.stop() } }
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: "amqps://u:hunter2-secret@127.0.0.1:\(server.port)"),
            backoff: .init(initial: .milliseconds(50), maximum: .milliseconds(100)), logger: TestEnvironment.logger)
        let runner = Task { try await client.run() }
        defer { runner.cancel() }
        do {
            try await client.waitUntilConnected(timeout: .milliseconds(500))
            XCTFail("connected")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .timeout, "\(error)")
            XCTAssertTrue(error.message.contains("last attempt: AMQPError(tls)"), "\(error)")
            XCTAssertFalse("\(error)".contains("hunter2-secret"), "\(error)")
        }
    }
}
