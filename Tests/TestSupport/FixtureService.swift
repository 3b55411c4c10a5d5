import ServiceLifecycle

/// Runs a service in a task of its own for a test fixture whose lifetime spans `setUp` and `tearDown`, where no
/// scope encloses it; ``stop()`` cancels it and waits until it has returned. The product never does this: its
/// services run in a `ServiceGroup` or, around one-shot work, with `withRunning`.
public final class FixtureService: Sendable {
    private let task: Task<Void, Never>

    /// Starts `service.run()` now.
    public init(_ service: some Service) {
        self.task = Task { try? await service.run() }
    }

    /// Cancels the service and waits until it has returned.
    public func stop() async {
        self.task.cancel()
        await self.task.value
    }
}
