import NIOCore
import NIOEmbedded
import TestSupport
import XCTest

@testable import RedisClient

/// The channel handler on an `EmbeddedChannel`: byte fixtures in, replies out, no server.
final class RedisChannelHandlerTests: XCTestCase {
    private func makeChannel(handler: RedisChannelHandler = RedisChannelHandler()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379)).wait()
        return channel
    }

    private func request(_ command: RedisCommand, on channel: EmbeddedChannel, timeout: TimeAmount = .seconds(1)) -> RedisRequest {
        RedisRequest(commands: .one(command), completion: .promise(channel.eventLoop.makePromise()), timeout: timeout)
    }

    private func pipeline(_ commands: [RedisCommand], on channel: EmbeddedChannel, timeout: TimeAmount = .seconds(1)) -> RedisRequest {
        RedisRequest(commands: .many(commands), completion: .promise(channel.eventLoop.makePromise()), timeout: timeout)
    }

    func testPipelinedCommandsAreWrittenTogetherAndRepliesMatchedInOrder() throws {
        let channel = try self.makeChannel()
        let requests = [
            self.request(.set("k", value: "v"), on: channel),
            self.request(.get("k"), on: channel),
            self.request(.incr("n"), on: channel),
        ]
        for request in requests { channel.write(request, promise: nil) }
        channel.flush()
        var written = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
        XCTAssertEqual(
            written.readString(length: written.readableBytes),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
        )
        // Replies arrive split arbitrarily.
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n$1\r"))
        try channel.writeInbound(ByteBuffer(string: "\nv\r\n:7\r\n"))
        XCTAssertEqual(try requests[0].reply(), .simpleString(ByteBuffer(string: "OK")))
        XCTAssertEqual(try requests[1].reply(), .bulkString(ByteBuffer(string: "v")))
        XCTAssertEqual(try requests[2].reply(), .integer(7))
        _ = try channel.finish()
    }

    func testOutboxBatchGoesOutInOneWriteAndAPipelineIsCompletedOnceWithAllItsReplies() throws {
        let handler = RedisChannelHandler()
        let channel = try self.makeChannel(handler: handler)
        let outbox = RedisOutbox()
        let first = self.request(.get("a"), on: channel)
        let pipeline = self.pipeline([.incr("n"), .get("b")], on: channel)
        let last = self.request(.ping(), on: channel)
        // Only the submitter that finds the outbox empty schedules a drain.
        XCTAssertTrue(outbox.submit(first))
        XCTAssertFalse(outbox.submit(pipeline))
        XCTAssertFalse(outbox.submit(last))
        handler.writeQueued(from: outbox)

        var written = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "the batch took more than one write")
        XCTAssertEqual(
            written.readString(length: written.readableBytes),
            "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"
                + "*1\r\n$4\r\nPING\r\n"
        )
        try channel.writeInbound(ByteBuffer(string: "$1\r\nA\r\n:1\r\n$-1\r\n+PONG\r\n"))
        XCTAssertEqual(try first.reply(), .bulkString(ByteBuffer(string: "A")))
        guard case .promise(let promise) = pipeline.completion else { return XCTFail() }
        XCTAssertEqual(try promise.futureResult.wait(), [.integer(1), .bulkString(nil)])
        XCTAssertEqual(try last.reply(), .simpleString(ByteBuffer(string: "PONG")))

        // The next submission schedules a new drain.
        let next = self.request(.ping(), on: channel)
        XCTAssertTrue(outbox.submit(next))
        handler.writeQueued(from: outbox)
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        XCTAssertEqual(try next.reply(), .simpleString(ByteBuffer(string: "PONG")))
        _ = try channel.finish()
    }

    func testOutboxDrainedAfterCloseFailsAsNotSent() throws {
        let handler = RedisChannelHandler()
        let channel = try self.makeChannel(handler: handler)
        channel.pipeline.fireChannelInactive()
        let outbox = RedisOutbox()
        let late = self.request(.get("a"), on: channel)
        XCTAssertTrue(outbox.submit(late))
        handler.writeQueued(from: outbox)
        XCTAssertThrowsError(try late.reply()) { error in
            XCTAssertTrue((error as? RedisError)?.commandWasNotSent ?? false, "\(error)")
        }
        _ = try? channel.finish()
    }

    func testPartlyAnsweredPipelineTimesOut() throws {
        let channel = try self.makeChannel()
        let pipeline = self.pipeline([.get("a"), .get("b")], on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound(pipeline)
        try channel.writeInbound(ByteBuffer(string: "$-1\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(101))
        XCTAssertThrowsError(try pipeline.reply()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .timeout)
        }
        XCTAssertFalse(channel.isActive)
    }

    func testMissingReplyTimesOutFailsEverythingAndCloses() throws {
        let channel = try self.makeChannel()
        let first = self.request(.get("a"), on: channel, timeout: .milliseconds(100))
        let second = self.request(.get("b"), on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound(first)
        try channel.writeOutbound(second)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(101))
        XCTAssertThrowsError(try first.reply()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .timeout)
        }
        XCTAssertThrowsError(try second.reply())
        XCTAssertFalse(channel.isActive)
    }

    func testAnsweredHeadDoesNotTimeOutAndTheNextOneStillDoes() throws {
        let channel = try self.makeChannel()
        let first = self.request(.get("a"), on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound(first)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        let second = self.request(.get("b"), on: channel, timeout: .milliseconds(100))
        try channel.writeOutbound(second)
        try channel.writeInbound(ByteBuffer(string: "$-1\r\n"))
        XCTAssertEqual(try first.reply(), .bulkString(nil))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(60))  // first's deadline passes: already answered
        XCTAssertTrue(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))  // second's deadline passes
        XCTAssertThrowsError(try second.reply()) { error in
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
        try channel.writeOutbound(pending)
        _ = try? channel.writeInbound(ByteBuffer(string: "%oops\r\n"))  // the handler consumes the error
        XCTAssertThrowsError(try pending.reply()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .protocolError)
        }
        XCTAssertFalse(channel.isActive)
    }

    func testCommandsAfterCloseFailAsNotSent() throws {
        let channel = try self.makeChannel()
        let pending = self.request(.get("a"), on: channel)
        try channel.writeOutbound(pending)
        channel.pipeline.fireChannelInactive()
        XCTAssertThrowsError(try pending.reply()) { error in
            XCTAssertEqual((error as? RedisError)?.code, .connectionClosed)
        }
        let late = self.request(.get("b"), on: channel)
        channel.write(late, promise: nil)
        XCTAssertThrowsError(try late.reply()) { error in
            XCTAssertTrue((error as? RedisError)?.commandWasNotSent ?? false)
        }
        _ = try? channel.finish()
    }
}

extension RedisRequest {
    /// The single reply of a test request made with a promise (the last reply of a pipeline).
    func reply() throws -> RESPValue {
        guard case .promise(let promise) = self.completion else { throw TestFailure("not a promise request") }
        let replies = try promise.futureResult.wait()
        return try XCTUnwrap(replies.last)
    }
}
