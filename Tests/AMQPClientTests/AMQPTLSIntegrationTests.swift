import AMQPClient
import ClientTestSupport
import NIOCore
import XCTest

/// `amqps://` and hostile passwords against the stack's RabbitMQ: its TLS-only listener (`RABBITMQ_TLS_PORT`, a
/// certificate from the stack's private authority naming `localhost` and `127.0.0.1`), its plain one, and its user
/// whose password holds `/`, `@`, `#` and `:` (`RABBITMQ_SECRET_USER`, `RABBITMQ_SECRET_PASSWORD`).
final class AMQPTLSIntegrationTests: XCTestCase {
    /// Fails unless `error` is there and its message holds `text`.
    private func assert(_ error: AMQPError?, says text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(error?.message.contains(text) == true, "\(String(describing: error))", file: file, line: line)
    }

    /// `amqps://guest:guest@HOST:TLS_PORT/` with the stack's authority and the given changes.
    private func tlsConfiguration(
        host: String = "127.0.0.1", caFile: String? = nil, serverName: String? = nil, clientCertificate: Bool = false
    ) throws -> AMQPConnectionConfiguration {
        let stack = try TestEnvironment.tls()
        var configuration = try AMQPConnectionConfiguration(url: "amqps://guest:guest@\(host):\(stack.port)/")
        configuration.tls?.caFile = caFile ?? stack.caFile
        configuration.tls?.serverName = serverName
        if clientCertificate {
            configuration.tls?.certificateFile = stack.clientCertificateFile
            configuration.tls?.keyFile = stack.clientKeyFile
        }
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// The plain listener's address, from `RABBITMQ_URL`.
    private func plainConfiguration() throws -> AMQPConnectionConfiguration {
        try AMQPConnectionConfiguration(url: try TestEnvironment.rabbitMQURL())
    }

    /// Connects, declares and deletes a queue, publishes to it with a confirm and reads it back, then closes.
    private func roundTrip(_ configuration: AMQPConnectionConfiguration) async throws {
        let connection = try await AMQPConnection.connect(configuration: configuration, logger: TestEnvironment.logger)
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("tls")
        try await channel.queueDeclare(name: queue, autoDelete: false)
        try await channel.confirmSelect()
        try await channel.publish(ByteBuffer(string: "over TLS"), exchange: "", routingKey: queue)
        let delivery = try await channel.get(queue: queue, noAck: true)
        XCTAssertEqual(delivery.map { String(buffer: $0.body) }, "over TLS")
        _ = try await channel.queueDelete(name: queue)
        try await connection.close()
    }

    func testVerifiedTLSConnectionWorksByAddressByServerNameAndByTheURLsHost() async throws {
        try await self.roundTrip(try self.tlsConfiguration())
        try await self.roundTrip(try self.tlsConfiguration(serverName: "localhost"))
        // amqps://guest:guest@localhost:PORT/ verifies the name localhost, the URL's host.
        try await self.roundTrip(try self.tlsConfiguration(host: "localhost"))
    }

    func testRecoveringClientPublishesOverTLS() async throws {
        let client = AMQPClient(configuration: try self.tlsConfiguration(), logger: TestEnvironment.logger)
        let runner = Task { try await client.run() }
        defer { runner.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        let queue = TestEnvironment.uniqueName("tls.client")
        try await client.declareQueue(name: queue, durable: false, autoDelete: true)
        try await client.publish(ByteBuffer(string: "hello"), exchange: "", routingKey: queue, mandatory: true)
    }

    func testCertificateFromAnotherAuthorityFailsWithATLSErrorSayingTheChainDidNotVerify() async throws {
        let other = try TestEnvironment.tls().otherCAFile
        let error = await TestEnvironment.connectError(try self.tlsConfiguration(caFile: other))
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "did not verify against the CA file \(other)")
    }

    func testWrongServerNameIsRefusedWithATLSErrorNamingIt() async throws {
        let error = await TestEnvironment.connectError(try self.tlsConfiguration(serverName: "wrong.example"))
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "not valid for the name wrong.example")
    }

    func testClientCertificateIsAccepted() async throws {
        try await self.roundTrip(try self.tlsConfiguration(clientCertificate: true))
    }

    func testPlainClientAgainstTheTLSPortIsToldTheBrokerRequiresTLS() async throws {
        let stack = try TestEnvironment.tls()
        let plainURL = "amqp://guest:guest@127.0.0.1:\(stack.port)/"
        let error = await TestEnvironment.connectError(try AMQPConnectionConfiguration(url: plainURL))
        XCTAssertNotNil(error)
        self.assert(error, says: "closed the connection before the AMQP handshake finished")
        self.assert(error, says: "TLS")
        self.assert(error, says: "amqps://")
    }

    func testTLSClientAgainstThePlainPortGetsAHandshakeErrorSayingItMayNotSpeakTLS() async throws {
        var configuration = try self.tlsConfiguration()
        configuration.port = try self.plainConfiguration().port
        let error = await TestEnvironment.connectError(configuration)
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "may not speak TLS on this port")
    }

    func testHostilePasswordConnectsPercentEncodedAndIsRefusedRawWithoutAppearingInTheError() async throws {
        let (user, password) = try TestEnvironment.secretUser()
        let plain = try self.plainConfiguration()
        let encoded = "amqp://\(TestEnvironment.percentEncoded(user)):\(TestEnvironment.percentEncoded(password))"
            + "@\(plain.host):\(plain.port)/"
        let configuration = try AMQPConnectionConfiguration(url: encoded)
        XCTAssertEqual(configuration.password, password)
        try await self.roundTrip(configuration)
        XCTAssertFalse(configuration.description.contains(password))

        // Over TLS too.
        let stack = try TestEnvironment.tls()
        var tls = try AMQPConnectionConfiguration(
            url: "amqps://\(TestEnvironment.percentEncoded(user)):\(TestEnvironment.percentEncoded(password))"
                + "@127.0.0.1:\(stack.port)/")
        tls.tls?.caFile = stack.caFile
        try await self.roundTrip(tls)

        let raw = "amqp://\(user):\(password)@\(plain.host):\(plain.port)/"
        XCTAssertThrowsError(try AMQPConnectionConfiguration(url: raw)) { error in
            let text = "\(error)"
            XCTAssertEqual((error as? AMQPError)?.code, .invalidArgument, text)
            XCTAssertTrue(text.contains("percent-encode"), text)
            XCTAssertFalse(text.contains("\(user):"), text)
            self.assertNoPiece(of: password, in: text)
        }
    }

    func testNoLogLineOrErrorShowsTheHostilePasswordThroughConnectAuthFailureAndReconnection() async throws {
        let (user, password) = try TestEnvironment.secretUser()
        let plain = try self.plainConfiguration()
        let proxy = try await DroppingProxy.start(targetHost: plain.host, targetPort: plain.port)
        defer { Task { await proxy.stop() } }
        let logs = LogRecorder()
        let url = "amqp://\(TestEnvironment.percentEncoded(user)):\(TestEnvironment.percentEncoded(password))"
            + "@127.0.0.1:\(proxy.port)/"
        let client = AMQPClient(
            configuration: try AMQPConnectionConfiguration(url: url),
            backoff: .init(initial: .milliseconds(50), maximum: .milliseconds(200)), logger: logs.logger("amqp"))
        let runner = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        proxy.dropAll()
        // Reconnected: a second connection opened after the loss was logged.
        func reconnected() -> Bool {
            let lines = logs.all
            guard let lost = lines.firstIndex(where: { $0.contains("AMQP connection lost, reconnecting") }) else {
                return false
            }
            return lines[lost...].contains { $0.contains("AMQP connection open") }
        }
        _ = await eventually(timeout: .seconds(10)) { reconnected() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        runner.cancel()
        _ = try? await runner.value

        // A wrong password, close to the right one.
        var wrong = try AMQPConnectionConfiguration(url: url)
        wrong.password = password + "x"
        let failing = AMQPClient(
            configuration: wrong, backoff: .init(initial: .milliseconds(50), maximum: .milliseconds(200)),
            logger: logs.logger("amqp"))
        let failingRunner = Task { try await failing.run() }
        do {
            try await failing.waitUntilConnected(timeout: .seconds(2))
            XCTFail("connected with a wrong password")
        } catch {
            XCTAssertTrue("\(error)".contains("authenticationFailed"), "\(error)")
            self.assertNoPiece(of: password, in: "\(error)")
        }
        failingRunner.cancel()
        _ = try? await failingRunner.value
        let direct = await TestEnvironment.connectError(wrong)
        XCTAssertEqual(direct?.code, .authenticationFailed, "\(String(describing: direct))")
        self.assertNoPiece(of: password, in: "\(String(describing: direct))")

        let lines = logs.all
        XCTAssertTrue(lines.contains { $0.contains("AMQP connection lost, reconnecting") }, "\(lines)")
        XCTAssertTrue(reconnected(), "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("AMQP connection failed, retrying") }, "\(lines)")
        for line in lines { self.assertNoPiece(of: password, in: line) }
    }

    /// Neither the password, nor its percent-encoded form, nor any six characters of it in a row appear in `text`.
    private func assertNoPiece(
        of password: String, in text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertFalse(text.contains(password), "the password in: \(text)", file: file, line: line)
        XCTAssertFalse(
            text.contains(TestEnvironment.percentEncoded(password)), "the encoded password in: \(text)", file: file,
            line: line)
        let characters = Array(password)
        for start in 0...max(0, characters.count - 6) {
            let piece = String(characters[start..<min(characters.count, start + 6)])
            XCTAssertFalse(text.contains(piece), "a piece of the password in: \(text)", file: file, line: line)
        }
    }
}
