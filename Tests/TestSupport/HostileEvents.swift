import Foundation
import ServiceCore

/// The hostile `OrderCreated` events of `Tests/Fixtures/hostile-events.json`, shared with `scripts/faults` so that
/// the Swift tests and the fault tests on the real servers feed every door the same inputs.
public struct HostileEvent: Sendable {
    /// What the entry tries.
    public var name: String
    /// The message body, placeholders filled in.
    public var body: [UInt8]
    /// For a hostile entry: the text its dead-letter reason must contain. Nil for a valid entry.
    public var reason: String?
    /// For a valid entry: its quantity and exact amount text.
    public var quantity: Int?
    /// For a valid entry: its total amount as decimal text, e.g. `99999999.99`.
    public var totalAmount: String?

    /// Whether the event satisfies the contract and must be counted.
    public var isValid: Bool { self.reason == nil }

    /// Every entry with `{tag}` (customer ids start with it), `{uid}` (16 characters, unique per call) and `{n}`
    /// (the entry's index) filled in.
    public static func load(tag: String, uid: String = Self.uid()) throws -> [HostileEvent] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/hostile-events.json").path
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        guard let entries = try JSONReader.parse(bytes)["events"]?.arrayValue else {
            throw TestFailure("\(path) has no events array")
        }
        return try entries.enumerated().map { index, entry in
            guard let name = entry["name"]?.stringValue, let template = entry["body"]?.stringValue else {
                throw TestFailure("entry \(index) of \(path) has no name or body")
            }
            let filled = template.replacingOccurrences(of: "{tag}", with: tag)
                .replacingOccurrences(of: "{uid}", with: uid).replacingOccurrences(of: "{n}", with: "\(index)")
            let repeats = entry["repeat"].flatMap { value -> Int? in
                if case .number(let text) = value { return Int(text) }
                return nil
            } ?? 1
            let quantity = entry["quantity"].flatMap { value -> Int? in
                if case .number(let text) = value { return Int(text) }
                return nil
            }
            return HostileEvent(
                name: name, body: Array(String(repeating: filled, count: repeats).utf8),
                reason: entry["reason"]?.stringValue, quantity: quantity,
                totalAmount: entry["total_amount"]?.stringValue)
        }
    }

    /// 16 random hexadecimal characters.
    public static func uid() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(to: 16)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - self.count)) + self
    }
}
