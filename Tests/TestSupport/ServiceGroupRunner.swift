import Logging
import ServiceLifecycle

/// Runs `services` in a service group while `body` runs, then shuts them down gracefully and waits.
public func withRunningServices<T: Sendable>(
    _ services: [any Service],
    _ body: () async throws -> T
) async throws -> T {
    try await withRunningServices(services) { _ in try await body() }
}

/// Runs `services` in a service group while `body` runs (it gets the group, e.g. to shut it down early), then shuts
/// them down gracefully and waits.
public func withRunningServices<T: Sendable>(
    _ services: [any Service],
    _ body: (ServiceGroup) async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services, logger: testLogger("group")))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: T
        do {
            result = try await body(group)
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}
