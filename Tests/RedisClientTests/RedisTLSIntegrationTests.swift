import ClientTestSupport
import Logging
import NIOCore
import RedisClient
import TestSupport
import XCTest

/// TLS and ACL users against the stack's Redis: its TLS-only port (`REDIS_TLS_PORT`, a certificate from the stack's
/// private authority naming `localhost` and `127.0.0.1`) and its plain one.
final class RedisTLSIntegrationTests: XCTestCase {
    /// Fails unless `error` is there and its message holds `text`.
    private func assert(_ error: RedisError?, says text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(error?.message.contains(text) == true, "\(String(describing: error))", file: file, line: line)
    }

    private func tlsConfiguration(
        host: String = "127.0.0.1", caFile: String? = nil, serverName: String? = nil, clientCertificate: Bool = false
    ) throws -> RedisConfiguration {
        let stack = try RealServers.tls()
        let plain = try RealServers.redis()
        return RedisConfiguration(
            host: host, port: stack.redisPort, password: plain.password,
            tls: .init(
                caFile: caFile ?? stack.caFile,
                certificateFile: clientCertificate ? stack.clientCertificateFile : nil,
                keyFile: clientCertificate ? stack.clientKeyFile : nil,
                serverName: serverName),
            minimumConnections: 0, connectTimeout: .seconds(3), commandTimeout: .seconds(3),
            circuitBreakerTripAfter: .milliseconds(500))
    }

    /// Connects once and returns the error, failing the test when it connects.
    private func connectError(_ configuration: RedisConfiguration) async -> RedisError? {
        do {
            let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
            try await connection.ping()
            connection.close()
            XCTFail("connected and answered with \(configuration)")
            return nil
        } catch {
            return error
        }
    }

    func testVerifiedTLSWorksForPooledAndSharedConnectionsByAddressAndByName() async throws {
        let byAddress = try self.tlsConfiguration()
        try await withRedisClient(configuration: byAddress, logger: testLogger()) { client in
            let key = uniquePrefix() + "tls"
            // Plain commands go over the shared connections, concurrently.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await client.set("\(key):\(index)", value: "v\(index)", expiration: .seconds(60))
                    }
                }
                try await group.waitForAll()
            }
            let value = try await client.getString("\(key):7")
            XCTAssertEqual(value, "v7")
            // A leased connection of its own is TLS too.
            let pong = try await client.withConnection { connection in try await connection.ping() }
            XCTAssertEqual(pong, "PONG")
            try await client.delete((0..<20).map { "\(key):\($0)" })
        }
        let byName = [try self.tlsConfiguration(serverName: "localhost"), try self.tlsConfiguration(host: "localhost")]
        for configuration in byName {
            let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
            let pong = try await connection.ping()
            XCTAssertEqual(pong, "PONG", "\(configuration)")
            connection.close()
        }
    }

    func testCertificateFromAnotherAuthorityFailsWithATLSErrorSayingTheChainDidNotVerify() async throws {
        let other = try RealServers.tls().otherCAFile
        let error = await self.connectError(try self.tlsConfiguration(caFile: other))
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "did not verify against the CA file \(other)")

        // Through the pool the caller gets the same explanation, not a bare timeout.
        let pooled = try self.tlsConfiguration(caFile: other)
        try await withRedisClient(configuration: pooled, logger: testLogger()) { client in
            do {
                try await client.ping()
                XCTFail("PING succeeded")
            } catch let error as RedisError {
                XCTAssertTrue("\(error)".contains("did not verify"), "\(error)")
            }
        }
    }

    func testWrongServerNameIsRefusedWithATLSErrorNamingIt() async throws {
        let error = await self.connectError(try self.tlsConfiguration(serverName: "wrong.example"))
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "not valid for the name wrong.example")
    }

    func testClientCertificateIsAccepted() async throws {
        let configuration = try self.tlsConfiguration(clientCertificate: true)
        let connection = try await RedisConnection.connect(configuration: configuration, logger: testLogger())
        let pong = try await connection.ping()
        XCTAssertEqual(pong, "PONG")
        connection.close()
    }

    func testPlainClientAgainstTheTLSPortIsToldTheServerMayRequireTLS() async throws {
        let stack = try RealServers.tls()
        let server = try RealServers.redis()
        // Without AUTH or SELECT, the first command finds out; with SELECT, connecting does.
        let plain = RedisConfiguration(host: server.host, port: stack.redisPort, password: server.password)
        var error = await self.connectError(plain)
        self.assert(error, says: "closed the connection before the handshake finished")
        self.assert(error, says: "may require TLS (set REDIS_TLS=true)")
        var selecting = plain
        selecting.database = 0
        error = await self.connectError(selecting)
        XCTAssertEqual(error?.code, .connectFailed, "\(String(describing: error))")
        self.assert(error, says: "may require TLS (set REDIS_TLS=true)")
    }

    func testTLSClientAgainstThePlainPortGetsAHandshakeErrorSayingItMayNotSpeakTLS() async throws {
        let server = try RealServers.redis()
        var configuration = try self.tlsConfiguration()
        configuration.port = server.port
        let error = await self.connectError(configuration)
        XCTAssertEqual(error?.code, .tls, "\(String(describing: error))")
        self.assert(error, says: "may not speak TLS on this port")
    }

    func testACLUserAuthenticatesWithAuthUsernamePasswordAndAWrongPasswordIsNeverShown() async throws {
        let user = "redisclient-test-\(UInt32.random(in: 0...UInt32.max))"
        let password = "acl/p@ss#w0rd:\(UInt32.random(in: 0...UInt32.max))"
        try await withRedisClient { admin in
            _ = try await admin.send(
                command: "ACL", arguments: ["SETUSER", .init(user), "on", .init(">" + password), "~*", "+@all"])
        }
        let server = try RealServers.redis()
        do {
            let right = RedisConfiguration(host: server.host, port: server.port, password: password, username: user)
            let connection = try await RedisConnection.connect(configuration: right, logger: testLogger())
            let whoami = try await connection.send(command: "ACL", arguments: ["WHOAMI"])
            XCTAssertEqual(whoami.string, user)
            connection.close()

            let logs = LogRecorder()
            let wrong = RedisConfiguration(
                host: server.host, port: server.port, password: password + "-wrong", username: user,
                minimumConnections: 0, commandTimeout: .seconds(2), circuitBreakerTripAfter: .milliseconds(300))
            try await withRedisClient(configuration: wrong, logger: logs.logger()) { client in
                do {
                    try await client.ping()
                    XCTFail("PING succeeded with a wrong password")
                } catch let error as RedisError {
                    XCTAssertEqual(error.serverPrefix, "WRONGPASS", "\(error)")
                    XCTAssertFalse("\(error)".contains(password), "\(error)")
                }
            }
            XCTAssertFalse(logs.all.isEmpty, "nothing was logged")
            for line in logs.all { XCTAssertFalse(line.contains(password), line) }
        }
        try await withRedisClient { admin in
            _ = try await admin.send(command: "ACL", arguments: ["DELUSER", .init(user)])
        }
    }

    func testNoLogLineShowsThePasswordThroughConnectAuthFailureAndReconnection() async throws {
        let password = "log-secret-\(UInt32.random(in: 0...UInt32.max))"
        let server = try ThrowawayServer.start(.redis, password: password)
        defer { server.down() }
        let logs = LogRecorder()
        let configuration = RedisConfiguration(
            port: server.port, password: password, minimumConnections: 2, connectTimeout: .seconds(1),
            commandTimeout: .seconds(1), circuitBreakerTripAfter: .milliseconds(500))
        try await withRedisClient(configuration: configuration, logger: logs.logger()) { client in
            try await client.ping()
            try server.kill()
            _ = try? await client.ping()
            // Reconnection attempts fail (and are logged) while the server is down.
            let failedToReconnect = await eventually { logs.all.contains { $0.contains("cannot connect to Redis") } }
            XCTAssertTrue(failedToReconnect)
            try server.startAgain()
            let recovered = await eventually(interval: .milliseconds(100)) { (try? await client.ping()) == "PONG" }
            XCTAssertTrue(recovered, "the client did not reconnect")
        }
        var wrong = configuration
        wrong.password = password + "-wrong"
        wrong.minimumConnections = 0
        try await withRedisClient(configuration: wrong, logger: logs.logger()) { client in
            _ = try? await client.ping()
        }
        let lines = logs.all
        XCTAssertTrue(lines.contains { $0.contains("connected to Redis") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("cannot connect to Redis") }, "\(lines)")
        for line in lines { XCTAssertFalse(line.contains(password), line) }
    }
}
