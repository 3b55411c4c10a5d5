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
    /// The most bytes one reply may take while it is still arriving (default 1 GiB). The other limits bound each
    /// part; this bounds their product, e.g. an array of many bulk strings each under ``maximumBulkLength``.
    public var maximumReplyLength: Int

    /// Creates limits; the defaults suit Redis.
    public init(
        maximumBulkLength: Int = 512 * 1024 * 1024,
        maximumDepth: Int = 32,
        maximumLineLength: Int = 64 * 1024,
        maximumArrayCount: Int = 16 * 1024 * 1024,
        maximumReplyLength: Int = 1024 * 1024 * 1024
    ) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumDepth = maximumDepth
        self.maximumLineLength = maximumLineLength
        self.maximumArrayCount = maximumArrayCount
        self.maximumReplyLength = maximumReplyLength
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
        var result: RESPValue?
        try self.parseAll(from: &buffer, maximumCount: 1) { result = $0 }
        return result
    }

    /// Parses the complete values at the front of `buffer` (at most `maximumCount`), handing each to `body` in
    /// order, and consumes exactly their bytes; an incomplete value at the end is left for later. On malformed
    /// input it throws after consuming (and handing over) the values before it.
    ///
    /// One pass over the bytes through an unsafe pointer: no per-value copies of `buffer`, no slices for lines;
    /// only simple strings, errors and bulk strings become slices of `buffer` (no bytes are copied).
    func parseAll(
        from buffer: inout ByteBuffer, maximumCount: Int = .max, _ body: (RESPValue) -> Void
    ) throws(RedisError) {
        let limits = self.limits
        let (consumed, error): (Int, RedisError?) = buffer.withUnsafeReadableBytes { bytes in
            var scanner = RESPScanner(bytes: bytes, source: buffer, limits: limits)
            var consumed = 0
            var count = 0
            while count < maximumCount {
                do throws(RedisError) {
                    guard let value = try scanner.value(depth: 0) else {
                        // The bytes after the last complete value are one reply still arriving.
                        let pending = bytes.count - consumed
                        if pending > limits.maximumReplyLength {
                            return (
                                consumed,
                                .protocolError(
                                    "a reply of more than \(limits.maximumReplyLength) bytes exceeds the limit "
                                        + "(\(pending) bytes received and not complete)")
                            )
                        }
                        break
                    }
                    consumed = scanner.position
                    count += 1
                    body(value)
                } catch {
                    return (consumed, error)
                }
            }
            return (consumed, nil)
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if let error { throw error }
    }
}

/// Walks the readable bytes of a buffer. `value(depth:)` returns `nil` when the value is not complete yet.
private struct RESPScanner {
    let bytes: UnsafeRawBufferPointer
    /// The buffer `bytes` belongs to, for slices.
    let source: ByteBuffer
    let limits: RESPLimits
    /// Where the next value starts, relative to the reader index.
    var position = 0

    init(bytes: UnsafeRawBufferPointer, source: ByteBuffer, limits: RESPLimits) {
        self.bytes = bytes
        self.source = source
        self.limits = limits
    }

    mutating func value(depth: Int) throws(RedisError) -> RESPValue? {
        let start = self.position
        guard start < self.bytes.count else { return nil }
        let marker = self.bytes[start]
        switch marker {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let line = try self.line(after: start) else { return nil }
            self.position = line.next
            let text = self.slice(at: line.start, length: line.length)
            return marker == UInt8(ascii: "+") ? .simpleString(text) : .error(text)
        case UInt8(ascii: ":"):
            guard let line = try self.line(after: start) else { return nil }
            let value = try self.integer(at: line.start, length: line.length)
            self.position = line.next
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let line = try self.line(after: start) else { return nil }
            let length = try self.integer(at: line.start, length: line.length)
            if length == -1 {
                self.position = line.next
                return .bulkString(nil)
            }
            guard length >= 0 else { throw .protocolError("negative bulk string length \(length)") }
            guard length <= self.limits.maximumBulkLength else {
                throw .protocolError("bulk string of \(length) bytes exceeds the limit of \(self.limits.maximumBulkLength)")
            }
            let count = Int(length)
            guard self.bytes.count - line.next - 2 >= count else { return nil }
            let end = line.next + count
            guard self.bytes[end] == UInt8(ascii: "\r"), self.bytes[end + 1] == UInt8(ascii: "\n") else {
                throw .protocolError("bulk string not terminated by CRLF")
            }
            self.position = end + 2
            return .bulkString(self.slice(at: line.next, length: count))
        case UInt8(ascii: "*"):
            guard let line = try self.line(after: start) else { return nil }
            let count = try self.integer(at: line.start, length: line.length)
            if count == -1 {
                self.position = line.next
                return .array(nil)
            }
            guard count >= 0 else { throw .protocolError("negative array length \(count)") }
            guard count <= self.limits.maximumArrayCount else {
                throw .protocolError("array of \(count) elements exceeds the limit of \(self.limits.maximumArrayCount)")
            }
            guard depth < self.limits.maximumDepth else {
                throw .protocolError("arrays nested deeper than \(self.limits.maximumDepth)")
            }
            // Each element takes at least 3 bytes, so a short buffer cannot hold the array yet.
            guard (self.bytes.count - line.next) / 3 >= count else { return nil }
            self.position = line.next
            var values: [RESPValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let element = try self.value(depth: depth + 1) else { return nil }
                values.append(element)
            }
            return .array(values)
        default:
            throw .protocolError("unknown RESP type byte 0x\(String(marker, radix: 16))")
        }
    }

    /// The line after the type marker at `marker`, up to CRLF: where its text starts, its length and where the next
    /// value starts; `nil` if no CRLF is buffered yet.
    private func line(after marker: Int) throws(RedisError) -> (start: Int, length: Int, next: Int)? {
        let start = marker + 1
        let end = self.bytes.count
        // A CR further than the limit would make the line too long: no need to look beyond it.
        let searchEnd = end - start > self.limits.maximumLineLength ? start + self.limits.maximumLineLength + 1 : end
        var index = start
        while index < searchEnd, self.bytes[index] != UInt8(ascii: "\r") { index += 1 }
        guard index < searchEnd else {
            if end - start > self.limits.maximumLineLength {
                throw .protocolError("line longer than \(self.limits.maximumLineLength) bytes")
            }
            return nil
        }
        guard index + 1 < end else { return nil }
        guard self.bytes[index + 1] == UInt8(ascii: "\n") else { throw .protocolError("CR not followed by LF") }
        return (start, index - start, index + 2)
    }

    private func integer(at start: Int, length: Int) throws(RedisError) -> Int64 {
        var index = start
        let end = start + length
        var negative = false
        if index < end, self.bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        } else if index < end, self.bytes[index] == UInt8(ascii: "+") {
            index += 1
        }
        guard index < end, end - index <= 20 else { throw self.invalidInteger(at: start, length: length) }
        var value: Int64 = 0
        while index < end {
            let byte = self.bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw self.invalidInteger(at: start, length: length)
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

    private func invalidInteger(at start: Int, length: Int) -> RedisError {
        let shown = UnsafeRawBufferPointer(rebasing: self.bytes[start..<(start + min(length, 32))])
        return .protocolError("invalid integer \"\(String(decoding: shown, as: UTF8.self))\"")
    }

    private func slice(at offset: Int, length: Int) -> ByteBuffer {
        self.source.getSlice(at: self.source.readerIndex + offset, length: length)!
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
