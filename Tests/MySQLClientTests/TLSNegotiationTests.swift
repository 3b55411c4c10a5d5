import NIOCore
import XCTest

@testable import MySQLClient

/// TLS inside the MySQL protocol, on the pure state machines: when the `SSLRequest` goes out, what happens when the
/// server offers no TLS, and that the handshake response waits for the tunnel.
final class TLSNegotiationTests: XCTestCase {
    private func machine(
        _ policy: MySQLAuthenticationStateMachine.TLSPolicy, password: String = "orderpass"
    ) -> MySQLConnectionStateMachine {
        MySQLConnectionStateMachine(
            authentication: MySQLAuthenticationStateMachine(
                username: "orderuser", password: password, database: "order_db", tlsPolicy: policy))
    }

    /// ``Fixture/mySQL8Handshake`` offers CLIENT_SSL; ``Fixture/mariaDBHandshake`` does not.
    func testFixturesDifferInCLIENTSSL() throws {
        let mySQL8 = try MySQLHandshakeV10(payload: Fixture.buffer(Fixture.mySQL8Handshake))
        let mariaDB = try MySQLHandshakeV10(payload: Fixture.buffer(Fixture.mariaDBHandshake))
        XCTAssertTrue(mySQL8.capabilities.contains(.ssl))
        XCTAssertFalse(mariaDB.capabilities.contains(.ssl))
    }

    func testSSLRequestIsSentWithSequenceOneThenTLSStartsWhenPreferredAndOffered() throws {
        var machine = self.machine(.preferred)
        let actions = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        XCTAssertEqual(actions.count, 2, "\(actions)")
        guard case .send(var request, let sequenceID) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(actions.last, .startTLS)
        XCTAssertEqual(sequenceID, 1)
        // Protocol::SSLRequest: HandshakeResponse41 cut before the user name, with CLIENT_SSL.
        XCTAssertEqual(request.readableBytes, 32)
        let capabilities = MySQLCapabilities(rawValue: request.readInteger(endianness: .little, as: UInt32.self)!)
        XCTAssertTrue(capabilities.isSuperset(of: [.ssl, .protocol41, .secureConnection, .pluginAuth]))
        XCTAssertEqual(request.readInteger(endianness: .little, as: UInt32.self), 1 << 30)
        XCTAssertEqual(request.readInteger(as: UInt8.self), 45)
        XCTAssertEqual(request.readBytes(length: 23), [UInt8](repeating: 0, count: 23))
        XCTAssertTrue(machine.isNegotiatingTLS)
        XCTAssertFalse(machine.isReady)
    }

    func testHandshakeResponseIsSentInsideTheTunnelWithSequenceTwo() throws {
        var machine = self.machine(.required)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let actions = machine.tlsEstablished()
        guard actions.count == 1, case .send(var response, let sequenceID) = actions[0] else {
            return XCTFail("\(actions)")
        }
        XCTAssertEqual(sequenceID, 2)
        let capabilities = MySQLCapabilities(rawValue: response.readInteger(endianness: .little, as: UInt32.self)!)
        XCTAssertTrue(capabilities.contains(.ssl))
        response.moveReaderIndex(forwardBy: 28)
        XCTAssertEqual(response.readMySQLCString(), "orderuser")
        XCTAssertEqual(
            response.readLengthEncodedSlice().map { Array($0.readableBytesView) },
            Fixture.bytes("bce1ea208fbb0638287fa1460bb66bca689197c27eaeaf2d2569ef7bb7cd8ebb"))
        XCTAssertEqual(response.readMySQLCString(), "order_db")
        XCTAssertEqual(response.readMySQLCString(), "caching_sha2_password")
        XCTAssertFalse(machine.isNegotiatingTLS)
        XCTAssertEqual(machine.packetReceived(Fixture.packet("01 03", sequenceID: 3)), [])
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 4)),
            [.connected(connectionID: 11, serverVersion: "8.0.36")])
        XCTAssertTrue(machine.isTLS)
    }

    func testDisabledNeverSendsSSLRequestEvenWhenOffered() throws {
        var machine = self.machine(.disabled)
        let actions = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        guard actions.count == 1, case .send(var response, let sequenceID) = actions[0] else {
            return XCTFail("\(actions)")
        }
        XCTAssertEqual(sequenceID, 1)
        XCTAssertGreaterThan(response.readableBytes, 32, "the full HandshakeResponse41, not an SSLRequest")
        let capabilities = MySQLCapabilities(rawValue: response.readInteger(endianness: .little, as: UInt32.self)!)
        XCTAssertFalse(capabilities.contains(.ssl))
        XCTAssertFalse(machine.isNegotiatingTLS)
    }

    func testPreferredContinuesInPlainTextWhenTheServerOffersNoTLS() throws {
        var machine = self.machine(.preferred)
        let actions = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        XCTAssertEqual(actions.count, 2, "\(actions)")
        XCTAssertEqual(actions.first, .continuingWithoutTLS)
        guard case .send(var response, let sequenceID) = actions.last else { return XCTFail("\(actions)") }
        XCTAssertEqual(sequenceID, 1)
        let capabilities = MySQLCapabilities(rawValue: response.readInteger(endianness: .little, as: UInt32.self)!)
        XCTAssertFalse(capabilities.contains(.ssl))
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 2)),
            [.connected(connectionID: 8, serverVersion: "5.5.5-10.11.6-MariaDB")])
        XCTAssertFalse(machine.isTLS)
    }

    func testRequiredFailsWithTLSErrorWhenTheServerOffersNoTLS() throws {
        var machine = self.machine(.required, password: "s3cret-pw")
        let actions = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        XCTAssertEqual(actions.count, 2, "nothing is sent: \(actions)")
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(actions.last, .close)
        XCTAssertEqual(error.code, .tls)
        XCTAssertTrue(error.message.contains("does not offer TLS"), error.message)
        XCTAssertTrue(error.message.contains("DB_TLS_MODE"), error.message)
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
        XCTAssertTrue(machine.isClosed)
    }

    func testVerifyModesRequireTLSInTheProtocol() {
        XCTAssertEqual(MySQLAuthenticationStateMachine.TLSPolicy(.disabled), .disabled)
        XCTAssertEqual(MySQLAuthenticationStateMachine.TLSPolicy(.preferred), .preferred)
        XCTAssertEqual(MySQLAuthenticationStateMachine.TLSPolicy(.required), .required)
        XCTAssertEqual(MySQLAuthenticationStateMachine.TLSPolicy(.verifyCA), .required)
        XCTAssertEqual(MySQLAuthenticationStateMachine.TLSPolicy(.verifyIdentity), .required)
    }

    func testTLSFailureFailsTheConnectWithTheGivenError() {
        var machine = self.machine(.required)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let error = MySQLError(code: .tls, message: "certificate refused")
        XCTAssertEqual(machine.tlsFailed(error), [.failConnect(error), .close])
        XCTAssertTrue(machine.isClosed)
    }

    func testChannelClosingDuringTheTLSHandshakeIsATLSError() {
        var machine = self.machine(.required)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let actions = machine.connectionClosed()
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .tls)
    }

    func testTimeoutDuringTheTLSHandshakeFailsTheConnect() {
        var machine = self.machine(.required)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let actions = machine.timedOut()
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .timeout)
    }

    func testAMySQLPacketWhileNegotiatingTLSIsAProtocolError() {
        var machine = self.machine(.required)
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let actions = machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 2))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .protocolError)
    }

    func testTLSEstablishedWithoutARequestChangesNothing() {
        var machine = self.machine(.disabled)
        XCTAssertEqual(machine.tlsEstablished(), [])
        _ = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        XCTAssertEqual(machine.tlsEstablished(), [])
    }

    private func refusal(number: UInt16, state: String, message: String) -> MySQLPacket {
        var err = ByteBuffer(bytes: [0xFF])
        err.writeInteger(number, endianness: .little)
        err.writeString("#" + state + message)
        return MySQLPacket(sequenceID: 2, payload: err)
    }

    func testMySQLRefusingAPlainClientForSecureTransportIsATLSError() {
        var machine = self.machine(.disabled, password: "s3cret-pw")
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let actions = machine.packetReceived(
            self.refusal(
                number: 3159, state: "HY000",
                message: "Connections using insecure transport are prohibited while --require_secure_transport=ON."))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .tls)
        XCTAssertEqual(error.serverErrorNumber, 3159)
        XCTAssertTrue(error.message.contains("the server requires TLS"), error.message)
        XCTAssertTrue(error.message.contains("DB_TLS_MODE"), error.message)
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
    }

    /// MariaDB 10.11 under `require_secure_transport=ON` answers a plain-text client with the same 1045 packet as a
    /// wrong password (checked against the real server).
    func testMariaDBAccessDeniedToAPlainClientOfATLSServerSaysTheServerMayRequireTLS() {
        var machine = self.machine(.disabled, password: "s3cret-pw")
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        let actions = machine.packetReceived(
            self.refusal(
                number: 1045, state: "28000",
                message: "Access denied for user 'orderuser'@'localhost' (using password: YES)"))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .authenticationFailed, "it may as well be a wrong password")
        XCTAssertEqual(error.serverErrorNumber, 1045)
        XCTAssertTrue(error.message.hasPrefix("Access denied for user 'orderuser'"), error.message)
        XCTAssertTrue(error.message.contains("the server requires TLS"), error.message)
        XCTAssertTrue(error.message.contains("DB_TLS_MODE"), error.message)
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
    }

    func testAccessDeniedInsideTLSOrFromAServerWithoutTLSHasNoTLSHint() {
        var overTLS = self.machine(.required)
        _ = overTLS.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        _ = overTLS.tlsEstablished()
        var noTLS = self.machine(.preferred)
        _ = noTLS.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        for var machine in [overTLS, noTLS] {
            let actions = machine.packetReceived(
                self.refusal(
                    number: 1045, state: "28000",
                    message: "Access denied for user 'orderuser'@'localhost' (using password: YES)"))
            guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
            XCTAssertEqual(error.code, .authenticationFailed)
            XCTAssertEqual(error.message, "Access denied for user 'orderuser'@'localhost' (using password: YES)")
        }
    }

    func testOrdinaryAccessDeniedIsStillAnAuthenticationError() {
        var machine = self.machine(.disabled)
        _ = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        var err = Fixture.buffer("ff 1504 23 3238303030")
        err.writeString("Access denied for user 'orderuser'@'localhost' (using password: YES)")
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 2, payload: err))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .authenticationFailed)
    }

    func testModeParsesMySQLSpellings() {
        typealias Mode = MySQLConfiguration.TLS.Mode
        XCTAssertEqual(Mode(parsing: "VERIFY_CA"), .verifyCA)
        XCTAssertEqual(Mode(parsing: "verify-identity"), .verifyIdentity)
        XCTAssertEqual(Mode(parsing: "Preferred"), .preferred)
        XCTAssertEqual(Mode(rawValue: "verify-ca"), .verifyCA)
        XCTAssertNil(Mode(parsing: "verify"))
        XCTAssertEqual(MySQLConfiguration(host: "h", username: "u", password: "p").tls.mode, .preferred)
        XCTAssertFalse(MySQLConfiguration(host: "h", username: "u", password: "p").allowPublicKeyRetrieval)
    }
}
