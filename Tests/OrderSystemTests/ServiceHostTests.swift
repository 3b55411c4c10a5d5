import ClientTestSupport
import Logging
@testable import OrderSystemCLI
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// `ServiceHost`: what a process's group runs after its clients. These tests prove the shutdown order and the
/// start-up stop without a server, on services that record what happens to them.
final class ServiceHostTests: XCTestCase {
    /// Records its start, its graceful stop and the closing of the resource the host opened for it.
    private final class Journal: Sendable {
        let events = Mutex<[String]>([])
        func note(_ event: String) { self.events.withLock { $0.append(event) } }
        var all: [String] { self.events.withLock { $0 } }
    }

    private struct RecordingService: Service {
        let name: String
        let journal: Journal
        func run() async throws {
            self.journal.note("\(self.name) started")
            try? await gracefulShutdown()
            self.journal.note("\(self.name) stopped")
        }
    }

    func testServicesStopInReverseOrderThenWhatTheHostOpenedIsClosed() async throws {
        let journal = Journal()
        let host = ServiceHost(logger: testLogger("host")) { opened in
            opened.add { journal.note("store closed") }
            opened.add { journal.note("broker closed") }
            return [RecordingService(name: "order", journal: journal), RecordingService(name: "analytics", journal: journal)]
        }
        let group = ServiceGroup(configuration: .init(services: [host], logger: testLogger("group")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let started = await eventually { journal.all.count == 2 }
            XCTAssertTrue(started, "\(journal.all)")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        XCTAssertEqual(
            Array(journal.all.dropFirst(2)),
            ["analytics stopped", "order stopped", "broker closed", "store closed"],
            "the services stop last-first, then what was opened closes last-first")
    }

    func testAStopDuringStartUpEndsTheWaitAndIsNotAFailure() async throws {
        let journal = Journal()
        let host = ServiceHost(logger: testLogger("host")) { opened in
            opened.add { journal.note("file closed") }
            journal.note("waiting for the broker")
            // A broker that never answers: only the stop ends this wait.
            try await Task.sleep(for: .seconds(3600))
            return []
        }
        let group = ServiceGroup(configuration: .init(services: [host], logger: testLogger("group")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let waiting = await eventually { journal.all == ["waiting for the broker"] }
            XCTAssertTrue(waiting)
            await group.triggerGracefulShutdown()
            // Throws if the host turned the stop into a start-up failure.
            try await tasks.waitForAll()
        }
        XCTAssertEqual(journal.all, ["waiting for the broker", "file closed"])
    }

    func testAStartUpFailureClosesWhatWasOpenedAndReachesTheGroup() async throws {
        let journal = Journal()
        let host = ServiceHost(logger: testLogger("host")) { opened in
            opened.add { journal.note("file closed") }
            throw UnsupportedBackendError(description: "MySQL did not answer")
        }
        let group = ServiceGroup(configuration: .init(services: [host], logger: testLogger("group")))
        do {
            try await group.run()
            XCTFail("the start-up failure was swallowed")
        } catch {
            XCTAssertEqual("\(error)", "MySQL did not answer")
        }
        XCTAssertEqual(journal.all, ["file closed"])
    }
}
