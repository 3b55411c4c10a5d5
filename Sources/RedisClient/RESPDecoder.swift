import NIOCore

/// Limits that protect the client from a misbehaving or hostile server.
///
/// Thread safety: a value type, `Sendable`.
public struct RESPLimits: Sendable, Hashable {
    /// The largest bulk string accepted, in bytes (default 512 MiB, Redis' own limit).
    public var maximumBulkLength: Int
    /// The deepest nesting of arrays accepted (default 32).
    public var maximumDepth: Int
    /// The longest simple string, error or integer line accepted, in bytes (default 64 KiB).
    public var maximumLineLength: Int
    /// The most elements an array may declare (default 16 Mi).
    public var maximumArrayCount: Int

    /// Creates limits; the defaults suit Redis.
    public init(
        maximumBulkLength: Int = 512 * 1024 * 1024,
        maximumDepth: Int = 32,
        maximumLineLength: Int = 64 * 1024,
        maximumArrayCount: Int = 16 * 1024 * 1024
    ) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumDepth = maximumDepth
        self.maximumLineLength = maximumLineLength
        self.maximumArrayCount = maximumArrayCount
    }
}

/// A pure RESP2 parser: give it bytes, take complete values. No I/O, no NIO channel.
///
/// ``next(from:)`` returns `nil` and consumes nothing until a whole value is buffered, so any split of the incoming
/// bytes parses to the same values. Malformed input or input over ``RESPLimits`` throws a ``RedisError`` with code
/// ``RedisError/Code/protocolError``; it never traps.
///
/// Thread safety: a value type; use one per connection.
public struct RESPParser: Sendable {
    /// The limits this parser enforces.
    public var limits: RESPLimits

    /// Creates a parser.
    public init(limits: RESPLimits = .init()) {
        self.limits = limits
    }

    /// Reads one complete value from the front of `buffer`, or returns `nil` (leaving `buffer` untouched) when
    /// more bytes are needed.
    public func next(from buffer: inout ByteBuffer) throws(RedisError) -> RESPValue? {
        var copy = buffer
        guard let value = try self.parse(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    private func parse(_ buffer: inout ByteBuffer, depth: Int) throws(RedisError) -> RESPValue? {
        guard let marker = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        switch marker {
        case UInt8(ascii: "+"):
            guard let line = try self.readLine(&buffer) else { return nil }
            return .simpleString(line)
        case UInt8(ascii: "-"):
            guard let line = try self.readLine(&buffer) else { return nil }
            return .error(line)
        case UInt8(ascii: ":"):
            guard let line = try self.readLine(&buffer) else { return nil }
            return .integer(try Self.parseInteger(line))
        case UInt8(ascii: "$"):
            guard let line = try self.readLine(&buffer) else { return nil }
            let length = try Self.parseInteger(line)
            if length == -1 { return .bulkString(nil) }
            guard length >= 0 else { throw .protocolError("negative bulk string length \(length)") }
            guard length <= self.limits.maximumBulkLength else {
                throw .protocolError("bulk string of \(length) bytes exceeds the limit of \(self.limits.maximumBulkLength)")
            }
            let count = Int(length)
            guard buffer.readableBytes - 2 >= count else { return nil }
            let bytes = buffer.readSlice(length: count)!
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw .protocolError("bulk string not terminated by CRLF")
            }
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            guard let line = try self.readLine(&buffer) else { return nil }
            let count = try Self.parseInteger(line)
            if count == -1 { return .array(nil) }
            guard count >= 0 else { throw .protocolError("negative array length \(count)") }
            guard count <= self.limits.maximumArrayCount else {
                throw .protocolError("array of \(count) elements exceeds the limit of \(self.limits.maximumArrayCount)")
            }
            guard depth < self.limits.maximumDepth else {
                throw .protocolError("arrays nested deeper than \(self.limits.maximumDepth)")
            }
            // Each element takes at least 3 bytes, so a short buffer cannot hold the array yet.
            guard buffer.readableBytes / 3 >= count else { return nil }
            var values: [RESPValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let element = try self.parse(&buffer, depth: depth + 1) else { return nil }
                values.append(element)
            }
            return .array(values)
        default:
            throw .protocolError("unknown RESP type byte 0x\(String(marker, radix: 16))")
        }
    }

    /// The bytes after the type marker up to CRLF, consuming both; `nil` if no CRLF is buffered yet.
    private func readLine(_ buffer: inout ByteBuffer) throws(RedisError) -> ByteBuffer? {
        let start = buffer.readerIndex + 1
        let view = buffer.readableBytesView.dropFirst()
        guard let carriageReturn = view.firstIndex(of: UInt8(ascii: "\r")) else {
            if view.count > self.limits.maximumLineLength {
                throw .protocolError("line longer than \(self.limits.maximumLineLength) bytes")
            }
            return nil
        }
        let length = carriageReturn - start
        guard length <= self.limits.maximumLineLength else {
            throw .protocolError("line longer than \(self.limits.maximumLineLength) bytes")
        }
        guard let next = buffer.getInteger(at: carriageReturn + 1, as: UInt8.self) else { return nil }
        guard next == UInt8(ascii: "\n") else { throw .protocolError("CR not followed by LF") }
        let line = buffer.getSlice(at: start, length: length)!
        buffer.moveReaderIndex(to: carriageReturn + 2)
        return line
    }

    private static func parseInteger(_ line: ByteBuffer) throws(RedisError) -> Int64 {
        let bytes = line.readableBytesView
        var index = bytes.startIndex
        var negative = false
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        } else if index < bytes.endIndex, bytes[index] == UInt8(ascii: "+") {
            index += 1
        }
        guard index < bytes.endIndex, bytes.endIndex - index <= 20 else {
            throw .protocolError("invalid integer \"\(String(buffer: line).prefix(32))\"")
        }
        var value: Int64 = 0
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw .protocolError("invalid integer \"\(String(buffer: line).prefix(32))\"")
            }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative
                ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw .protocolError("integer out of range") }
            value = next
            index += 1
        }
        return value
    }
}

/// A NIO `ByteToMessageDecoder` that turns bytes from the server into ``RESPValue``s with ``RESPParser``.
///
/// Thread safety: like every channel handler, used only on its channel's event loop.
public struct RESPValueDecoder: ByteToMessageDecoder, Sendable {
    /// Produces ``RESPValue``s.
    public typealias InboundOut = RESPValue

    private let parser: RESPParser

    /// Creates a decoder with the given limits.
    public init(limits: RESPLimits = .init()) {
        self.parser = RESPParser(limits: limits)
    }

    /// Decodes as many complete values as are buffered.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try self.parser.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    /// Decodes what is left when the channel closes; an incomplete value is dropped.
    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
