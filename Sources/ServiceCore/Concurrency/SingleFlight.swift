import Synchronization

/// Collapses concurrent calls for the same key into one: the first caller runs the operation, the others wait for
/// its result. This is the cache-stampede protection: a thousand concurrent misses on one order cost one store read.
///
/// The operation runs in its own task, so one waiter being cancelled does not cancel it for the others.
///
/// Thread-safety: `Sendable`; call from any task.
public final class SingleFlight<Value: Sendable>: Sendable {
    private let inFlight = Mutex<[String: Task<Value, any Error>]>([:])

    /// Creates an empty group.
    public init() {}

    /// Runs `operation` for `key`, or joins the run already in flight for it.
    public func run(key: String, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let (task, isLeader) = self.inFlight.withLock { tasks -> (Task<Value, any Error>, Bool) in
            if let running = tasks[key] { return (running, false) }
            let task = Task { try await operation() }
            tasks[key] = task
            return (task, true)
        }
        if isLeader {
            // The leader forgets the key once the result is in, so the next miss reads again.
            defer { self.inFlight.withLock { _ = $0.removeValue(forKey: key) } }
            return try await task.value
        }
        return try await task.value
    }

    /// Keys with a run in flight (for tests and metrics).
    public var count: Int { self.inFlight.withLock { $0.count } }
}
