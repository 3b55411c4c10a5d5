import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import RedisClient
import XCTest

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The shared Redis from the environment (`REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`, as `scripts/stack env`
/// exports them). Missing: a failure in CI (`CI=true`), a skip elsewhere, saying how to get the servers.
/// (Mirrors `TestSupport.RealServers.redis()`, without pulling TestSupport's dependencies into this target.)
enum SharedRedis {
    static func configuration() throws -> RedisConfiguration {
        let environment = ProcessInfo.processInfo.environment
        guard let host = environment["REDIS_HOST"], !host.isEmpty, let portText = environment["REDIS_PORT"] else {
            let message = "REDIS_HOST/REDIS_PORT are not set: this test needs the real servers. Run it through "
                + "scripts/test, or `scripts/stack up && eval \"$(scripts/stack env)\"` first."
            if environment["CI"] == "true" { throw TestFailure(message) }
            throw XCTSkip(message)
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw TestFailure("REDIS_PORT=\(portText) is not a port")
        }
        let password = environment["REDIS_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        return RedisConfiguration(host: host, port: port, password: password)
    }
}

/// A logger that stays quiet unless `TEST_LOG_LEVEL` says otherwise.
func testLogger(_ label: String = "redis-test") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}

/// A random key prefix per test, so tests can share one server.
func uniquePrefix() -> String { "redisclient-test:\(UUID().uuidString.prefix(8)):" }

/// A Redis of our own, started through `scripts/stack` in a temporary folder on a free port, for tests that kill,
/// restart or password-protect the server. Call ``down()`` at the end.
final class ThrowawayRedis: @unchecked Sendable {
    let port: Int
    let directory: URL
    private let script: URL

    private init(port: Int, directory: URL, script: URL) {
        self.port = port
        self.directory = directory
        self.script = script
    }

    static func start(password: String? = nil) async throws -> ThrowawayRedis {
        _ = try SharedRedis.configuration()  // same skip/fail rule as the shared server
        let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/stack")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-throwaway-\(UUID().uuidString)")
        let server = ThrowawayRedis(port: try await freePort(), directory: directory, script: script)
        var arguments = ["--redis-port", String(server.port)]
        if let password { arguments += ["--redis-password", password] }
        try server.stack(arguments + ["start", "redis"])
        return server
    }

    func kill() throws { try self.stack(["kill", "redis"]) }
    func startAgain() throws { try self.stack(["start", "redis"]) }

    func down() {
        // SIGKILL first: a throwaway server has nothing to save, and `stop` may wait for a graceful exit.
        try? self.stack(["kill", "redis"])
        try? self.stack(["down"])
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs `scripts/stack --dir DIR ARGUMENTS...` with `posix_spawn` and `waitpid` (Foundation's `Process` can
    /// hang in `waitUntilExit` here), its output sent to /dev/null so that the server it starts holds no pipe of ours.
    private func stack(_ arguments: [String]) throws {
        let argv = [self.script.path, "--dir", self.directory.path] + arguments
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

    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
