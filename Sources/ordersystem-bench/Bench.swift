// ordersystem-bench: drives our protocol clients against the real servers at a fixed concurrency for a fixed time,
// so benchmarks/redis and benchmarks/mysql can print our rate beside redis-benchmark's and sysbench's.
import ArgumentParser
import Logging
import MySQLClient
import RedisClient
import ServiceRuntime
import Synchronization

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ordersystem-bench",
        abstract: "Throughput of our Redis and MySQL clients against real servers.",
        subcommands: [RedisGet.self, MySQLPointSelect.self]
    )
}

struct LoadOptions: ParsableArguments {
    @Option(help: "Concurrent workers.") var connections = 16
    @Option(help: "Seconds to run.") var duration = 10
}

/// Runs `operation` from `workers` tasks until `seconds` have passed; returns operations per second.
func measure(workers: Int, seconds: Int, _ operation: @escaping @Sendable (Int) async throws -> Int) async throws -> Double {
    let counter = Counter()
    let start = ContinuousClock.now
    let deadline = start + .seconds(seconds)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<workers {
            group.addTask {
                var iteration = 0
                while ContinuousClock.now < deadline {
                    counter.add(try await operation(worker &* 1_000_003 &+ iteration))
                    iteration += 1
                }
            }
        }
        try await group.waitForAll()
    }
    return Double(counter.value) / (ContinuousClock.now - start).totalSeconds
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ value: Int) { self.count.add(value, ordering: .relaxed) }
    var value: Int { self.count.load(ordering: .relaxed) }
}

struct RedisGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redis-get", abstract: "GET of one key, as redis-benchmark -t get.")
    @Option var host = "127.0.0.1"
    @Option var port = 6379
    @Option(help: "Commands per pipeline (1 = no pipelining).") var pipeline = 1
    @OptionGroup var load: LoadOptions

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let client = RedisClient(
            configuration: RedisConfiguration(host: self.host, port: self.port, maximumConnections: self.load.connections),
            logger: logger
        )
        let running = BackgroundService(client)
        try await client.set("key:__rand_int__", value: "xxx")
        let pipeline = self.pipeline
        let commands = Array(repeating: RedisCommand.get("key:__rand_int__"), count: pipeline)
        let rate = try await measure(workers: self.load.connections, seconds: self.load.duration) { _ in
            if pipeline == 1 {
                _ = try await client.get("key:__rand_int__")
            } else {
                _ = try await client.pipeline(commands)
            }
            return pipeline
        }
        await running.stop()
        print("ordersystem-bench redis-get: \(Int(rate)) requests/s (connections \(self.load.connections), pipeline \(pipeline))")
    }
}

struct MySQLPointSelect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql-point-select", abstract: "SELECT c FROM sbtest1 WHERE id = ?, as sysbench oltp_point_select."
    )
    @Option var host = "127.0.0.1"
    @Option var port = 3306
    @Option var user = "orderuser"
    @Option var password = "orderpass"
    @Option var database = "sbtest"
    @Option(help: "Rows in sbtest1 (ids 1...N).") var tableSize = 10_000
    @OptionGroup var load: LoadOptions

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var configuration = MySQLConfiguration(
            host: self.host, port: self.port, username: self.user, password: self.password, database: self.database
        )
        configuration.pool.maximumConnections = self.load.connections
        configuration.pool.minimumConnections = self.load.connections
        let client = MySQLClient(configuration: configuration, logger: logger)
        let running = BackgroundService(client)
        let size = self.tableSize
        let rate = try await measure(workers: self.load.connections, seconds: self.load.duration) { seed in
            let id = Int64(seed % size + 1)
            _ = try await client.query("SELECT c FROM sbtest1 WHERE id = ?", [.int(id)])
            return 1
        }
        await running.stop()
        print("ordersystem-bench mysql-point-select: \(Int(rate)) queries/s (connections \(self.load.connections))")
    }
}
