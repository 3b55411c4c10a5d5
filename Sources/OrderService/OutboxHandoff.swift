import ServiceCore
import Synchronization

/// New events handed from `POST /orders` to the outbox relay once their transaction has committed, so the relay
/// publishes them from memory instead of reading back from the outbox what was just written.
///
/// Bounded: past ``capacity`` an event is not kept here. Nothing is lost that way: every event is in the outbox
/// table, and the relay's poll claims it once it is older than the hand-off window (docs/ARCHITECTURE.md,
/// "Outbox").
public final class OutboxHandoff: Sendable {
    /// Events held at most.
    public let capacity: Int
    /// Wakes the relay.
    public let signal = WakeSignal()
    private let events = Mutex<[OutboxEvent]>([])

    /// Creates an empty hand-off holding at most `capacity` events.
    public init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
    }

    /// Hands over a committed event and wakes the relay; returns false when the hand-off is full (the poll will
    /// find the event instead).
    @discardableResult
    public func hand(_ event: OutboxEvent) -> Bool {
        let kept = self.events.withLock { events -> Bool in
            guard events.count < self.capacity else { return false }
            events.append(event)
            return true
        }
        self.signal.signal()
        return kept
    }

    /// Takes up to `limit` events, oldest first.
    func take(_ limit: Int) -> [OutboxEvent] {
        self.events.withLock { events in
            guard !events.isEmpty else { return [] }
            let count = min(limit, events.count)
            defer { events.removeFirst(count) }
            return Array(events.prefix(count))
        }
    }

    /// Events held now.
    public var count: Int { self.events.withLock { $0.count } }
}
