import NIOCore

/// One logical MySQL packet: a payload (joined when the server split it into 16 MB parts) and the sequence id of
/// its last part.
struct MySQLPacket: Equatable, Sendable {
    /// The sequence id of the (last) wire packet.
    var sequenceID: UInt8
    /// The payload, without headers.
    var payload: ByteBuffer
}

/// The largest payload one wire packet carries; a payload of this length or more is split.
let mySQLMaximumPacketPayload = 0xFF_FFFF

/// Splits a byte stream into ``MySQLPacket``s: each wire packet is a 3-byte little-endian length, a sequence id and
/// the payload; a payload of exactly 0xFFFFFF bytes continues in the next wire packet.
///
/// Thread-safety: a value type owned by one channel handler.
struct MySQLPacketDecoder: ByteToMessageDecoder {
    typealias InboundOut = MySQLPacket

    /// The largest joined payload accepted (bounds memory against a malicious or broken peer): checked against each
    /// wire packet's header, before its payload is waited for, so no more than this is ever buffered for one packet.
    var maximumPayloadLength: Int
    private var pending: ByteBuffer?

    init(maximumPayloadLength: Int = 1 << 30) {
        self.maximumPayloadLength = maximumPayloadLength
    }

    /// The error for a packet over the limit; `atLeast` is what its headers announced so far (a split packet may
    /// announce more parts later).
    static func tooLarge(atLeast size: Int, limit: Int) -> MySQLError {
        MySQLError(
            code: .packetTooLarge,
            message: "the server sent a packet of at least \(size) bytes, over the limit of \(limit) bytes "
                + "(MySQLConfiguration.maximumPacketSize); the connection is closed")
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try self.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    /// Reads the next complete logical packet, or `nil` when more bytes are needed.
    mutating func next(from buffer: inout ByteBuffer) throws -> MySQLPacket? {
        while true {
            // Read as one integer: `getBytes` would allocate an array per packet.
            guard let header = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self)
            else { return nil }
            let length = Int(header & 0xFF_FFFF)
            let sequenceID = UInt8(truncatingIfNeeded: header >> 24)
            // Checked on the header alone: a packet over the limit is refused before its bytes are buffered.
            let total = (self.pending?.readableBytes ?? 0) + length
            guard total <= self.maximumPayloadLength else {
                throw Self.tooLarge(atLeast: total, limit: self.maximumPayloadLength)
            }
            guard buffer.readableBytes >= 4 + length else { return nil }
            buffer.moveReaderIndex(forwardBy: 4)
            guard var part = buffer.readSlice(length: length) else { return nil }
            if length == mySQLMaximumPacketPayload {
                if self.pending == nil {
                    self.pending = part
                } else {
                    self.pending!.writeBuffer(&part)
                }
                continue
            }
            if var joined = self.pending {
                joined.writeBuffer(&part)
                self.pending = nil
                return MySQLPacket(sequenceID: sequenceID, payload: joined)
            }
            return MySQLPacket(sequenceID: sequenceID, payload: part)
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try self.decode(context: context, buffer: &buffer)
    }
}

/// Frames payloads into wire packets.
enum MySQLPacketEncoder {
    /// `payload` with its wire header, without copying, when the four bytes before its reader index already are
    /// that header (as ``MySQLCommand/encode()`` leaves them); `nil` otherwise.
    static func framedInPlace(_ payload: ByteBuffer, sequenceID: UInt8) -> ByteBuffer? {
        let length = payload.readableBytes
        guard payload.readerIndex >= 4, length < mySQLMaximumPacketPayload else { return nil }
        var framed = payload
        framed.moveReaderIndex(to: payload.readerIndex - 4)  // no copy: only the indices move
        guard framed.getInteger(at: framed.readerIndex, endianness: .little, as: UInt32.self)
            == UInt32(length) | UInt32(sequenceID) << 24
        else { return nil }
        return framed
    }

    /// Writes `payload` into `out` as one or more wire packets starting at `sequenceID`, and returns the sequence id
    /// the peer's reply will carry. A payload that is a multiple of 0xFFFFFF bytes ends with an empty packet.
    @discardableResult
    static func encode(payload: ByteBuffer, sequenceID: UInt8, into out: inout ByteBuffer) -> UInt8 {
        var payload = payload
        var sequence = sequenceID
        while true {
            let length = min(payload.readableBytes, mySQLMaximumPacketPayload)
            out.writeInteger(UInt8(truncatingIfNeeded: length))
            out.writeInteger(UInt8(truncatingIfNeeded: length >> 8))
            out.writeInteger(UInt8(truncatingIfNeeded: length >> 16))
            out.writeInteger(sequence)
            var part = payload.readSlice(length: length)!
            out.writeBuffer(&part)
            sequence &+= 1
            if length < mySQLMaximumPacketPayload { return sequence }
        }
    }
}
