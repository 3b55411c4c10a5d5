import ClientTestSupport
import Messaging
import OrderSystemCLI
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// The ports `ordersystem all`'s services listen on, as they report them (0 until then).
final class SystemPorts: Sendable {
    private let ports = Mutex<[ServiceName: Int]>([:])
    private let openedBroker = Mutex<(any MessageBroker)?>(nil)
    /// The broker the services run on (the embedded one, unless configured otherwise).
    var broker: any MessageBroker {
        get throws {
            guard let broker = self.openedBroker.withLock({ $0 }) else { throw TestFailure("no broker opened") }
            return broker
        }
    }
    func setBroker(_ broker: any MessageBroker) { self.openedBroker.withLock { $0 = broker } }
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
    let services = try await EmbeddedSystem.makeServices(
        configuration: configuration, onServerRunning: { name, port in ports.set(name, port) },
        onBrokerOpened: { ports.setBroker($0) })
    return try await withRunningServices(services) { group in
        let started = await eventually { ports.ready }
        XCTAssertTrue(started, "services did not start", file: file, line: line)
        return try await body(ports, group)
    }
}
