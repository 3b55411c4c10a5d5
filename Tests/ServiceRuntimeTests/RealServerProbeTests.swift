import TestSupport
import XCTest

/// The servers `scripts/stack` starts answer their protocols at the addresses the test environment names.
/// This is the plumbing every real-server test relies on: the stack is up and its `env` reached the tests.
final class RealServerProbeTests: XCTestCase {
    func testMariaDBGreetsWithProtocolTenHandshake() async throws {
        let server = try RealServers.mariaDB()
        let greeting = try await SocketProbe.exchange(host: server.host, port: server.port, minimumReply: 5)
        XCTAssertGreaterThanOrEqual(greeting.count, 5)
        let length = Int(greeting[0]) | Int(greeting[1]) << 8 | Int(greeting[2]) << 16
        XCTAssertGreaterThan(length, 0)
        XCTAssertEqual(greeting[3], 0, "first packet has sequence id 0")
        XCTAssertEqual(greeting[4], 10, "HandshakeV10")
    }

    func testRedisAnswersPing() async throws {
        let server = try RealServers.redis()
        var request: [UInt8] = []
        if let password = server.password {
            request += Array("*2\r\n$4\r\nAUTH\r\n$\(password.utf8.count)\r\n\(password)\r\n".utf8)
        }
        request += Array("*1\r\n$4\r\nPING\r\n".utf8)
        let expected = (server.password == nil ? "" : "+OK\r\n") + "+PONG\r\n"
        let reply = try await SocketProbe.exchange(
            host: server.host, port: server.port, request: request, minimumReply: expected.utf8.count
        )
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), expected)
    }

    func testRabbitMQAnswersTheAMQPHeaderWithConnectionStart() async throws {
        let server = try RealServers.rabbitMQ()
        let reply = try await SocketProbe.exchange(
            host: server.host, port: server.port, request: Array("AMQP".utf8) + [0, 0, 9, 1], minimumReply: 13
        )
        XCTAssertGreaterThanOrEqual(reply.count, 13)
        XCTAssertEqual(reply[0], 1, "a method frame")
        XCTAssertEqual(Array(reply[1...2]), [0, 0], "on channel 0")
        XCTAssertEqual(Array(reply[7...10]), [0, 10, 0, 10], "connection.start")
        XCTAssertEqual(Array(reply[11...12]), [0, 9], "AMQP 0-9")
    }
}
