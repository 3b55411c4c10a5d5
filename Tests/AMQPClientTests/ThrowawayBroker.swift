import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A RabbitMQ of its own for tests that kill, stop or pause the broker: started through `scripts/stack` with a
/// temporary `--dir`, free ports and its own node name, and brought down at the end. The shared broker is never
/// touched.
final class ThrowawayBroker: @unchecked Sendable {
    let directory: String
    let port: Int
    private let node: String
    private let script: String

    /// The repository root, from this file's real path (the test folder may be reached through a symlink).
    static var repositoryRoot: String {
        let path = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        return path.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    init() throws {
        self.script = Self.repositoryRoot + "/scripts/stack"
        self.directory = NSTemporaryDirectory() + "amqp-throwaway-\(UInt32.random(in: 0...UInt32.max))"
        // Every port explicit, the TLS one too: left unset, scripts/stack puts it next to the AMQP port, which
        // another server may hold.
        let ports = try Self.freePorts(6)
        self.port = ports[0]
        let node = "amqptest\(UInt32.random(in: 0...UInt32.max))@localhost"
        self.node = node
        try self.stack(
            "--dir", self.directory, "--rabbitmq-port", "\(ports[0])", "--rabbitmq-management-port", "\(ports[1])",
            "--rabbitmq-dist-port", "\(ports[2])", "--mariadb-port", "\(ports[3])", "--redis-port", "\(ports[4])",
            "--rabbitmq-tls-port", "\(ports[5])", "--rabbitmq-node", node, "start", "rabbitmq")
    }

    var url: String { "amqp://guest:guest@127.0.0.1:\(self.port)/" }

    func kill() throws { try self.stack("--dir", self.directory, "kill", "rabbitmq") }

    /// Runs `rabbitmqctl` against this broker (e.g. `set_vm_memory_high_watermark` to raise a memory alarm).
    func rabbitmqctl(_ arguments: String...) throws {
        try self.stack(["--dir", self.directory, "--rabbitmq-node", self.node, "rabbitmqctl"] + arguments)
    }
    func start() throws { try self.stack("--dir", self.directory, "start", "rabbitmq") }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker's processes: the socket stays open, nothing answers.
    func signal(_ signal: Int32) throws {
        let pidFile = self.directory + "/rabbitmq/rabbitmq.pid"
        let text = try String(contentsOfFile: pidFile, encoding: .utf8)
        for pid in text.split(whereSeparator: { !$0.isNumber }).compactMap({ Int32($0) }) {
            Foundation.kill(pid, signal)
        }
    }

    /// Kills the broker (a throwaway needs no graceful stop: a paused one would take 60 s to give up), then
    /// brings the instance down and removes its folder.
    func down() {
        _ = try? self.signal(SIGCONT)
        _ = try? self.stack("--dir", self.directory, "kill", "rabbitmq")
        _ = try? self.stack("--dir", self.directory, "down")
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// Runs `scripts/stack` with posix_spawn and waitpid (Foundation's `Process` did not reap it reliably here),
    /// its output in a file, not a pipe: the broker daemon inherits the descriptors and would hold a pipe open.
    private func stack(_ arguments: String...) throws {
        try self.stack(arguments)
    }

    private func stack(_ arguments: [String]) throws {
        let logPath = NSTemporaryDirectory() + "amqp-stack-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([self.script] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, self.script, &actions, nil, argv, environ)
        guard spawned == 0 else { throw BrokerError("cannot run \(self.script): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitCode = (status >> 8) & 0xFF
        guard status & 0x7F == 0, exitCode == 0 else {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw BrokerError("scripts/stack \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
    }

    struct BrokerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private static func freePorts(_ count: Int) throws -> [Int] {
        var channels: [any Channel] = []
        defer { for channel in channels { try? channel.close().wait() } }
        for _ in 0..<count {
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).wait()
            channels.append(channel)
        }
        return channels.compactMap { $0.localAddress?.port }
    }
}
