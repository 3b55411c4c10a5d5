import NIOCore
import XCTest

@testable import MySQLClient

/// `caching_sha2_password` full authentication: the password goes in clear only inside TLS, and is encrypted only to
/// a pinned key or to one the configuration allowed asking the server for; the tests decrypt with the key pair's
/// private half, as the server would.
final class FullAuthenticationTests: XCTestCase {
    /// The XOR of "orderpass" + NUL with ``Fixture/nonce``: what the server decrypts.
    private let xoredPassword = Fixture.bytes("5e4057514746564b1262")

    private func machine(
        tls: MySQLAuthenticationStateMachine.TLSPolicy = .disabled, password: String = "orderpass",
        pinnedKey: String? = nil, allowRetrieval: Bool = false
    ) -> MySQLConnectionStateMachine {
        MySQLConnectionStateMachine(
            authentication: MySQLAuthenticationStateMachine(
                username: "orderuser", password: password, database: "order_db", tlsPolicy: tls,
                serverPublicKeyPEM: pinnedKey, allowPublicKeyRetrieval: allowRetrieval))
    }

    /// Runs the handshake (in plain text) and the server's "perform full authentication"; returns the answer.
    private func fullAuthenticationRequested(_ machine: inout MySQLConnectionStateMachine)
        -> [MySQLConnectionStateMachine.Action]
    {
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        return machine.packetReceived(Fixture.packet("01 04", sequenceID: 2))
    }

    private func sent(
        _ actions: [MySQLConnectionStateMachine.Action], file: StaticString = #filePath, line: UInt = #line
    ) -> (payload: [UInt8], sequenceID: UInt8)?
    {
        guard actions.count == 1, case .send(let payload, let sequenceID) = actions[0] else {
            XCTFail("expected one send, got \(actions)", file: file, line: line)
            return nil
        }
        return (Array(payload.readableBytesView), sequenceID)
    }

    private func failure(
        _ actions: [MySQLConnectionStateMachine.Action], file: StaticString = #filePath, line: UInt = #line
    ) -> MySQLError?
    {
        XCTAssertFalse(
            actions.contains { if case .send = $0 { return true } else { return false } },
            "nothing may be sent: \(actions)", file: file, line: line)
        guard case .failConnect(let error) = actions.first, actions.last == .close else {
            XCTFail("expected a failed connect, got \(actions)", file: file, line: line)
            return nil
        }
        return error
    }

    func testOverTLSTheClearPasswordIsSentInsideTheTunnel() throws {
        var machine = self.machine(tls: .preferred)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        _ = machine.tlsEstablished()
        let answer = try XCTUnwrap(self.sent(machine.packetReceived(Fixture.packet("01 04", sequenceID: 3))))
        XCTAssertEqual(answer.sequenceID, 4)
        XCTAssertEqual(answer.payload, Array("orderpass".utf8) + [0])
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 5)),
            [.connected(connectionID: 11, serverVersion: "8.0.36")])
    }

    func testOverTLSNoKeyIsUsedEvenWhenOneIsPinned() throws {
        var machine = self.machine(tls: .required, pinnedKey: TestRSAKeys.strongPublicKeyPEM, allowRetrieval: true)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        _ = machine.tlsEstablished()
        let answer = try XCTUnwrap(self.sent(machine.packetReceived(Fixture.packet("01 04", sequenceID: 3))))
        XCTAssertEqual(answer.payload, Array("orderpass".utf8) + [0])
    }

    func testPlainTextWithoutPinnedKeyOrRetrievalFailsNamingTheWaysOutAndNeverRequestsTheKey() throws {
        var machine = self.machine(password: "s3cret-pw")
        let error = try XCTUnwrap(self.failure(self.fullAuthenticationRequested(&machine)))
        XCTAssertEqual(error.code, .authenticationFailed)
        for wayOut in ["DB_TLS_MODE", "DB_SERVER_PUBLIC_KEY", "DB_ALLOW_PUBLIC_KEY_RETRIEVAL=true"] {
            XCTAssertTrue(error.message.contains(wayOut), "\(wayOut) in \(error.message)")
        }
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
        XCTAssertTrue(machine.isClosed)
    }

    func testPreferredAgainstAServerWithoutTLSStillNeverRequestsTheKey() throws {
        var machine = self.machine(tls: .preferred)
        _ = machine.packetReceived(
            Fixture.packet(Fixture.mySQL8Handshake.replacingOccurrences(of: "ffff ff", with: "fff7 ff"), sequenceID: 0))
        XCTAssertFalse(machine.isNegotiatingTLS, "the altered handshake offers no TLS")
        let error = try XCTUnwrap(self.failure(machine.packetReceived(Fixture.packet("01 04", sequenceID: 2))))
        XCTAssertEqual(error.code, .authenticationFailed)
    }

    func testPinnedKeyEncryptsToThatKeyWithoutAskingTheServer() throws {
        var machine = self.machine(pinnedKey: TestRSAKeys.strongPublicKeyPEM, allowRetrieval: true)
        let answer = try XCTUnwrap(self.sent(self.fullAuthenticationRequested(&machine)))
        XCTAssertEqual(answer.sequenceID, 3)
        XCTAssertEqual(answer.payload.count, 256, "one 2048-bit RSA block, not a key request")
        XCTAssertEqual(try TestRSAKeys.decrypt(answer.payload), self.xoredPassword)
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 4)),
            [.connected(connectionID: 11, serverVersion: "8.0.36")])
    }

    func testEncryptionIsRandomizedYetDecryptsToTheXoredPassword() throws {
        let key = TestRSAKeys.strongPublicKeyPEM
        let first = try MySQLRSA.encrypt(self.xoredPassword, publicKeyPEM: key, keyOrigin: "the test key")
        let second = try MySQLRSA.encrypt(self.xoredPassword, publicKeyPEM: key, keyOrigin: "the test key")
        XCTAssertNotEqual(first, second, "OAEP draws a fresh seed each time")
        XCTAssertEqual(try TestRSAKeys.decrypt(first), self.xoredPassword)
        XCTAssertEqual(try TestRSAKeys.decrypt(second), self.xoredPassword)
    }

    func testPinned1024BitKeyIsRefusedAndNothingIsSent() throws {
        var machine = self.machine(password: "s3cret-pw", pinnedKey: TestRSAKeys.weakPublicKeyPEM)
        let error = try XCTUnwrap(self.failure(self.fullAuthenticationRequested(&machine)))
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("1024-bit"), error.message)
        XCTAssertTrue(error.message.contains("2048"), error.message)
        XCTAssertTrue(error.message.contains("DB_SERVER_PUBLIC_KEY"), error.message)
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
    }

    func testRetrievalWhenAllowedRequestsTheKeyAndEncryptsToIt() throws {
        var machine = self.machine(allowRetrieval: true)
        let request = try XCTUnwrap(self.sent(self.fullAuthenticationRequested(&machine)))
        XCTAssertEqual(request.payload, [0x02], "request_public_key")
        XCTAssertEqual(request.sequenceID, 3)
        var key = ByteBuffer(bytes: [0x01])
        key.writeString(TestRSAKeys.strongPublicKeyPEM + "\n")
        let answer = try XCTUnwrap(self.sent(machine.packetReceived(MySQLPacket(sequenceID: 4, payload: key))))
        XCTAssertEqual(answer.sequenceID, 5)
        XCTAssertEqual(try TestRSAKeys.decrypt(answer.payload), self.xoredPassword)
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 6)),
            [.connected(connectionID: 11, serverVersion: "8.0.36")])
    }

    func testRetrieved1024BitKeyIsRefused() throws {
        var machine = self.machine(password: "s3cret-pw", allowRetrieval: true)
        _ = self.fullAuthenticationRequested(&machine)
        var key = ByteBuffer(bytes: [0x01])
        key.writeString(TestRSAKeys.weakPublicKeyPEM)
        let error = try XCTUnwrap(self.failure(machine.packetReceived(MySQLPacket(sequenceID: 4, payload: key))))
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("1024-bit"), error.message)
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
    }

    func testMalformedRetrievedKeyFailsClearly() throws {
        var machine = self.machine(allowRetrieval: true)
        _ = self.fullAuthenticationRequested(&machine)
        var key = ByteBuffer(bytes: [0x01])
        key.writeString("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")
        let error = try XCTUnwrap(self.failure(machine.packetReceived(MySQLPacket(sequenceID: 4, payload: key))))
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("not a PEM RSA public key"), error.message)
    }

    func testPasswordTooLongForTheKeyFailsInsteadOfSendingIt() throws {
        var machine = self.machine(
            password: String(repeating: "p", count: 300), pinnedKey: TestRSAKeys.strongPublicKeyPEM)
        let error = try XCTUnwrap(self.failure(self.fullAuthenticationRequested(&machine)))
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("too long"), error.message)
        XCTAssertFalse(error.message.contains(String(repeating: "p", count: 20)))
    }
}
