import ClientTestSupport
import NIOCore
import TestSupport
import XCTest

@testable import RedisClient

/// `AUTH` with and without an ACL user, TLS settings, and the errors for the wrong kind of port, against in-process
/// servers (no real Redis needed).
final class RedisAuthAndTLSSetupTests: XCTestCase {
    private func encoded(_ command: RedisCommand) -> String {
        var buffer = ByteBuffer()
        RESPEncoder.encode(command, into: &buffer)
        return String(buffer: buffer)
    }

    func testAuthIsAuthUsernamePasswordWithAUserAndAuthPasswordWithout() {
        XCTAssertEqual(
            self.encoded(.auth(username: "orders", password: "s3cret")),
            "*3\r\n$4\r\nAUTH\r\n$6\r\norders\r\n$6\r\ns3cret\r\n")
        XCTAssertEqual(self.encoded(.auth(password: "s3cret")), "*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n")
        XCTAssertEqual(RedisCommand.auth(username: "orders", password: "s3cret").description, "AUTH")
    }

    func testConnectAuthenticatesAsTheACLUserWhenOneIsSetAndWithThePasswordAloneOtherwise() async throws {
        let server = try await FakeRedisServer.start(.answer)
        defer { Task { await server.stop() } }
        let withUser = RedisConfiguration(port: server.port, password: "s3cret", username: "orders")
        let first = try await RedisConnection.connect(configuration: withUser, logger: testLogger())
        first.close()
        let withoutUser = RedisConfiguration(port: server.port, password: "s3cret")
        let second = try await RedisConnection.connect(configuration: withoutUser, logger: testLogger())
        second.close()
        let noPassword = RedisConfiguration(port: server.port, username: "orders")
        let third = try await RedisConnection.connect(configuration: noPassword, logger: testLogger())
        try await third.ping()
        third.close()

        let lines = server.snapshot.commandLinesByConnection
        XCTAssertEqual(lines[0], [["AUTH", "orders", "s3cret"]])
        XCTAssertEqual(lines[1], [["AUTH", "s3cret"]])
        XCTAssertEqual(lines[2], [["PING"]], "a user name without a password sends no AUTH")
    }

    func testDescriptionShowsTheUserAndTLSButNeverThePassword() {
        let plain = RedisConfiguration(host: "cache", password: "hunter2-secret", username: "orders")
        XCTAssertFalse(plain.description.contains("hunter2-secret"), plain.description)
        XCTAssertTrue(plain.description.contains("username: orders"), plain.description)
        XCTAssertTrue(plain.description.contains("tls: off"), plain.description)
        XCTAssertNil(RedisConfiguration().tls, "plain text is the default")

        let tls = RedisConfiguration(
            host: "cache", password: "hunter2-secret",
            tls: .init(caFile: "/etc/ca.pem", certificateFile: "/etc/client.pem", keyFile: "/etc/client.key",
                       serverName: "cache.internal"))
        XCTAssertFalse(tls.description.contains("hunter2-secret"), tls.description)
        XCTAssertTrue(tls.description.contains("CA file /etc/ca.pem"), tls.description)
        XCTAssertTrue(tls.description.contains("server name cache.internal"), tls.description)
    }

    func testBadTLSSettingsFailTheConnectWithATLSErrorNamingTheProblem() async throws {
        let cases: [(RedisConfiguration.TLS, String)] = [
            (.init(caFile: "/nonexistent/ca.pem"), "could not read the CA file /nonexistent/ca.pem"),
            (.init(certificateFile: "/nonexistent/client.pem"), "a client certificate needs its key"),
            (.init(serverName: "127.0.0.1"), "is an IP address"),
        ]
        for (settings, expected) in cases {
            let configuration = RedisConfiguration(port: 1, tls: settings)
            do {
                _ = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
                XCTFail("connected with \(settings)")
            } catch {
                XCTAssertEqual(error.code, .tls, "\(error)")
                XCTAssertTrue(error.message.contains(expected), "\(error)")
            }
        }
    }

    func testPlainClientWhoseServerClosesBeforeAnsweringIsToldTheServerMayRequireTLS() async throws {
        // What a TLS-only port does with plain text: close without a word.
        let server = try await RudeServer.start(reply: [], thenClose: true)
        defer { Task { await server.stop() } }

        // Without AUTH or SELECT nothing is sent while connecting: the first command gets the explanation.
        let connection = try await RedisConnection.connect(
            configuration: RedisConfiguration(port: server.port), logger: testLogger())
        do {
            try await connection.ping()
            XCTFail("PING succeeded")
        } catch {
            XCTAssertEqual(error.code, .connectionClosed, "\(error)")
            XCTAssertTrue(error.message.contains("closed the connection before the handshake finished"), "\(error)")
            XCTAssertTrue(error.message.contains("may require TLS (set REDIS_TLS=true)"), "\(error)")
        }

        // With AUTH, connecting itself fails with it.
        do {
            _ = try await RedisConnection.connect(
                configuration: RedisConfiguration(port: server.port, password: "s3cret"), logger: testLogger())
            XCTFail("connected")
        } catch {
            XCTAssertEqual(error.code, .connectFailed, "\(error)")
            XCTAssertTrue(error.message.contains("may require TLS"), "\(error)")
            XCTAssertFalse("\(error)".contains("s3cret"), "\(error)")
        }
    }

    func testPlainClientAnsweredWithATLSAlertGetsATLSError() async throws {
        let server = try await RudeServer.start(reply: RudeServer.tlsAlert, thenClose: true)
        defer { Task { await server.stop() } }
        let connection = try await RedisConnection.connect(
            configuration: RedisConfiguration(port: server.port), logger: testLogger())
        do {
            try await connection.ping()
            XCTFail("PING succeeded")
        } catch {
            XCTAssertEqual(error.code, .tls, "\(error)")
            XCTAssertTrue(error.message.contains("requires TLS on this port (set REDIS_TLS=true)"), "\(error)")
        }
    }

    func testTLSClientAgainstAServerAnsweringPlainRESPGetsAHandshakeErrorSayingItMayNotSpeakTLS() async throws {
        // What plain Redis answers to a TLS ClientHello.
        let server = try await RudeServer.start(reply: Array("-ERR unknown command\r\n".utf8), thenClose: false)
        defer { Task { await server.stop() } }
        do {
            _ = try await RedisConnection.connect(
                configuration: RedisConfiguration(port: server.port, tls: .init()), logger: testLogger())
            XCTFail("connected")
        } catch {
            XCTAssertEqual(error.code, .tls, "\(error)")
            XCTAssertTrue(error.message.contains("TLS handshake with 127.0.0.1:\(server.port) failed"), "\(error)")
            XCTAssertTrue(error.message.contains("may not speak TLS on this port"), "\(error)")
        }
    }

    func testTLSHandshakeThatNeverFinishesFailsWithinTheConnectTimeout() async throws {
        let server = try await FakeRedisServer.start(.silent)
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        do {
            _ = try await RedisConnection.connect(
                configuration: RedisConfiguration(port: server.port, tls: .init(), connectTimeout: .milliseconds(300)),
                logger: testLogger())
            XCTFail("connected")
        } catch {
            XCTAssertEqual(error.code, .tls, "\(error)")
            XCTAssertTrue(error.message.contains("did not finish within"), "\(error)")
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
    }

    func testPoolReportsTheTLSErrorInsteadOfAVagueTimeout() async throws {
        let server = try await RudeServer.start(reply: Array("-ERR unknown command\r\n".utf8), thenClose: false)
        defer { Task { await server.stop() } }
        let configuration = RedisConfiguration(
            port: server.port, tls: .init(), minimumConnections: 0, commandTimeout: .seconds(2),
            circuitBreakerTripAfter: .milliseconds(200))
        try await withRedisClient(configuration: configuration, logger: testLogger()) { client in
            do {
                try await client.ping()
                XCTFail("PING succeeded")
            } catch let error as RedisError {
                XCTAssertTrue("\(error)".contains("may not speak TLS on this port"), "\(error)")
            }
        }
    }
}
