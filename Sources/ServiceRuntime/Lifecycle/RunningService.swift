import ServiceLifecycle

/// Runs `service` as a child task while `body` runs, then cancels it and waits until it has returned, also when
/// `body` throws: the shape of every one-shot use (a command, a test, a benchmark) of something that works only
/// while its `run()` runs, such as a protocol client's connection pool. A long-running process puts the same
/// service in its `ServiceGroup` instead.
public func withRunning<Result>(
    _ service: some Service,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withRunning([service], body)
}

/// ``withRunning(_:_:)`` for several services, started together and stopped together.
public func withRunning<Result>(
    _ services: [any Service],
    _ body: () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services {
            group.addTask { try await service.run() }
        }
        defer { group.cancelAll() }
        return try await body()
    }
}
