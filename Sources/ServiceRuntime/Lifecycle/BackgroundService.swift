import ServiceLifecycle

/// Runs a client's `run()` (a connection pool) in a task of its own, before any service group exists: start-up work
/// such as migrations needs the pool already. ``stop()`` cancels it and waits, at the very end of shutdown.
///
/// Thread-safety: `Sendable`.
public final class BackgroundService: Sendable {
    private let task: Task<Void, Never>

    /// Starts `service.run()` now.
    public init(_ service: some Service) {
        self.task = Task {
            try? await service.run()
        }
    }

    /// Cancels the service and waits until it has returned.
    public func stop() async {
        self.task.cancel()
        await self.task.value
    }

    /// Runs `body`, then stops the service, also when `body` throws: the shape of every one-shot use (a command, a
    /// test, a benchmark) of a client that needs its `run()`.
    public func stop<Result>(after body: () async throws -> Result) async throws -> Result {
        do {
            let result = try await body()
            await self.stop()
            return result
        } catch {
            await self.stop()
            throw error
        }
    }
}
