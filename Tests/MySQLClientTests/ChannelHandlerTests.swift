import Logging
import NIOCore
import NIOEmbedded
import XCTest

@testable import MySQLClient

/// The channel handler on an `EmbeddedChannel`: real framing and state machines, no server.
final class ChannelHandlerTests: XCTestCase {
    private var channel: EmbeddedChannel!
    private var connectPromise: EventLoopPromise<MySQLConnectionInfo>!

    override func setUp() async throws {
        self.channel = EmbeddedChannel()
        self.connectPromise = self.channel.eventLoop.makePromise(of: MySQLConnectionInfo.self)
        let authentication = MySQLAuthenticationStateMachine(
            username: "orderuser", password: "orderpass", database: "order_db")
        try self.channel.pipeline.syncOperations.addHandler(
            MySQLChannelHandler(
                authentication: authentication, connectTimeout: .seconds(5), connectPromise: self.connectPromise,
                logger: Logger(label: "test")))
        try await self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3306)).get()
    }

    override func tearDown() async throws {
        _ = try? self.channel.finish()
    }

    private func serverSends(_ hex: String, sequenceID: UInt8) throws {
        var out = ByteBuffer()
        MySQLPacketEncoder.encode(payload: Fixture.buffer(hex), sequenceID: sequenceID, into: &out)
        try self.channel.writeInbound(out)
    }

    private func serverSends(_ bytes: [UInt8], sequenceID: UInt8) throws {
        var out = ByteBuffer()
        MySQLPacketEncoder.encode(payload: ByteBuffer(bytes: bytes), sequenceID: sequenceID, into: &out)
        try self.channel.writeInbound(out)
    }

    /// The next packet the client wrote: (sequence id, payload).
    private func clientSent() throws -> (UInt8, [UInt8])? {
        guard var buffer = try self.channel.readOutbound(as: ByteBuffer.self) else { return nil }
        var decoder = MySQLPacketDecoder()
        guard let packet = try decoder.next(from: &buffer) else { return nil }
        return (packet.sequenceID, Array(packet.payload.readableBytesView))
    }

    private func connect() async throws {
        try self.serverSends(Fixture.mariaDBHandshake, sequenceID: 0)
        let response = try XCTUnwrap(try self.clientSent())
        XCTAssertEqual(response.0, 1)
        try self.serverSends(Fixture.ok, sequenceID: 2)
        let info = try await self.connectPromise.futureResult.get()
        XCTAssertEqual(info.connectionID, 8)
    }

    private func submit(_ command: MySQLCommand, timeout: TimeAmount? = nil) -> EventLoopFuture<MySQLCommandResult> {
        let promise = self.channel.eventLoop.makePromise(of: MySQLCommandResult.self)
        self.channel.writeAndFlush(MySQLRequest(command: command, promise: promise, timeout: timeout), promise: nil)
        return promise.futureResult
    }

    func testConnectThenQueriesRunOneAtATimeInOrder() async throws {
        try await self.connect()
        let first = self.submit(.query("SELECT 1"))
        let second = self.submit(.ping)
        XCTAssertEqual(try self.clientSent()?.1, Fixture.bytes("03 53454c4543542031"))
        XCTAssertNil(try self.clientSent(), "the second command waits for the first")
        try self.serverSends([1], sequenceID: 1)
        try self.serverSends(Fixture.column("1", type: .longlong, characterSet: 63), sequenceID: 2)
        try self.serverSends(Fixture.bytes("01 31"), sequenceID: 3)
        try self.serverSends("fe 00 00 0200 0000", sequenceID: 4)
        guard case .result(let result) = try await first.get() else { return XCTFail() }
        XCTAssertEqual(result.rows.first?.values, [.int(1)])
        XCTAssertEqual(try self.clientSent()?.1, [0x0E])
        try self.serverSends(Fixture.ok, sequenceID: 1)
        let pong = try await second.get()
        XCTAssertEqual(pong, .done)
    }

    func testQueryTimeoutFailsCommandAndClosesChannel() async throws {
        try await self.connect()
        let query = self.submit(.query("SELECT SLEEP(5)"), timeout: .milliseconds(200))
        let queued = self.submit(.ping)
        _ = try self.clientSent()
        self.channel.embeddedEventLoop.advanceTime(by: .milliseconds(250))
        do {
            _ = try await query.get()
            XCTFail("expected a timeout")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .timeout)
        }
        do {
            _ = try await queued.get()
            XCTFail("expected the queued command to fail")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .connectionClosed)
        }
        XCTAssertFalse(self.channel.isActive)
    }

    func testConnectTimeoutFailsConnect() async throws {
        self.channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        do {
            _ = try await self.connectPromise.futureResult.get()
            XCTFail("expected a timeout")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .timeout)
        }
    }

    func testCloseWhenIdleSendsComQuit() async throws {
        try await self.connect()
        try await self.channel.close().get()
        XCTAssertEqual(try self.clientSent()?.1, [0x01])
    }

    func testMalformedFrameClosesConnectionWithProtocolError() async throws {
        try await self.connect()
        let query = self.submit(.query("SELECT 1"))
        _ = try self.clientSent()
        try self.serverSends("fc", sequenceID: 1)  // a truncated column count
        do {
            _ = try await query.get()
            XCTFail("expected a protocol error")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .protocolError)
        }
        XCTAssertFalse(self.channel.isActive)
    }

    func testServerClosingTheSocketFailsTheRunningCommand() async throws {
        try await self.connect()
        let query = self.submit(.query("SELECT 1"))
        _ = try self.clientSent()
        self.channel.pipeline.fireChannelInactive()
        do {
            _ = try await query.get()
            XCTFail("expected connection closed")
        } catch let error as MySQLError {
            XCTAssertEqual(error.code, .connectionClosed)
        }
    }
}
