import NIOCore

/// Splits bytes into ``AMQPFrame``s. Throws ``AMQPError`` (`protocolError`) on a frame larger than `maxFrameSize`, a
/// missing frame-end octet, an unknown type or a malformed payload; it never traps.
struct AMQPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = AMQPFrame

    /// The largest frame accepted, including the 8 bytes of overhead.
    var maxFrameSize: UInt32

    init(maxFrameSize: UInt32 = 131_072) {
        self.maxFrameSize = max(maxFrameSize, AMQPFrame.minimumFrameMax)
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> AMQPFrame? {
        guard buffer.readableBytes >= 7,
            let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let channel = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .big, as: UInt16.self),
            let size = buffer.getInteger(at: buffer.readerIndex + 3, endianness: .big, as: UInt32.self)
        else { return nil }
        if type == UInt8(ascii: "A") {
            // The broker answers a protocol header it does not accept with its own header, then closes.
            throw AMQPError.protocolError("the broker refused the protocol version")
        }
        guard UInt64(size) + UInt64(AMQPFrame.overhead) <= UInt64(self.maxFrameSize) else {
            throw AMQPError.protocolError("frame of \(size) bytes exceeds frame_max \(self.maxFrameSize)")
        }
        let total = Int(size) + AMQPFrame.overhead
        guard buffer.readableBytes >= total else { return nil }
        guard buffer.getInteger(at: buffer.readerIndex + total - 1, as: UInt8.self) == AMQPFrame.frameEnd else {
            throw AMQPError.protocolError("frame does not end with 0xCE")
        }
        buffer.moveReaderIndex(forwardBy: 7)
        var payload = buffer.readSlice(length: Int(size))!
        buffer.moveReaderIndex(forwardBy: 1)
        return try AMQPFrame.decode(type: type, channel: channel, payload: &payload)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> AMQPFrame? {
        try self.decode(buffer: &buffer)
    }
}
