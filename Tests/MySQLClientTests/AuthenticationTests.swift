import NIOCore
import XCTest

@testable import MySQLClient

final class AuthenticationTests: XCTestCase {
    // Expected values computed independently with Python's hashlib.
    func testNativePasswordScrambleMatchesKnownVector() {
        let scramble = MySQLAuthentication.nativePasswordScramble(password: "orderpass", nonce: Fixture.nonce)
        XCTAssertEqual(scramble, Fixture.bytes("b0ac4dd8c235d40b708cf9efef965ba31e412929"))
    }

    func testCachingSHA2ScrambleMatchesKnownVector() {
        let scramble = MySQLAuthentication.cachingSHA2Scramble(password: "orderpass", nonce: Fixture.nonce)
        XCTAssertEqual(
            scramble, Fixture.bytes("bce1ea208fbb0638287fa1460bb66bca689197c27eaeaf2d2569ef7bb7cd8ebb"))
    }

    func testEmptyPasswordSendsEmptyScramble() {
        XCTAssertEqual(MySQLAuthentication.nativePasswordScramble(password: "", nonce: Fixture.nonce), [])
        XCTAssertEqual(MySQLAuthentication.cachingSHA2Scramble(password: "", nonce: Fixture.nonce), [])
    }

    func testFullAuthenticationXorsNulTerminatedPasswordWithNonce() {
        XCTAssertEqual(
            MySQLAuthentication.xorPasswordWithNonce(password: "orderpass", nonce: Fixture.nonce),
            Fixture.bytes("5e4057514746564b1262"))
    }

    func testHandshakeV10IsParsed() throws {
        let handshake = try MySQLHandshakeV10(payload: Fixture.buffer(Fixture.mariaDBHandshake))
        XCTAssertEqual(handshake.serverVersion, "5.5.5-10.11.6-MariaDB")
        XCTAssertEqual(handshake.connectionID, 8)
        XCTAssertEqual(handshake.authPluginData, Fixture.nonce)
        XCTAssertEqual(handshake.capabilities.rawValue, 0x81FF_F7FF)
        XCTAssertEqual(handshake.characterSet, 45)
        XCTAssertEqual(handshake.authPluginName, "mysql_native_password")
    }

    /// The handshake response announces the packet limit the client enforces (bytes 4 to 8 of the response).
    func testTheHandshakeResponseAnnouncesTheConfiguredPacketLimit() throws {
        var configuration = MySQLConfiguration(host: "db", username: "orderuser", password: "orderpass")
        configuration.maximumPacketSize = 1 << 20
        configuration.tls.mode = .disabled
        var machine = MySQLAuthenticationStateMachine(configuration: configuration)
        let handshake = try MySQLHandshakeV10(payload: Fixture.buffer(Fixture.mariaDBHandshake))
        guard case .send(let response, _) = machine.handshakeReceived(handshake, sequenceID: 0) else {
            return XCTFail("expected the handshake response")
        }
        XCTAssertEqual(response.getInteger(at: response.readerIndex + 4, endianness: .little, as: UInt32.self), 1 << 20)
    }

    func testHandshakeOfOtherProtocolVersionIsRejected() {
        XCTAssertThrowsError(try MySQLHandshakeV10(payload: Fixture.buffer("09 352e3000"))) { error in
            XCTAssertEqual((error as? MySQLError)?.code, .protocolError)
        }
    }

    private func machine(password: String = "orderpass") -> MySQLConnectionStateMachine {
        MySQLConnectionStateMachine(
            authentication: MySQLAuthenticationStateMachine(
                username: "orderuser", password: password, database: "order_db"))
    }

    private func sentPayload(_ actions: [MySQLConnectionStateMachine.Action], file: StaticString = #filePath,
                             line: UInt = #line) -> (ByteBuffer, UInt8)?
    {
        guard actions.count == 1, case .send(let payload, let sequenceID) = actions[0] else {
            XCTFail("expected one send, got \(actions)", file: file, line: line)
            return nil
        }
        return (payload, sequenceID)
    }

    func testNativePasswordHandshakeResponseThenOKConnects() throws {
        var machine = self.machine()
        let actions = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        let (payload, sequenceID) = try XCTUnwrap(self.sentPayload(actions))
        XCTAssertEqual(sequenceID, 1)
        var buffer = payload
        let capabilities = MySQLCapabilities(rawValue: buffer.readInteger(endianness: .little, as: UInt32.self)!)
        XCTAssertTrue(capabilities.isSuperset(of: [.protocol41, .secureConnection, .pluginAuth, .connectWithDB,
                                                   .deprecateEOF, .transactions, .pluginAuthLenencClientData]))
        XCTAssertFalse(capabilities.contains(.multiStatements))
        XCTAssertEqual(buffer.readInteger(endianness: .little, as: UInt32.self), 1 << 30)
        XCTAssertEqual(buffer.readInteger(as: UInt8.self), 45)
        XCTAssertEqual(buffer.readBytes(length: 23), [UInt8](repeating: 0, count: 23))
        XCTAssertEqual(buffer.readMySQLCString(), "orderuser")
        XCTAssertEqual(
            buffer.readLengthEncodedSlice().map { Array($0.readableBytesView) },
            Fixture.bytes("b0ac4dd8c235d40b708cf9efef965ba31e412929"))
        XCTAssertEqual(buffer.readMySQLCString(), "order_db")
        XCTAssertEqual(buffer.readMySQLCString(), "mysql_native_password")
        XCTAssertEqual(buffer.readableBytes, 0)

        let done = machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 2))
        XCTAssertEqual(done, [.connected(connectionID: 8, serverVersion: "5.5.5-10.11.6-MariaDB")])
        XCTAssertTrue(machine.isReady)
    }

    func testAuthSwitchToNativePasswordAnswersWithNewScramble() throws {
        var machine = self.machine()
        _ = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        var request = ByteBuffer(bytes: [0xFE])
        request.writeMySQLCString("mysql_native_password")
        request.writeBytes(Fixture.nonce + [0])
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 2, payload: request))
        let (payload, sequenceID) = try XCTUnwrap(self.sentPayload(actions))
        XCTAssertEqual(sequenceID, 3)
        XCTAssertEqual(Array(payload.readableBytesView), Fixture.bytes("b0ac4dd8c235d40b708cf9efef965ba31e412929"))
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 4)),
            [.connected(connectionID: 11, serverVersion: "8.0.36")])
    }

    func testAuthSwitchToUnknownPluginFailsClearly() throws {
        var machine = self.machine()
        _ = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        var request = ByteBuffer(bytes: [0xFE])
        request.writeMySQLCString("auth_gssapi_client")
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 2, payload: request))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .unsupported)
        XCTAssertTrue(error.message.contains("auth_gssapi_client"))
        XCTAssertEqual(actions.last, .close)
    }

    func testCachingSHA2FastPathSucceedsAfterFastAuthSuccess() throws {
        var machine = self.machine()
        let actions = machine.packetReceived(Fixture.packet(Fixture.mySQL8Handshake, sequenceID: 0))
        var (payload, _) = try XCTUnwrap(self.sentPayload(actions))
        payload.moveReaderIndex(forwardBy: 32)
        XCTAssertEqual(payload.readMySQLCString(), "orderuser")
        XCTAssertEqual(
            payload.readLengthEncodedSlice().map { Array($0.readableBytesView) },
            Fixture.bytes("bce1ea208fbb0638287fa1460bb66bca689197c27eaeaf2d2569ef7bb7cd8ebb"))
        XCTAssertEqual(machine.packetReceived(Fixture.packet("01 03", sequenceID: 2)), [])
        XCTAssertEqual(
            machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 3)),
            [.connected(connectionID: 11, serverVersion: "8.0.36")])
    }

    func testWrongPasswordIsAnAuthenticationErrorWithoutThePassword() throws {
        var machine = self.machine(password: "s3cret-pw")
        _ = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
        var err = Fixture.buffer("ff 1504 23 3238303030")
        err.writeString("Access denied for user 'orderuser'@'localhost' (using password: YES)")
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 2, payload: err))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertEqual(error.serverErrorNumber, 1045)
        XCTAssertTrue(error.isAccessDenied)
        XCTAssertFalse("\(error)".contains("s3cret-pw"))
        XCTAssertEqual(actions.last, .close)
        XCTAssertTrue(machine.isClosed)
    }

    func testErrorInsteadOfHandshakeFailsConnect() {
        var machine = self.machine()
        var err = Fixture.buffer("ff 1004")
        err.writeString("Too many connections")
        let actions = machine.packetReceived(MySQLPacket(sequenceID: 0, payload: err))
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.serverErrorNumber, 1040)
    }

    func testConnectTimeoutFailsConnect() {
        var machine = self.machine()
        let actions = machine.timedOut()
        guard case .failConnect(let error) = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .timeout)
    }

    func testConfigurationDescriptionMasksPassword() {
        let configuration = MySQLConfiguration(
            host: "db", username: "orderuser", password: "s3cret-pw", database: "order_db")
        XCTAssertEqual("\(configuration)", "mysql://orderuser:***@db:3306/order_db")
        var dumped = ""
        dump(configuration, to: &dumped)
        XCTAssertFalse(dumped.contains("s3cret-pw"))
        XCTAssertFalse(String(reflecting: configuration).contains("s3cret-pw"))
        let machine = MySQLAuthenticationStateMachine(username: "u", password: "s3cret-pw", database: nil)
        var dumpedMachine = ""
        dump(machine, to: &dumpedMachine)
        XCTAssertFalse(dumpedMachine.contains("s3cret-pw"))
        XCTAssertFalse("\(machine)".contains("s3cret-pw"))
    }
}
