// ordersystem-bench: drives our protocol clients against the real servers at a fixed concurrency for a fixed time,
// so benchmarks/redis and benchmarks/mysql can print our rate beside redis-benchmark's and sysbench's, and
// benchmarks/amqp our publish (confirmed) and consume rates beside the CPU they and the broker used.
import ArgumentParser
import Logging
import ServiceCore
import Synchronization
import Timing

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ordersystem-bench",
        abstract: "Throughput of our Redis, MySQL and AMQP clients against real servers.",
        subcommands: [RedisGet.self, MySQLPointSelect.self, AMQPPublish.self, AMQPConsume.self, PublishOrders.self, HelloServer.self, MySQLInsert.self, JSONCodecs.self, URLParsers.self, HTTPLoad.self]
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
    /// Adds `value` and returns the value before.
    func add(returning value: Int) -> Int { self.count.add(value, ordering: .relaxed).oldValue }
    var value: Int { self.count.load(ordering: .relaxed) }
}

/// A logger that only reports errors: the benchmarks print their own results.
func quietLogger() -> Logger {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return logger
}
