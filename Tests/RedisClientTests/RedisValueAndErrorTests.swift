import NIOCore
import XCTest

@testable import RedisClient

final class RedisValueAndErrorTests: XCTestCase {
    func testServerErrorKeepsPrefixAndMessage() {
        let error = RedisError(serverReply: "WRONGTYPE Operation against a key holding the wrong kind of value")
        XCTAssertEqual(error.code, .server)
        XCTAssertEqual(error.serverPrefix, "WRONGTYPE")
        XCTAssertEqual(error.message, "Operation against a key holding the wrong kind of value")
        let bare = RedisError(serverReply: "something odd")
        XCTAssertNil(bare.serverPrefix)
        XCTAssertEqual(bare.message, "something odd")
    }

    func testErrorReplyDecodesAsThrownServerError() {
        let value = RESPValue.error(ByteBuffer(string: "NOAUTH Authentication required."))
        XCTAssertThrowsError(try value.decode(as: String.self)) { error in
            XCTAssertEqual((error as? RedisError)?.serverPrefix, "NOAUTH")
        }
    }

    func testTypedDecodingHelpers() throws {
        XCTAssertEqual(try RESPValue.integer(5).decode(as: Int.self), 5)
        XCTAssertEqual(try RESPValue.bulkString(ByteBuffer(string: "12")).decode(as: Int.self), 12)
        XCTAssertEqual(try RESPValue.bulkString(nil).decode(as: String?.self), nil)
        XCTAssertEqual(try RESPValue.bulkString(ByteBuffer(string: "ab")).decode(as: [UInt8].self), [97, 98])
        XCTAssertEqual(
            try RESPValue.array([.bulkString(ByteBuffer(string: "a")), .bulkString(nil)]).decode(as: [String?].self),
            ["a", nil]
        )
        XCTAssertEqual(try RESPValue.integer(0).decode(as: Bool.self), false)
        XCTAssertThrowsError(try RESPValue.array([]).decode(as: Int.self)) { error in
            XCTAssertEqual((error as? RedisError)?.code, .unexpectedResponse)
        }
    }

    func testPasswordNeverAppearsInDescriptions() {
        let configuration = RedisConfiguration(password: "hunter2-secret", username: "app")
        XCTAssertFalse(configuration.description.contains("hunter2"))
        let command = RedisCommand.auth(username: "app", password: "hunter2-secret")
        XCTAssertEqual(command.description, "AUTH")
        XCTAssertFalse(String(describing: RedisError(code: .timeout, message: "no reply to \(command)")).contains("hunter2"))
    }

    func testSetCommandCarriesExpirationAndCondition() {
        let command = RedisCommand.set("k", value: "v", expiration: .seconds(900), condition: .ifNotExists)
        XCTAssertEqual(command.arguments, ["k", "v", "EX", 900, "NX"])
        XCTAssertEqual(RedisCommand.set("k", value: "v", expiration: .after(.milliseconds(1500)), condition: .ifExists).arguments,
                       ["k", "v", "PX", 1500, "XX"])
    }
}

final class RedisConnectionStateMachineTests: XCTestCase {
    func testRepliesCompleteRequestsInOrder() {
        var machine = RedisConnectionStateMachine<Int>()
        guard case .write = machine.enqueue(1, replies: 1) else { return XCTFail() }
        guard case .write = machine.enqueue(2, replies: 1) else { return XCTFail() }
        guard case .write = machine.enqueue(3, replies: 1) else { return XCTFail() }
        var completed: [Int] = []
        for _ in 0..<3 {
            guard case .completes(let request) = machine.receive() else { return XCTFail() }
            completed.append(request)
        }
        XCTAssertEqual(completed, [1, 2, 3])
        XCTAssertNil(machine.head)
    }

    func testPipelineRequestTakesAllItsRepliesBeforeTheNextRequest() {
        var machine = RedisConnectionStateMachine<Int>()
        _ = machine.enqueue(1, replies: 3)
        _ = machine.enqueue(2, replies: 1)
        guard case .partOf(remaining: 2) = machine.receive() else { return XCTFail() }
        guard case .partOf(remaining: 1) = machine.receive() else { return XCTFail() }
        guard case .completes(1) = machine.receive() else { return XCTFail() }
        XCTAssertEqual(machine.head, 2)
        guard case .completes(2) = machine.receive() else { return XCTFail() }
        XCTAssertEqual(machine.count, 0)
    }

    func testUnsolicitedReplyClosesTheConnection() {
        var machine = RedisConnectionStateMachine<Int>()
        guard case .closeAndFail(_, let error) = machine.receive() else { return XCTFail() }
        XCTAssertEqual(error.code, .protocolError)
        guard case .fail = machine.enqueue(1, replies: 1) else { return XCTFail("closed connection accepted a request") }
    }

    func testCloseFailsEveryPendingRequestOnce() {
        var machine = RedisConnectionStateMachine<Int>()
        _ = machine.enqueue(1, replies: 1)
        _ = machine.enqueue(2, replies: 2)
        _ = machine.enqueue(3, replies: 1)
        _ = machine.receive()
        _ = machine.receive()  // half of 2
        XCTAssertEqual(machine.close(.connectionClosed), [2, 3])
        XCTAssertEqual(machine.close(.connectionClosed), [])
        guard case .ignore = machine.receive() else { return XCTFail() }
        guard case .fail(let error) = machine.enqueue(4, replies: 1) else { return XCTFail() }
        XCTAssertEqual(error.code, .connectionClosed)
    }
}
