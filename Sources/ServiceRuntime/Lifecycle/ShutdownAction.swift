import ServiceLifecycle

/// A service that does nothing until graceful shutdown, then runs `action` (closing a store, a broker).
///
/// Placed first in a service group, it runs last: service groups shut down in reverse order, so everything that
/// uses the resource has stopped before it is closed.
public struct ShutdownAction: Service {
    private let action: @Sendable () async -> Void

    /// Creates the service.
    public init(_ action: @escaping @Sendable () async -> Void) {
        self.action = action
    }

    public func run() async throws {
        // Returns on graceful shutdown or cancellation; either way the resource is released.
        try? await gracefulShutdown()
        await self.action()
    }
}
