/// An AMQP field table: string keys (short strings, at most 255 bytes) to ``AMQPFieldValue``s, kept in the order
/// they were inserted or received, so encoding is deterministic.
///
/// Used for queue and exchange arguments (`x-dead-letter-exchange`, `x-message-ttl`, `x-queue-type`, ...), message
/// headers, and the client/server properties. A value type, `Sendable`.
public struct AMQPFieldTable: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    /// One key and its value.
    public struct Entry: Sendable, Hashable {
        /// The key.
        public var key: String
        /// The value.
        public var value: AMQPFieldValue
    }

    /// The entries, in order.
    public private(set) var entries: [Entry]

    /// An empty table.
    public init() { self.entries = [] }

    /// A table from key/value pairs; a later duplicate key replaces the earlier value.
    public init(_ pairs: [(String, AMQPFieldValue)]) {
        self.entries = []
        for (key, value) in pairs { self[key] = value }
    }

    /// A table from a dictionary literal.
    public init(dictionaryLiteral elements: (String, AMQPFieldValue)...) { self.init(elements) }

    /// The value for `key`; setting `nil` removes the key.
    public subscript(key: String) -> AMQPFieldValue? {
        get { self.entries.first { $0.key == key }?.value }
        set {
            if let index = self.entries.firstIndex(where: { $0.key == key }) {
                if let newValue { self.entries[index].value = newValue } else { self.entries.remove(at: index) }
            } else if let newValue {
                self.entries.append(Entry(key: key, value: newValue))
            }
        }
    }

    /// The number of entries.
    public var count: Int { self.entries.count }
    /// Whether the table has no entries.
    public var isEmpty: Bool { self.entries.isEmpty }

    /// Iterates the entries in order.
    public func makeIterator() -> IndexingIterator<[Entry]> { self.entries.makeIterator() }

    /// Appends without checking for a duplicate (used by the decoder, which keeps what the peer sent).
    mutating func appendDecoded(_ key: String, _ value: AMQPFieldValue) {
        self.entries.append(Entry(key: key, value: value))
    }
}
