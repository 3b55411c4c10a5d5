#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A server of our own, started through `scripts/stack` in a temporary folder on a free port, for tests that stop,
/// kill or restart it: the shared stack other tests use is never disturbed. Call ``down()`` at the end.
public final class ThrowawayServer: Sendable {
    /// Which server.
    public enum Kind: String, Sendable {
        case redis
    }

    public let kind: Kind
    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let directory: String
    private let script: String

    private init(kind: Kind, port: Int, directory: String, script: String) {
        self.kind = kind
        self.port = port
        self.directory = directory
        self.script = script
    }

    /// Starts a server of `kind` (only that server) on a free port, with `password` when given (Redis `requirepass`).
    public static func start(_ kind: Kind, password: String? = nil) throws -> ThrowawayServer {
        // Same rule as the shared servers: skipped outside CI when the stack is not there, a failure in CI.
        _ = try RealServers.require("REDIS_HOST")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let directory = FileManager.default.temporaryDirectory.path + "/throwaway-\(kind.rawValue)-\(UUID().uuidString.prefix(8))"
        // Its TLS port too: left unset, scripts/stack puts it next to the plain one, which another test's server
        // (or anything else) may hold, and the start then fails.
        let ports = try Self.freePorts(2)
        let server = ThrowawayServer(kind: kind, port: ports[0], directory: directory, script: root + "/scripts/stack")
        var options = ["--\(kind.rawValue)-port", String(server.port), "--\(kind.rawValue)-tls-port", String(ports[1])]
        if let password { options += ["--\(kind.rawValue)-password", password] }
        try server.stack(options + ["start", kind.rawValue])
        return server
    }

    /// SIGKILL, like a crash.
    public func kill() throws { try self.stack(["kill", self.kind.rawValue]) }
    /// Starts it again after ``kill()``.
    public func startAgain() throws { try self.stack(["start", self.kind.rawValue]) }

    /// Stops it for good and removes its folder.
    public func down() {
        try? self.stack(["kill", self.kind.rawValue])
        try? self.stack(["down"])
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// Runs `scripts/stack --dir DIR ARGUMENTS...` with its output on /dev/null, so the server it starts keeps no pipe
    /// of ours open (with a pipe, waiting for the script would wait for the server too).
    private func stack(_ arguments: [String]) throws {
        let argv = [self.script, "--dir", self.directory] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw TestFailure("cannot run \(argv[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            throw TestFailure("scripts/stack \(arguments.joined(separator: " ")) failed with status \(status)")
        }
    }

    /// `count` different ports nothing listens on now: the kernel's picks for sockets bound to port 0, all held
    /// open until the last is picked, so no two are the same.
    private static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [LoopbackSocket] = []
        defer { for socket in sockets { socket.close() } }
        for _ in 0..<count { sockets.append(try LoopbackSocket()) }
        return sockets.map(\.port)
    }
}
