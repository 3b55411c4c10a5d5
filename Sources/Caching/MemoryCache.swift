import Synchronization

/// An in-process LRU cache with a time-to-live per entry and a bound on the number of entries.
///
/// The least recently used entry is evicted when the bound is reached; expired entries are dropped when read
/// or when they reach the end of the LRU list. Entries live in one array linked by indices, so a hit is one
/// dictionary lookup and a few index swaps under one lock, with no allocation.
///
/// Entries expire on `clock` (the continuous clock in production; tests pass a test clock and advance it). The type
/// is generic over its clock, so production reads the continuous clock directly and no clock is type-erased.
///
/// Thread-safety: `Sendable`; all state is behind one `Mutex`.
public final class MemoryCache<C: Clock<Duration>>: KeyValueCache {
    private struct Entry {
        var key: String
        var value: [UInt8]
        var expires: C.Instant
        var previous: Int
        var next: Int
    }

    private struct State {
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var free: [Int] = []
        var head = -1  // most recently used
        var tail = -1  // least recently used

        mutating func unlink(_ slot: Int) {
            let previous = self.entries[slot].previous
            let next = self.entries[slot].next
            if previous >= 0 { self.entries[previous].next = next } else { self.head = next }
            if next >= 0 { self.entries[next].previous = previous } else { self.tail = previous }
        }

        mutating func pushFront(_ slot: Int) {
            self.entries[slot].previous = -1
            self.entries[slot].next = self.head
            if self.head >= 0 { self.entries[self.head].previous = slot }
            self.head = slot
            if self.tail < 0 { self.tail = slot }
        }

        mutating func remove(_ slot: Int) {
            self.unlink(slot)
            self.index.removeValue(forKey: self.entries[slot].key)
            self.entries[slot].value = []
            self.entries[slot].key = ""
            self.free.append(slot)
        }
    }

    /// The most entries kept.
    public let capacity: Int
    /// The clock the time-to-live runs on.
    public let clock: C
    private let state = Mutex(State())
    /// Serialises ``setIfNewer(_:value:version:ttl:)`` calls (their check and two stores).
    private let versionedWrites = Mutex(())

    /// Creates a cache holding at most `capacity` entries, expiring them on `clock`.
    public init(capacity: Int = 10_000, clock: C) {
        self.capacity = max(capacity, 1)
        self.clock = clock
    }

    /// The number of entries, expired ones included until they are dropped.
    public var count: Int {
        self.state.withLock { $0.index.count }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        self.lookup(key)
    }

    /// Synchronous lookup, for callers that are not async.
    public func lookup(_ key: String) -> [UInt8]? {
        let now = self.clock.now
        return self.state.withLock { state -> [UInt8]? in
            guard let slot = state.index[key] else { return nil }
            guard state.entries[slot].expires > now else {
                state.remove(slot)
                return nil
            }
            if state.head != slot {
                state.unlink(slot)
                state.pushFront(slot)
            }
            return state.entries[slot].value
        }
    }

    public func set(_ key: String, value: [UInt8], ttl: Duration) async throws {
        self.store(key, value: value, ttl: ttl, onlyIfAbsent: false)
    }

    public func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool {
        self.store(key, value: value, ttl: ttl, onlyIfAbsent: true)
    }

    /// Synchronous store; returns false when `onlyIfAbsent` and a live entry exists.
    @discardableResult
    public func store(_ key: String, value: [UInt8], ttl: Duration, onlyIfAbsent: Bool = false) -> Bool {
        let now = self.clock.now
        let expires = now.advanced(by: ttl)
        return self.state.withLock { state -> Bool in
            if let slot = state.index[key] {
                if onlyIfAbsent && state.entries[slot].expires > now { return false }
                state.entries[slot].value = value
                state.entries[slot].expires = expires
                if state.head != slot {
                    state.unlink(slot)
                    state.pushFront(slot)
                }
                return true
            }
            // Make room: drop the least recently used entry (expired or not).
            if state.index.count >= self.capacity, state.tail >= 0 {
                state.remove(state.tail)
            }
            let entry = Entry(key: key, value: value, expires: expires, previous: -1, next: -1)
            let slot: Int
            if let reused = state.free.popLast() {
                state.entries[reused] = entry
                slot = reused
            } else {
                state.entries.append(entry)
                slot = state.entries.count - 1
            }
            state.index[key] = slot
            state.pushFront(slot)
            return true
        }
    }

    public func setIfNewer(_ key: String, value: [UInt8], version: Int64, ttl: Duration) async throws -> Bool {
        // One process: a lock around the check and both stores is as atomic as Redis's script.
        self.versionedWrites.withLock { _ in
            if self.lookup(key) != nil, let stored = self.lookup(key + "#version").flatMap({ Int64(String(decoding: $0, as: UTF8.self)) }),
                stored > version
            {
                return false
            }
            self.store(key, value: value, ttl: ttl)
            self.store(key + "#version", value: Array(String(version).utf8), ttl: ttl)
            return true
        }
    }

    public func delete(_ key: String) async throws {
        self.remove(key)
    }

    /// Synchronous removal.
    public func remove(_ key: String) {
        self.state.withLock { state in
            if let slot = state.index[key] { state.remove(slot) }
        }
    }

    public func checkHealth() async throws {}
}

extension MemoryCache where C == ContinuousClock {
    /// Creates a cache holding at most `capacity` entries, expiring them on the continuous clock.
    public convenience init(capacity: Int = 10_000) {
        self.init(capacity: capacity, clock: ContinuousClock())
    }
}
