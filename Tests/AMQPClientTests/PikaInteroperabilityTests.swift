import AMQPClient
import Foundation
import NIOCore
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue #7: messages cross between our client and Python's pika (the reference 0-9-1 client) both ways, with
/// body and properties intact. The Python side is `pika_peer.py` beside this file; `scripts/test` installs pika into
/// `.stack/python`. Against the shared broker (RABBITMQ_URL); queues have random names and are deleted.
final class PikaInteroperabilityTests: XCTestCase {
    /// Must match PIKA_BODY / PIKA_PROPERTIES in pika_peer.py.
    static let pikaBody = #"{"order_id":"from-pika","total":12.5,"note":"héllo"}"#

    func testMessagePublishedByOurClientIsReadByPika() async throws {
        let url = try TestEnvironment.rabbitMQURL()
        try PikaPeer.requirePika()
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("pika.in")
        try await channel.queueDeclare(name: queue, durable: true, autoDelete: false)
        do {
            try await channel.confirmSelect()
            let body = #"{"order_id":"from-swift","total":99.99,"note":"grüße ✓"}"#
            let properties = AMQPBasicProperties(
                contentType: "application/json", headers: ["source": "swift"], deliveryMode: .persistent,
                messageID: "swift-msg-1", timestamp: 1_700_000_456, type: "OrderCreated")
            try await channel.publish(
                ByteBuffer(string: body), exchange: "", routingKey: queue, mandatory: true, properties: properties)

            let read = try PikaPeer.run("consume", url: url, queue: queue)
            XCTAssertEqual(read["body"] as? String, body)
            XCTAssertEqual(read["content_type"] as? String, "application/json")
            XCTAssertEqual(read["message_id"] as? String, "swift-msg-1")
            XCTAssertEqual(read["type"] as? String, "OrderCreated")
            XCTAssertEqual((read["timestamp"] as? NSNumber)?.int64Value, 1_700_000_456)
            XCTAssertEqual((read["delivery_mode"] as? NSNumber)?.intValue, 2)
            XCTAssertEqual((read["headers"] as? [String: Any])?["source"] as? String, "swift")
            XCTAssertEqual(read["routing_key"] as? String, queue)
            // pika acked it: the queue is empty now.
            let state = try await channel.queueDeclare(name: queue, passive: true)
            XCTAssertEqual(state.messageCount, 0)
        } catch {
            _ = try? await channel.queueDelete(name: queue)
            try? await connection.close()
            throw error
        }
        try await channel.queueDelete(name: queue)
        try await connection.close()
    }

    func testMessagePublishedByPikaIsConsumedByOurClient() async throws {
        let url = try TestEnvironment.rabbitMQURL()
        try PikaPeer.requirePika()
        let connection = try await TestEnvironment.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("pika.out")
        try await channel.queueDeclare(name: queue, durable: true, autoDelete: false)
        do {
            let published = try PikaPeer.run("publish", url: url, queue: queue)
            XCTAssertEqual(published["published"] as? Bool, true)

            try await channel.basicQos(prefetchCount: 10)
            let consumer = try await channel.consume(queue: queue)
            let delivery = try await Self.first(of: consumer, within: .seconds(10))
            XCTAssertEqual(String(buffer: delivery.body), Self.pikaBody)
            XCTAssertEqual(delivery.properties.contentType, "application/json")
            XCTAssertEqual(delivery.properties.messageID, "pika-msg-1")
            XCTAssertEqual(delivery.properties.type, "OrderCreated")
            XCTAssertEqual(delivery.properties.timestamp, 1_700_000_123)
            XCTAssertEqual(delivery.properties.deliveryMode, .persistent)
            XCTAssertEqual(delivery.properties.headers?["source"]?.stringValue, "pika")
            XCTAssertEqual(delivery.routingKey, queue)
            XCTAssertEqual(delivery.exchange, "")
            XCTAssertFalse(delivery.redelivered)
            try await delivery.ack()
            try await consumer.cancel()
            let state = try await channel.queueDeclare(name: queue, passive: true)
            XCTAssertEqual(state.messageCount, 0)
        } catch {
            _ = try? await channel.queueDelete(name: queue)
            try? await connection.close()
            throw error
        }
        try await channel.queueDelete(name: queue)
        try await connection.close()
    }

    /// The consumer's first delivery, or a failure after `timeout`.
    private static func first(of consumer: AMQPConsumer, within timeout: Duration) async throws -> AMQPDelivery {
        try await withThrowingTaskGroup(of: AMQPDelivery?.self) { group in
            group.addTask {
                for try await delivery in consumer { return delivery }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let delivery = first else {
                throw AMQPError(code: .invalidArgument, message: "no delivery from pika's message within \(timeout)")
            }
            return delivery
        }
    }
}

/// Runs `python3 Tests/AMQPClientTests/pika_peer.py` with posix_spawn + waitpid, its output to a temporary file (no
/// pipes: a child that inherits a pipe can keep the reader waiting), and reads the JSON it writes.
enum PikaPeer {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    /// pika_peer.py's exit status when pika is not importable.
    static let pikaMissingStatus: Int32 = 3

    struct Outcome {
        var status: Int32
        var output: String
    }

    /// Fails in CI (`CI=true`) and skips elsewhere when `python3` cannot import pika.
    static func requirePika() throws {
        let outcome = try self.spawn(["python3", "-c", "import pika"])
        guard outcome.status != 0 else { return }
        let message = "python3 cannot import pika (exit status \(outcome.status)): the pika interoperability tests "
            + "need it. scripts/test installs it into .stack/python; by hand: `python3 -m pip install --target "
            + ".stack/python pika`. Output: \(outcome.output.split(separator: "\n").last ?? "")"
        if TestEnvironment.environment("CI") == "true" {
            XCTFail(message)
            throw AMQPError(code: .invalidArgument, message: message)
        }
        throw XCTSkip(message)
    }

    /// Runs `pika_peer.py MODE URL QUEUE OUTPUT` and returns the JSON object it wrote to OUTPUT.
    static func run(_ mode: String, url: String, queue: String) throws -> [String: Any] {
        let result = FileManager.default.temporaryDirectory.path + "/pika-peer-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: result) }
        let outcome = try self.spawn(["python3", self.testsDirectory + "/pika_peer.py", mode, url, queue, result])
        guard outcome.status == 0 else {
            throw AMQPError(
                code: .invalidArgument,
                message: "pika_peer.py \(mode) exited with status \(outcome.status): \(outcome.output)")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: result))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AMQPError(code: .invalidArgument, message: "pika_peer.py \(mode) wrote no JSON object")
        }
        return object
    }

    /// Spawns `argv` (found on PATH) with stdin on /dev/null and stdout+stderr to a temporary file, waits for it,
    /// and returns its exit status and output. `.stack/python` (where scripts/test installs pika) comes first on
    /// PYTHONPATH, so the tests also find pika when run with a bare `swift test`.
    static func spawn(_ argv: [String]) throws -> Outcome {
        let log = FileManager.default.temporaryDirectory.path + "/pika-peer-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var environment = ProcessInfo.processInfo.environment
        let stackPython = self.repositoryRoot + "/.stack/python"
        if let existing = environment["PYTHONPATH"], !existing.isEmpty {
            if !existing.split(separator: ":").contains(Substring(stackPython)) {
                environment["PYTHONPATH"] = stackPython + ":" + existing
            }
        } else {
            environment["PYTHONPATH"] = stackPython
        }
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cEnvironment { free(pointer) } }

        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0], &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            return Outcome(status: 127, output: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS by hand (the C macros are not imported).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exitStatus, output: output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
