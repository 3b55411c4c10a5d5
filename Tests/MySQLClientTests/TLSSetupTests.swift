import Foundation
import Logging
import NIOCore
import NIOEmbedded
import XCTest

@testable import MySQLClient

/// The TLS setup built from the configuration (files, names) and the channel handler starting TLS after the
/// `SSLRequest`, without a server.
final class TLSSetupTests: XCTestCase {
    private func configuration(host: String = "127.0.0.1", _ tls: MySQLConfiguration.TLS) -> MySQLConfiguration {
        MySQLConfiguration(host: host, username: "orderuser", password: "s3cret-pw", tls: tls)
    }

    private func setupError(_ configuration: MySQLConfiguration, file: StaticString = #filePath, line: UInt = #line)
        -> MySQLError?
    {
        do {
            _ = try MySQLTLSSetup(configuration: configuration)
            XCTFail("expected an error", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.code, .tls, file: file, line: line)
            XCTAssertFalse("\(error)".contains("s3cret-pw"), file: file, line: line)
            return error
        }
    }

    func testDisabledBuildsNoContext() throws {
        XCTAssertNil(try MySQLTLSSetup(configuration: self.configuration(.disabled)).context)
        XCTAssertNotNil(try MySQLTLSSetup(configuration: self.configuration(.init(mode: .preferred))).context)
    }

    func testNameSentAndVerifiedIsTheServerNameElseAHostNameButNeverAnIPAddress() throws {
        XCTAssertNil(try MySQLTLSSetup(configuration: self.configuration(.init())).serverHostname)
        XCTAssertNil(try MySQLTLSSetup(configuration: self.configuration(host: "::1", .init())).serverHostname)
        XCTAssertEqual(
            try MySQLTLSSetup(configuration: self.configuration(host: "db.internal", .init())).serverHostname,
            "db.internal")
        XCTAssertEqual(
            try MySQLTLSSetup(configuration: self.configuration(.init(serverName: "localhost"))).serverHostname,
            "localhost")
        let error = self.setupError(self.configuration(.init(serverName: "10.0.0.1")))
        XCTAssertTrue(error?.message.contains("DNS name") == true, "\(String(describing: error))")
    }

    func testMissingCAFileFailsNamingTheFileAndTheVariable() {
        let path = "/nonexistent/ca-\(UInt32.random(in: 0...UInt32.max)).pem"
        let error = self.setupError(self.configuration(.init(mode: .verifyCA, caFile: path)))
        XCTAssertTrue(error?.message.contains(path) == true, "\(String(describing: error))")
        XCTAssertTrue(error?.message.contains("DB_TLS_CA") == true, "\(String(describing: error))")
    }

    func testCAFileWithoutACertificateFails() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-ca-\(UUID().uuidString).pem")
        try Data("not a certificate\n".utf8).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let error = self.setupError(self.configuration(.init(mode: .verifyIdentity, caFile: path.path)))
        XCTAssertTrue(error?.message.contains(path.path) == true, "\(String(describing: error))")
    }

    func testModesThatDoNotVerifyIgnoreTheCAFile() throws {
        let unused = "/nonexistent/ca.pem"
        XCTAssertNotNil(try MySQLTLSSetup(configuration: self.configuration(.init(mode: .required, caFile: unused))))
    }

    func testClientCertificateWithoutItsKeyFails() {
        let error = self.setupError(self.configuration(.init(mode: .required, certificateFile: "/tmp/client.pem")))
        XCTAssertTrue(error?.message.contains("DB_TLS_KEY") == true, "\(String(describing: error))")
    }

    func testMissingClientCertificateFailsNamingIt() {
        let tls = MySQLConfiguration.TLS(
            mode: .required, certificateFile: "/nonexistent/c.pem", keyFile: "/nonexistent/k.pem")
        let error = self.setupError(self.configuration(tls))
        XCTAssertTrue(error?.message.contains("/nonexistent/c.pem") == true, "\(String(describing: error))")
        XCTAssertTrue(error?.message.contains("DB_TLS_CERT") == true, "\(String(describing: error))")
    }

    func testConfigurationMirrorShowsTLSButNotThePassword() {
        var configuration = self.configuration(.init(mode: .verifyCA, caFile: "/etc/ca.pem"))
        configuration.allowPublicKeyRetrieval = true
        var dumped = ""
        dump(configuration, to: &dumped)
        XCTAssertTrue(dumped.contains("verify-ca"), dumped)
        XCTAssertTrue(dumped.contains("allowPublicKeyRetrieval"), dumped)
        XCTAssertFalse(dumped.contains("s3cret-pw"), dumped)
    }

    func testCertificateNamesMatchExactlyOrByAWildcardFirstLabel() {
        XCTAssertTrue(MySQLTLSSetup.name("localhost", matches: "localhost"))
        XCTAssertTrue(MySQLTLSSetup.name("DB.Example.com.", matches: "db.example.COM"))
        XCTAssertTrue(MySQLTLSSetup.name("db.example.com", matches: "*.example.com"))
        XCTAssertFalse(MySQLTLSSetup.name("wrong.example", matches: "localhost"))
        XCTAssertFalse(MySQLTLSSetup.name("a.b.example.com", matches: "*.example.com"), "one label only")
        XCTAssertFalse(MySQLTLSSetup.name("example.com", matches: "*.example.com"))
        XCTAssertFalse(MySQLTLSSetup.name("db.com", matches: "*.com"), "a wildcard needs two labels after it")
        XCTAssertFalse(MySQLTLSSetup.name("db.example.com", matches: "db*.example.com"))
    }

    // MARK: - The channel handler

    /// A handler whose configuration asks for TLS, on a connected embedded channel.
    private func channel(_ tls: MySQLConfiguration.TLS) async throws
        -> (EmbeddedChannel, EventLoopPromise<MySQLConnectionInfo>)
    {
        let channel = EmbeddedChannel()
        let promise = channel.eventLoop.makePromise(of: MySQLConnectionInfo.self)
        let configuration = self.configuration(tls)
        try channel.pipeline.syncOperations.addHandler(
            MySQLChannelHandler(
                authentication: MySQLAuthenticationStateMachine(configuration: configuration),
                tls: try MySQLTLSSetup(configuration: configuration), connectTimeout: .seconds(5),
                connectPromise: promise, logger: Logger(label: "test")))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3306)).get()
        return (channel, promise)
    }

    private func serverSends(_ channel: EmbeddedChannel, _ hex: String, sequenceID: UInt8) throws {
        var out = ByteBuffer()
        MySQLPacketEncoder.encode(payload: Fixture.buffer(hex), sequenceID: sequenceID, into: &out)
        try channel.writeInbound(out)
    }

    func testSSLRequestGoesOutInPlainTextThenTheTLSClientHello() async throws {
        let (channel, promise) = try await self.channel(.init(mode: .required))
        try self.serverSends(channel, Fixture.mySQL8Handshake, sequenceID: 0)
        var request = try XCTUnwrap(try channel.readOutbound(as: ByteBuffer.self))
        var decoder = MySQLPacketDecoder()
        let packet = try XCTUnwrap(try decoder.next(from: &request))
        XCTAssertEqual(packet.sequenceID, 1)
        XCTAssertEqual(packet.payload.readableBytes, 32, "an SSLRequest, not the handshake response")
        XCTAssertEqual(request.readableBytes, 0)
        let hello = try XCTUnwrap(try channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(hello.getInteger(at: hello.readerIndex, as: UInt8.self), 0x16, "a TLS handshake record")
        XCTAssertEqual(hello.getInteger(at: hello.readerIndex + 1, as: UInt8.self), 0x03)
        _ = try? channel.finish()
        do {
            _ = try await promise.futureResult.get()
            XCTFail("the connect cannot complete without a server")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .tls, "closed during the TLS handshake: \(error)")
        }
    }

    func testServerAnsweringTheClientHelloWithoutTLSFailsTheConnectWithATLSError() async throws {
        let (channel, promise) = try await self.channel(.init(mode: .required))
        try self.serverSends(channel, Fixture.mySQL8Handshake, sequenceID: 0)
        while try channel.readOutbound(as: ByteBuffer.self) != nil {}
        // A MySQL ERR packet where a TLS ServerHello should be.
        try? self.serverSends(channel, "ff 1504 23 3238303030 41636365737320646e6965", sequenceID: 2)
        do {
            _ = try await promise.futureResult.get()
            XCTFail("expected a TLS error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .tls, "\(error)")
            XCTAssertTrue(error.message.contains("TLS handshake with 127.0.0.1:3306 failed"), error.message)
            XCTAssertFalse("\(error)".contains("s3cret-pw"))
        }
        XCTAssertFalse(channel.isActive)
    }

    func testServerWithoutTLSFailsARequiredConnectBeforeAnythingIsSent() async throws {
        let (channel, promise) = try await self.channel(.init(mode: .verifyIdentity))
        try self.serverSends(channel, Fixture.mariaDBHandshake, sequenceID: 0)
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "neither credentials nor an SSLRequest")
        do {
            _ = try await promise.futureResult.get()
            XCTFail("expected a TLS error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .tls, "\(error)")
        }
        XCTAssertFalse(channel.isActive)
    }
}
