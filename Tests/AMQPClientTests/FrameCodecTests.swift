@testable import AMQPClient
import NIOCore
import XCTest

final class FrameCodecTests: XCTestCase {
    private func encode(_ frame: AMQPFrame) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Feeds `bytes` split at `split` and returns every decoded frame.
    private func decodeSplit(_ bytes: [UInt8], at split: Int, maxFrameSize: UInt32 = 131_072) throws -> [AMQPFrame] {
        var decoder = AMQPFrameDecoder(maxFrameSize: maxFrameSize)
        var buffer = ByteBuffer(bytes: bytes[..<split])
        var frames: [AMQPFrame] = []
        while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
        buffer.discardReadBytes()
        buffer.writeBytes(bytes[split...])
        while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
        XCTAssertEqual(buffer.readableBytes, 0)
        return frames
    }

    func testHeartbeatFrameBytes() throws {
        XCTAssertEqual(try self.encode(.heartbeat), [8, 0, 0, 0, 0, 0, 0, 0xCE])
    }

    func testProtocolHeaderIsAMQP0091() {
        XCTAssertEqual(AMQPProtocolHeader.bytes, Array("AMQP".utf8) + [0, 0, 9, 1])
    }

    func testBasicAckFrameMatchesFixtureAndDecodesAtEverySplitPoint() throws {
        let fixture: [UInt8] = [1, 0, 1, 0, 0, 0, 13, 0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0xCE]
        let frame = AMQPFrame.method(channel: 1, .basicAck(deliveryTag: 5, multiple: true))
        XCTAssertEqual(try self.encode(frame), fixture)
        for split in 0...fixture.count {
            XCTAssertEqual(try self.decodeSplit(fixture, at: split), [frame], "split at \(split)")
        }
    }

    func testSeveralFramesInOneStreamDecodeAtEverySplitPoint() throws {
        let frames: [AMQPFrame] = [
            .method(channel: 3, .basicDeliver(consumerTag: "c", deliveryTag: 9, redelivered: true, exchange: "x", routingKey: "k")),
            .header(channel: 3, AMQPContentHeader(bodySize: 5, properties: .init(contentType: "text/plain", deliveryMode: .persistent))),
            .body(channel: 3, ByteBuffer(string: "hello")),
            .heartbeat,
        ]
        let bytes = try frames.flatMap { try self.encode($0) }
        for split in 0...bytes.count {
            XCTAssertEqual(try self.decodeSplit(bytes, at: split), frames, "split at \(split)")
        }
    }

    func testContentHeaderFixture() throws {
        let frame = AMQPFrame.header(
            channel: 1, AMQPContentHeader(bodySize: 2, properties: .init(contentType: "a", deliveryMode: .persistent)))
        // class 60, weight 0, size 2, flags 0x9000 (content-type, delivery-mode), "a", 2
        let payload: [UInt8] = [0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x90, 0x00, 1, 0x61, 2]
        XCTAssertEqual(try self.encode(frame), [2, 0, 1, 0, 0, 0, UInt8(payload.count)] + payload + [0xCE])
    }

    func testEveryBasicPropertyRoundTrips() throws {
        let properties = AMQPBasicProperties(
            contentType: "application/json", contentEncoding: "gzip", headers: ["k": "v", "n": .int64(-1)],
            deliveryMode: .transient, priority: 9, correlationID: "c", replyTo: "r", expiration: "1000",
            messageID: "m", timestamp: 1_764_000_000, type: "T", userID: "u", appID: "a", clusterID: "cl")
        let frame = AMQPFrame.header(channel: 7, AMQPContentHeader(bodySize: 1 << 40, properties: properties))
        XCTAssertEqual(try self.decodeSplit(try self.encode(frame), at: 0), [frame])
        let empty = AMQPFrame.header(channel: 7, AMQPContentHeader(bodySize: 0, properties: .init()))
        XCTAssertEqual(try self.decodeSplit(try self.encode(empty), at: 3), [empty])
    }

    func testEveryMethodRoundTrips() throws {
        let table: AMQPFieldTable = ["x-queue-type": "quorum", "x-message-ttl": 1000]
        let methods: [AMQPMethod] = [
            .connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: table, mechanisms: "PLAIN AMQPLAIN", locales: "en_US"),
            .connectionStartOk(clientProperties: table, mechanism: "PLAIN", response: "\u{0}u\u{0}p", locale: "en_US"),
            .connectionSecure(challenge: "c"), .connectionSecureOk(response: "r"),
            .connectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60),
            .connectionTuneOk(channelMax: 1, frameMax: 4096, heartbeat: 0),
            .connectionOpen(virtualHost: "/"), .connectionOpenOk,
            .connectionClose(replyCode: 320, replyText: "CONNECTION_FORCED", classID: 0, methodID: 0),
            .connectionCloseOk, .connectionBlocked(reason: "low on memory"), .connectionUnblocked,
            .channelOpen, .channelOpenOk, .channelFlow(active: true), .channelFlowOk(active: false),
            .channelClose(replyCode: 406, replyText: "PRECONDITION_FAILED", classID: 50, methodID: 10), .channelCloseOk,
            .exchangeDeclare(exchange: "e", type: "topic", passive: false, durable: true, autoDelete: false, internal: true, noWait: false, arguments: table),
            .exchangeDeclareOk, .exchangeDelete(exchange: "e", ifUnused: true, noWait: false), .exchangeDeleteOk,
            .exchangeBind(destination: "d", source: "s", routingKey: "k", noWait: false, arguments: table), .exchangeBindOk,
            .exchangeUnbind(destination: "d", source: "s", routingKey: "k", noWait: true, arguments: [:]), .exchangeUnbindOk,
            .queueDeclare(queue: "q", passive: true, durable: false, exclusive: true, autoDelete: false, noWait: true, arguments: table),
            .queueDeclareOk(queue: "q", messageCount: 3, consumerCount: 4),
            .queueBind(queue: "q", exchange: "e", routingKey: "k", noWait: false, arguments: table), .queueBindOk,
            .queuePurge(queue: "q", noWait: false), .queuePurgeOk(messageCount: 9),
            .queueDelete(queue: "q", ifUnused: false, ifEmpty: true, noWait: false), .queueDeleteOk(messageCount: 1),
            .queueUnbind(queue: "q", exchange: "e", routingKey: "k", arguments: table), .queueUnbindOk,
            .basicQos(prefetchSize: 0, prefetchCount: 256, global: true), .basicQosOk,
            .basicConsume(queue: "q", consumerTag: "t", noLocal: false, noAck: true, exclusive: false, noWait: true, arguments: table),
            .basicConsumeOk(consumerTag: "t"), .basicCancel(consumerTag: "t", noWait: true), .basicCancelOk(consumerTag: "t"),
            .basicPublish(exchange: "e", routingKey: "k", mandatory: true, immediate: false),
            .basicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "e", routingKey: "k"),
            .basicDeliver(consumerTag: "t", deliveryTag: .max, redelivered: true, exchange: "e", routingKey: "k"),
            .basicGet(queue: "q", noAck: true),
            .basicGetOk(deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q", messageCount: 7), .basicGetEmpty,
            .basicAck(deliveryTag: 2, multiple: true), .basicReject(deliveryTag: 3, requeue: true),
            .basicRecover(requeue: true), .basicRecoverOk, .basicNack(deliveryTag: 4, multiple: true, requeue: false),
            .confirmSelect(noWait: false), .confirmSelectOk,
        ]
        for method in methods {
            let frame = AMQPFrame.method(channel: 2, method)
            XCTAssertEqual(try self.decodeSplit(try self.encode(frame), at: 5), [frame], "\(method)")
        }
    }

    func testBitsArePackedLeastSignificantFirst() throws {
        var buffer = ByteBuffer()
        try AMQPMethod.queueDeclare(queue: "", passive: false, durable: true, exclusive: false, autoDelete: true, noWait: false, arguments: [:]).encode(into: &buffer)
        // class, method, reserved short, empty name, then the bits octet: durable (bit 1) + auto-delete (bit 3).
        XCTAssertEqual(buffer.getInteger(at: 7, as: UInt8.self), 0b0000_1010)
    }

    func testBadFrameEndIsAnError() throws {
        var bytes = try self.encode(.method(channel: 1, .basicAck(deliveryTag: 1, multiple: false)))
        bytes[bytes.count - 1] = 0xCD
        XCTAssertThrowsError(try self.decodeSplit(bytes, at: bytes.count)) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .protocolError)
        }
    }

    func testOversizeFrameIsRefusedBeforeItsPayloadArrives() {
        var decoder = AMQPFrameDecoder(maxFrameSize: 4096)
        var buffer = ByteBuffer(bytes: [3, 0, 1, 0, 0, 0x10, 0x00])  // a 4096-byte body frame: 4104 > 4096
        XCTAssertThrowsError(try decoder.decode(buffer: &buffer))
        var huge = ByteBuffer(bytes: [3, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try decoder.decode(buffer: &huge))
    }

    func testTruncatedPayloadIsAnError() throws {
        // A basic.ack whose frame says 6 bytes: the delivery tag is cut short.
        let bytes: [UInt8] = [1, 0, 1, 0, 0, 0, 6, 0, 60, 0, 80, 0, 0, 0xCE]
        XCTAssertThrowsError(try self.decodeSplit(bytes, at: 0))
    }

    func testTrailingBytesUnknownTypesAndMethodsAreErrors() throws {
        let cases: [[UInt8]] = [
            [1, 0, 1, 0, 0, 0, 5, 0, 60, 0, 11, 9, 0xCE],  // qos-ok plus a stray byte
            [9, 0, 0, 0, 0, 0, 0, 0xCE],  // unknown frame type
            [1, 0, 1, 0, 0, 0, 4, 0, 99, 0, 1, 0xCE],  // unknown class
            [8, 0, 1, 0, 0, 0, 0, 0xCE],  // heartbeat on a channel
            [2, 0, 1, 0, 0, 0, 14, 0, 61, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xCE],  // header for another class
        ]
        for bytes in cases {
            XCTAssertThrowsError(try self.decodeSplit(bytes, at: 0), "\(bytes)")
        }
    }

    func testRefusedProtocolHeaderIsReported() {
        var decoder = AMQPFrameDecoder()
        var buffer = ByteBuffer(bytes: Array("AMQP".utf8) + [0, 0, 9, 1])
        XCTAssertThrowsError(try decoder.decode(buffer: &buffer))
    }

    func testSeededFuzzOfMutatedFramesNeverTraps() throws {
        var random = SplitMix64(seed: 0xA11CE)
        let seeds: [AMQPFrame] = [
            .method(channel: 1, .connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: ["capabilities": .table(["a": true, "b": [1, 2.5, "x", .bytes([1, 2])]]), "d": .decimal(scale: 2, value: 5), "t": .timestamp(1), "v": .void, "f": .float(1.5)], mechanisms: "PLAIN", locales: "en_US")),
            .method(channel: 1, .basicDeliver(consumerTag: "c", deliveryTag: 9, redelivered: true, exchange: "x", routingKey: "k")),
            .header(channel: 1, AMQPContentHeader(bodySize: 5, properties: .init(contentType: "a", headers: ["h": .int8(1)], timestamp: 5))),
            .method(channel: 1, .queueDeclare(queue: "q", passive: false, durable: true, exclusive: false, autoDelete: false, noWait: false, arguments: ["x": .array([.int16(1), .uint16(2), .int32(3), .uint32(4), .uint8(5), .double(6)])])),
        ]
        let encoded = try seeds.map { try self.encode($0) }
        var decoded = 0
        var failed = 0
        for _ in 0..<20_000 {
            var bytes = encoded[Int(random.next() % UInt64(encoded.count))]
            switch random.next() % 4 {
            case 0:  // flip a few bytes
                for _ in 0..<(1 + random.next() % 4) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            case 1:  // truncate, fixing the size so the frame is "complete"
                let cut = Int(random.next() % UInt64(bytes.count - 8))
                bytes = Array(bytes[..<(7 + cut)]) + [0xCE]
                let size = UInt32(cut)
                bytes[3] = UInt8(size >> 24); bytes[4] = UInt8(truncatingIfNeeded: size >> 16)
                bytes[5] = UInt8(truncatingIfNeeded: size >> 8); bytes[6] = UInt8(truncatingIfNeeded: size)
            case 2:  // random garbage
                bytes = (0..<(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            default:  // corrupt a payload byte, keep framing valid
                if bytes.count > 9 { bytes[7 + Int(random.next() % UInt64(bytes.count - 8))] ^= 0xFF }
            }
            var decoder = AMQPFrameDecoder(maxFrameSize: 4096)
            var buffer = ByteBuffer(bytes: bytes)
            do {
                while try decoder.decode(buffer: &buffer) != nil { decoded += 1 }
            } catch {
                XCTAssertNotNil(error as? AMQPError)
                failed += 1
            }
        }
        XCTAssertGreaterThan(failed, 1000)
    }
}

/// A small deterministic generator, so a fuzz failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
