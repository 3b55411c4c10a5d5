import ClientTestSupport
import Logging
import XCTest

@testable import MySQLClient

/// TLS against the real MariaDB, which `scripts/stack` serves with certificates from a private authority
/// (`STACK_TLS_*`; the server certificate names `DNS:localhost` and `IP:127.0.0.1` only). Whether a connection is
/// encrypted is what the server says: `Ssl_cipher` is empty for plain text.
final class TLSIntegrationTests: XCTestCase {
    private func configuration(
        _ tls: MySQLConfiguration.TLS, username: String = "orderuser", password: String = "orderpass",
        database: String? = "order_db"
    ) throws -> MySQLConfiguration {
        var configuration = try TestServer.configuration(database: database)
        configuration.username = username
        configuration.password = password
        configuration.tls = tls
        return configuration
    }

    private func connect(
        _ tls: MySQLConfiguration.TLS, username: String = "orderuser", password: String = "orderpass",
        logger: Logger = TestServer.logger
    ) async throws -> MySQLConnection {
        try await MySQLConnection.connect(
            configuration: self.configuration(tls, username: username, password: password), logger: logger)
    }

    /// The connection's cipher as the server reports it; empty for plain text.
    private static func cipher(_ connection: MySQLConnection) async throws -> String {
        let rows = try await connection.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'").rows
        return try rows.first?.decode(String.self, column: "Value") ?? ""
    }

    /// Connects, checks that the server sees TLS, and that both protocols work through the tunnel.
    private func assertEncryptedAndWorking(
        _ tls: MySQLConfiguration.TLS, file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let connection = try await self.connect(tls)
        defer { connection.close() }
        let cipher = try await Self.cipher(connection)
        XCTAssertFalse(cipher.isEmpty, "mode \(tls.mode) should encrypt", file: file, line: line)
        XCTAssertTrue(connection.isTLS, file: file, line: line)
        let text = try await connection.query("SELECT 41 + 1 AS n")
        XCTAssertEqual(try text.rows.first?.decode(Int.self, column: "n"), 42, file: file, line: line)
        let binary = try await connection.query("SELECT ? AS s", [.string(String(repeating: "x", count: 100_000))])
        XCTAssertEqual(try binary.rows.first?.decode(String.self, column: "s").count, 100_000, file: file, line: line)
    }

    /// The ``MySQLError/Code/tls`` error connecting with `tls` gives; `nil` (and a failure) when it connects.
    private func tlsError(
        _ tls: MySQLConfiguration.TLS, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> MySQLError? {
        do {
            let connection = try await self.connect(tls, password: "orderpass")
            connection.close()
            XCTFail("mode \(tls.mode) should have refused the connection", file: file, line: line)
            return nil
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .tls, "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains("orderpass"), file: file, line: line)
            return error
        }
    }

    func testDisabledConnectsInPlainText() async throws {
        _ = try TestTLSFiles.fromEnvironment()  // the server offers TLS: disabled must still not use it
        let connection = try await self.connect(.disabled)
        defer { connection.close() }
        let cipher = try await Self.cipher(connection)
        XCTAssertEqual(cipher, "")
        XCTAssertFalse(connection.isTLS)
    }

    func testPreferredUsesTLSWhenTheServerOffersIt() async throws {
        _ = try TestTLSFiles.fromEnvironment()
        try await self.assertEncryptedAndWorking(.init(mode: .preferred))
    }

    func testRequiredEncryptsWithoutVerifyingTheCertificate() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        // A CA that signed nothing the server presents: only verify-ca and verify-identity use it.
        try await self.assertEncryptedAndWorking(.init(mode: .required, caFile: files.otherCAFile))
    }

    func testVerifyCAWithTheStackAuthorityConnects() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        try await self.assertEncryptedAndWorking(.init(mode: .verifyCA, caFile: files.caFile))
    }

    func testVerifyIdentityChecksTheIPAddressConnectedTo() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        let (host, _) = try TestServer.address()
        XCTAssertEqual(host, "127.0.0.1", "the certificate names IP:127.0.0.1")
        try await self.assertEncryptedAndWorking(.init(mode: .verifyIdentity, caFile: files.caFile))
    }

    func testVerifyIdentityChecksTheServerNameWhenGiven() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        try await self.assertEncryptedAndWorking(
            .init(mode: .verifyIdentity, caFile: files.caFile, serverName: "localhost"))
    }

    func testVerifyCAWithAnotherAuthorityFailsWithACertificateError() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        guard let error = try await self.tlsError(.init(mode: .verifyCA, caFile: files.otherCAFile)) else { return }
        XCTAssertTrue(error.message.contains("did not verify"), error.message)
        XCTAssertTrue(error.message.contains(files.otherCAFile), error.message)
        XCTAssertTrue(error.message.contains("DB_TLS_CA"), error.message)
    }

    func testVerifyCAWithoutACAFileChecksTheSystemRoots() async throws {
        _ = try TestTLSFiles.fromEnvironment()
        guard let error = try await self.tlsError(.init(mode: .verifyCA)) else { return }
        XCTAssertTrue(error.message.contains("system's trust roots"), error.message)
    }

    func testVerifyIdentityRefusesACertificateForAnotherName() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        guard
            let error = try await self.tlsError(
                .init(mode: .verifyIdentity, caFile: files.caFile, serverName: "wrong.example"))
        else { return }
        XCTAssertTrue(error.message.contains("not valid for the name wrong.example"), error.message)
        XCTAssertTrue(error.message.contains("verify-ca"), error.message)
    }

    func testVerifyCAIgnoresTheNameThatVerifyIdentityRefuses() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        try await self.assertEncryptedAndWorking(
            .init(mode: .verifyCA, caFile: files.caFile, serverName: "wrong.example"))
    }

    func testClientCertificateIsSentAndAccepted() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        let admin = try TestTLSFiles.admin()
        // An account that REQUIRE X509 proves the certificate went out: without one the server refuses it.
        let user = "x509_\(UInt32.random(in: 0...UInt32.max))"
        let adminConnection = try await self.connect(
            .init(mode: .verifyIdentity, caFile: files.caFile), username: admin.user, password: admin.password)
        defer { adminConnection.close() }
        try await adminConnection.query("CREATE USER '\(user)'@'%' IDENTIFIED BY 'x509pass' REQUIRE X509")
        do {
            let mutual = MySQLConfiguration.TLS(
                mode: .verifyIdentity, caFile: files.caFile, certificateFile: files.clientCertificateFile,
                keyFile: files.clientKeyFile)
            let connection = try await MySQLConnection.connect(
                configuration: self.configuration(mutual, username: user, password: "x509pass", database: nil),
                logger: TestServer.logger)
            let cipher = try await Self.cipher(connection)
            XCTAssertFalse(cipher.isEmpty)
            await connection.closeAndWait()
            do {
                let withoutCertificate = try await MySQLConnection.connect(
                    configuration: self.configuration(
                        .init(mode: .verifyIdentity, caFile: files.caFile), username: user, password: "x509pass",
                        database: nil),
                    logger: TestServer.logger)
                withoutCertificate.close()
                XCTFail("an account that requires X509 accepted a client without a certificate")
            } catch let error as MySQLError {
                XCTAssertEqual(error.code, .authenticationFailed, "\(error)")
            }
        } catch {
            _ = try? await adminConnection.query("DROP USER '\(user)'@'%'")
            throw error
        }
        try await adminConnection.query("DROP USER '\(user)'@'%'")
    }

    func testClientThroughThePoolSharesOneVerifiedTLSSetup() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        let client = MySQLClient(
            configuration: try self.configuration(.init(mode: .verifyIdentity, caFile: files.caFile)),
            logger: TestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await withThrowingTaskGroup(of: String.self) { queries in
                for _ in 0..<8 {
                    queries.addTask {
                        try await client.withConnection { try await Self.cipher($0) }
                    }
                }
                for try await cipher in queries { XCTAssertFalse(cipher.isEmpty) }
            }
        }
    }

    /// Runs `body` while the server requires secure transport, and always sets it back (tests run one at a time;
    /// other clients of the server briefly need TLS too).
    private func withSecureTransportRequired(_ body: () async throws -> Void) async throws {
        let files = try TestTLSFiles.fromEnvironment()
        let admin = try TestTLSFiles.admin()
        let adminTLS = MySQLConfiguration.TLS(mode: .verifyIdentity, caFile: files.caFile)
        let adminConnection = try await self.connect(adminTLS, username: admin.user, password: admin.password)
        func restore() async throws {
            do {
                try await adminConnection.query("SET GLOBAL require_secure_transport = OFF")
            } catch {
                // The first connection broke: a new one, over TLS as the server now demands.
                let again = try await self.connect(adminTLS, username: admin.user, password: admin.password)
                try await again.query("SET GLOBAL require_secure_transport = OFF")
                await again.closeAndWait()
            }
            await adminConnection.closeAndWait()
        }
        do {
            try await adminConnection.query("SET GLOBAL require_secure_transport = ON")
            try await body()
        } catch {
            try await restore()
            throw error
        }
        try await restore()
    }

    func testServerRequiringSecureTransportRefusesPlainTextClearlyAndAcceptsTLS() async throws {
        try await self.withSecureTransportRequired {
            do {
                let connection = try await self.connect(.disabled)
                connection.close()
                XCTFail("a plain-text client was accepted under require_secure_transport")
            } catch let error as MySQLError {
                // MariaDB answers 1045, as for a wrong password; the message says what else it may mean.
                XCTAssertEqual(error.serverErrorNumber, 1045, "\(error)")
                XCTAssertTrue(error.message.contains("the server requires TLS"), error.message)
                XCTAssertTrue(error.message.contains("DB_TLS_MODE"), error.message)
                XCTAssertFalse("\(error)".contains("orderpass"))
            }
            let connection = try await self.connect(.init(mode: .required))
            let cipher = try await Self.cipher(connection)
            XCTAssertFalse(cipher.isEmpty)
            await connection.closeAndWait()
        }
    }

    func testWrongPasswordInsideTLSIsAnAuthenticationErrorWithoutHintOrPassword() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        do {
            let connection = try await self.connect(
                .init(mode: .verifyIdentity, caFile: files.caFile), password: "wrong-s3cret")
            connection.close()
            XCTFail("expected an authentication error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .authenticationFailed, "\(error)")
            XCTAssertEqual(error.serverErrorNumber, 1045)
            XCTAssertFalse(error.message.contains("requires TLS"), error.message)
            XCTAssertFalse("\(error)".contains("wrong-s3cret"))
        }
    }

    func testNoLogLineOrErrorOfTheConnectAndAuthPathsContainsThePassword() async throws {
        let files = try TestTLSFiles.fromEnvironment()
        let logs = LogRecorder()
        let password = "s3cret-\(UInt32.random(in: 0...UInt32.max))"
        var errors: [String] = []
        let attempts: [MySQLConfiguration.TLS] = [
            .disabled, .init(mode: .preferred), .init(mode: .verifyIdentity, caFile: files.caFile),
            .init(mode: .verifyCA, caFile: files.otherCAFile),
            .init(mode: .verifyIdentity, caFile: files.caFile, serverName: "wrong.example"),
        ]
        for tls in attempts {
            do {
                let connection = try await self.connect(tls, password: password, logger: logs.logger())
                connection.close()
            } catch {
                errors.append("\(error)")
            }
        }
        // The pool logs failed attempts too.
        var configuration = try self.configuration(.init(mode: .preferred), password: password)
        configuration.pool.circuitBreakerTripAfter = .milliseconds(300)
        let client = MySQLClient(configuration: configuration, logger: logs.logger())
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do { try await client.query("SELECT 1") } catch { errors.append("\(error)") }
        }
        XCTAssertEqual(errors.count, attempts.count + 1, "\(errors)")
        XCTAssertFalse(logs.all.isEmpty, "debug logging was recorded")
        for line in errors + logs.all {
            XCTAssertFalse(line.contains(password), line)
        }
    }
}
