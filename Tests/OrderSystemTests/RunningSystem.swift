import OrderSystemCLI
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// The ports `ordersystem all`'s services listen on, as they report them (0 until then).
final class SystemPorts: Sendable {
    private let ports = Mutex<[ServiceName: Int]>([:])
    func set(_ name: ServiceName, _ port: Int) { self.ports.withLock { $0[name] = port } }
    subscript(_ name: ServiceName) -> Int { self.ports.withLock { $0[name] ?? 0 } }
    var ready: Bool { self.ports.withLock { $0.count == ServiceName.allCases.count } }
}

/// Runs `ordersystem all`'s services in this process with `configuration` while `body` runs (once every service
/// listens), then shuts them down gracefully and waits; `body` gets the ports and the group (to shut it down early).
func withRunningSystem<T: Sendable>(
    _ configuration: SystemConfiguration,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: (SystemPorts, ServiceGroup) async throws -> T
) async throws -> T {
    let ports = SystemPorts()
    let services = try await EmbeddedSystem.makeServices(configuration: configuration) { name, port in
        ports.set(name, port)
    }
    let group = ServiceGroup(configuration: .init(services: services, logger: testLogger("system")))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: T
        do {
            let started = await eventually { ports.ready }
            XCTAssertTrue(started, "services did not start", file: file, line: line)
            result = try await body(ports, group)
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
