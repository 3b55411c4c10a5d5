import ServiceLifecycle
import Synchronization

/// What a process opened that is not a running client (SQLite files, the embedded broker): closed in reverse order
/// of opening by whoever opened them, once nothing uses them any more (``ServiceHost`` after its services stopped,
/// a command after its work).
///
/// Thread-safety: `Sendable`; opening happens in one task, closing once at the end.
final class OpenedResources: Sendable {
    private let closes = Mutex<[@Sendable () async -> Void]>([])
    private let running = Mutex<[any Service]>([])

    /// Something opened that works only while its `run()` runs (the embedded broker's scheduler): ``ServiceHost``
    /// runs it first in its group, so it stops after the services that use it and before it is closed.
    func runBeside(_ service: any Service) {
        self.running.withLock { $0.append(service) }
    }

    /// What ``runBeside(_:)`` collected, in order.
    var services: [any Service] { self.running.withLock { $0 } }

    /// Remembers how to close something just opened.
    func add(_ close: @escaping @Sendable () async -> Void) {
        self.closes.withLock { $0.append(close) }
    }

    /// Closes everything, the last opened first; a second call closes nothing.
    func closeAll() async {
        let closes = self.closes.withLock { closes in
            defer { closes.removeAll() }
            return closes
        }
        for close in closes.reversed() { await close() }
    }

    /// Runs `body`, then closes everything, also when `body` throws.
    func closing<Result>(after body: () async throws -> Result) async throws -> Result {
        do {
            let result = try await body()
            await self.closeAll()
            return result
        } catch {
            await self.closeAll()
            throw error
        }
    }
}
