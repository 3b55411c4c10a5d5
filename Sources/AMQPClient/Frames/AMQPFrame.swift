import NIOCore

/// The header a client sends first: `AMQP` 0 0 9 1.
enum AMQPProtocolHeader {
    static let bytes: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1]
}

/// A content header frame's payload: the class, the body size and the properties.
struct AMQPContentHeader: Sendable, Equatable {
    var classID: UInt16 = 60
    var bodySize: UInt64
    var properties: AMQPBasicProperties
}

/// One AMQP 0-9-1 frame.
enum AMQPFrame: Sendable, Equatable {
    case method(channel: UInt16, AMQPMethod)
    case header(channel: UInt16, AMQPContentHeader)
    case body(channel: UInt16, ByteBuffer)
    case heartbeat

    static let frameEnd: UInt8 = 0xCE
    /// Type octet, channel, size before the payload; the frame-end octet after it.
    static let overhead = 8
    /// Every peer accepts frames of this size before tuning (`frame-min-size`).
    static let minimumFrameMax: UInt32 = 4096

    var channel: UInt16 {
        switch self {
        case .method(let channel, _), .header(let channel, _), .body(let channel, _): channel
        case .heartbeat: 0
        }
    }

    func encode(into buffer: inout ByteBuffer) throws {
        let type: UInt8
        switch self {
        case .method: type = 1
        case .header: type = 2
        case .body: type = 3
        case .heartbeat: type = 8
        }
        buffer.writeInteger(type)
        buffer.writeInteger(self.channel)
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        switch self {
        case .method(_, let method):
            try method.encode(into: &buffer)
        case .header(_, let header):
            buffer.writeInteger(header.classID)
            buffer.writeInteger(UInt16(0))
            buffer.writeInteger(header.bodySize)
            try header.properties.encode(into: &buffer)
        case .body(_, let body):
            var body = body
            buffer.writeBuffer(&body)
        case .heartbeat:
            break
        }
        buffer.setInteger(UInt32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
        buffer.writeInteger(Self.frameEnd)
    }

    /// Decodes one frame's payload (everything between the size and the frame-end octet).
    static func decode(type: UInt8, channel: UInt16, payload: inout ByteBuffer) throws -> AMQPFrame {
        let frame: AMQPFrame
        switch type {
        case 1:
            frame = .method(channel: channel, try AMQPMethod.decode(from: &payload))
        case 2:
            let classID: UInt16 = try payload.readAMQPInteger()
            let weight: UInt16 = try payload.readAMQPInteger()
            let bodySize: UInt64 = try payload.readAMQPInteger()
            guard weight == 0 else { throw AMQPError.protocolError("content header weight \(weight)") }
            guard classID == 60 else { throw AMQPError.protocolError("content header for class \(classID)") }
            let properties = try AMQPBasicProperties.decode(from: &payload)
            frame = .header(channel: channel, AMQPContentHeader(classID: classID, bodySize: bodySize, properties: properties))
        case 3:
            frame = .body(channel: channel, payload.readSlice(length: payload.readableBytes)!)
        case 8:
            guard channel == 0 else { throw AMQPError.protocolError("heartbeat on channel \(channel)") }
            frame = .heartbeat
        default:
            throw AMQPError.protocolError("unknown frame type \(type)")
        }
        guard payload.readableBytes == 0 else {
            throw AMQPError.protocolError("\(payload.readableBytes) unexpected bytes at the end of a frame")
        }
        return frame
    }
}
