import Messaging
import NIOCore

extension EmbeddedBroker {
    /// Encodes ``MessageProperties`` into the compact binary form the embedded broker stores in
    /// `broker_messages.properties`, and back.
    ///
    /// Layout (integers big-endian): a version byte (1); a flags byte (bit 0 content type, bit 1 message id,
    /// bit 2 type, bit 3 timestamp present, bit 4 persistent); each present string as a `UInt32` byte count and
    /// UTF-8; the timestamp as `Int64`; a `UInt32` header count and each header as two such strings, keys sorted so
    /// the same properties always encode to the same bytes.
    ///
    /// Thread-safety: stateless.
    enum PropertiesCodec {
        private static let version: UInt8 = 1

        private enum Flag {
            static let contentType: UInt8 = 1 << 0
            static let messageID: UInt8 = 1 << 1
            static let type: UInt8 = 1 << 2
            static let timestamp: UInt8 = 1 << 3
            static let persistent: UInt8 = 1 << 4
        }

        /// The stored bytes of `properties`.
        static func encode(_ properties: MessageProperties) -> [UInt8] {
            var buffer = ByteBuffer()
            var flags: UInt8 = 0
            if properties.contentType != nil { flags |= Flag.contentType }
            if properties.messageID != nil { flags |= Flag.messageID }
            if properties.type != nil { flags |= Flag.type }
            if properties.timestamp != nil { flags |= Flag.timestamp }
            if properties.persistent { flags |= Flag.persistent }
            buffer.writeInteger(Self.version)
            buffer.writeInteger(flags)
            for value in [properties.contentType, properties.messageID, properties.type] {
                if let value { Self.writeString(value, to: &buffer) }
            }
            if let timestamp = properties.timestamp { buffer.writeInteger(timestamp) }
            buffer.writeInteger(UInt32(properties.headers.count))
            for key in properties.headers.keys.sorted() {
                Self.writeString(key, to: &buffer)
                Self.writeString(properties.headers[key] ?? "", to: &buffer)
            }
            return Array(buffer.readableBytesView)
        }

        /// Decodes stored bytes; throws ``EmbeddedBrokerError/Code/corruptStoredMessage`` when they are malformed.
        static func decode(_ bytes: [UInt8]) throws -> MessageProperties {
            var buffer = ByteBuffer(bytes: bytes)
            guard let version: UInt8 = buffer.readInteger(), version == Self.version else {
                throw Self.corrupt("unknown properties version")
            }
            guard let flags: UInt8 = buffer.readInteger() else { throw Self.corrupt("properties flags missing") }
            var properties = MessageProperties(persistent: flags & Flag.persistent != 0)
            if flags & Flag.contentType != 0 { properties.contentType = try Self.readString(from: &buffer) }
            if flags & Flag.messageID != 0 { properties.messageID = try Self.readString(from: &buffer) }
            if flags & Flag.type != 0 { properties.type = try Self.readString(from: &buffer) }
            if flags & Flag.timestamp != 0 {
                guard let timestamp: Int64 = buffer.readInteger() else { throw Self.corrupt("timestamp truncated") }
                properties.timestamp = timestamp
            }
            guard let headerCount: UInt32 = buffer.readInteger() else { throw Self.corrupt("header count missing") }
            // Every header takes at least 8 bytes: a count this large cannot be real, and must not size an allocation.
            guard Int(headerCount) <= buffer.readableBytes / 8 else { throw Self.corrupt("header count too large") }
            for _ in 0..<headerCount {
                let key = try Self.readString(from: &buffer)
                properties.headers[key] = try Self.readString(from: &buffer)
            }
            guard buffer.readableBytes == 0 else { throw Self.corrupt("trailing bytes after properties") }
            return properties
        }

        private static func writeString(_ string: String, to buffer: inout ByteBuffer) {
            let utf8 = Array(string.utf8)
            buffer.writeInteger(UInt32(utf8.count))
            buffer.writeBytes(utf8)
        }

        private static func readString(from buffer: inout ByteBuffer) throws -> String {
            guard let length: UInt32 = buffer.readInteger() else { throw Self.corrupt("string length missing") }
            guard let string = buffer.readString(length: Int(length)) else { throw Self.corrupt("string truncated") }
            return string
        }

        private static func corrupt(_ detail: String) -> EmbeddedBrokerError {
            EmbeddedBrokerError(.corruptStoredMessage, "stored message properties are malformed: \(detail)")
        }
    }
}
