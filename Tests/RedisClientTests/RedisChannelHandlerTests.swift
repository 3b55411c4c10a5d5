import NIOCore
import NIOEmbedded
import XCTest

@testable import RedisClient

/// The channel handler on an `EmbeddedChannel`: byte fixtures in, replies out, no server.
final class RedisChannelHandlerTests: XCTestCase {
    private func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPValueDecoder()))
        try channel.pipeline.syncOperations.addHandler(RedisChannelHandler())
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379)).wait()
        return channel
    }

    private func request(_ command: RedisCommand, on channel: EmbeddedChannel, timeout: TimeAmount = .seconds(1)) -> RedisRequest {
        RedisRequest(command: command, promise: channel.eventLoop.makePromise(), deadline: channel.eventLoop.now + timeout)
    }

    func testPipelinedCommandsAreWrittenTogetherAndRepliesMatchedInOrder() throws {
        let channel = try self.makeChannel()
        let requests = [
            self.request(.set("k", value: "v"), on: channel),
            self.request(.get("k"), on: channel),
            self.request(.incr("n"), on: channel),
        ]
        try channel.writeOutbound(requests)
        var written = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(
            written.readString(length: written.readableBytes),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
        )
        // Replies arrive split arbitrarily.
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n$1\r"))
        try channel.writeInbound(ByteBuffer(string: "\nv\r\n:7\r\n"))
        XCTAssertEqual(try requests[0].promise.futureResult.wait(), .simpleString(ByteBuffer(string: "OK")))
        XCTAssertEqual(try requests[1].promise.futureResult.wait(), .bulkString(ByteBuffer(string: "v")))
        XCTAssertEqual(try requests[2].promise.futureResult.wait(), .integer(7))
        _ = try channel.finish()
    }

    func testMissingReplyTimesOutFailsEverythingAndCloses() throws {
        let channel = try self.makeChannel()
        let first = self.request(.get("a"), on: channel, timeout: .milliseconds(100))
        let second = self.request(.get("b"), on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound([first, second])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(101))
        XCTAssertThrowsError(try first.promise.futureResult.wait()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .timeout)
        }
        XCTAssertThrowsError(try second.promise.futureResult.wait())
        XCTAssertFalse(channel.isActive)
    }

    func testAnsweredHeadDoesNotTimeOutAndTheNextOneStillDoes() throws {
        let channel = try self.makeChannel()
        let first = self.request(.get("a"), on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound([first])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        let second = self.request(.get("b"), on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound([second])
        try channel.writeInbound(ByteBuffer(string: "$-1\r\n"))
        XCTAssertEqual(try first.promise.futureResult.wait(), .bulkString(nil))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(60))  // first's deadline passes: already answered
        XCTAssertTrue(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))  // second's deadline passes
        XCTAssertThrowsError(try second.promise.futureResult.wait()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .timeout)
        }
        XCTAssertFalse(channel.isActive)
    }

    func testUnsolicitedReplyClosesTheConnection() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n"))
        XCTAssertFalse(channel.isActive)
    }

    func testGarbageFromTheServerFailsPendingCommandsWithProtocolError() throws {
        let channel = try self.makeChannel()
        let pending = self.request(.get("a"), on: channel)
        try channel.writeOutbound([pending])
        _ = try? channel.writeInbound(ByteBuffer(string: "%oops\r\n"))  // the handler consumes the error
        XCTAssertThrowsError(try pending.promise.futureResult.wait()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .protocolError)
        }
        XCTAssertFalse(channel.isActive)
    }

    func testCommandsAfterCloseFailAsNotSent() throws {
        let channel = try self.makeChannel()
        let pending = self.request(.get("a"), on: channel)
        try channel.writeOutbound([pending])
        channel.pipeline.fireChannelInactive()
        XCTAssertThrowsError(try pending.promise.futureResult.wait()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .connectionClosed)
        }
        let late = self.request(.get("b"), on: channel)
        channel.write([late], promise: nil)
        XCTAssertThrowsError(try late.promise.futureResult.wait()) { error in
            XCTAssertTrue((error as? RedisError)?.commandWasNotSent ?? false)
        }
        _ = try? channel.finish()
    }
}
