// benchmarks/redis: GET through RedisClient, as redis-benchmark -t get: `--connections` workers (redis-benchmark's
// clients), each waiting for its reply (or its pipeline's replies) before sending the next. The workers call the
// client as a service's concurrent requests would, from ordinary tasks; how the client spreads them over
// connections (its shared connections, automatic pipelining) is the client's own business and part of what is measured.
import ArgumentParser
import Logging
import RedisClient
import ServiceRuntime

struct RedisGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redis-get", abstract: "GET of one key, as redis-benchmark -t get.")
    @Option var host = "127.0.0.1"
    @Option var port = 6379
    @Option(help: "Commands per pipeline (1 = no pipelining).") var pipeline = 1
    @Option(help: "Connections the client shares between the workers (default: the client's default).")
    var sharedConnections = RedisConfiguration().sharedConnections
    @OptionGroup var load: LoadOptions

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let client = RedisClient(
            configuration: RedisConfiguration(
                host: self.host, port: self.port, maximumConnections: self.load.connections,
                sharedConnections: self.sharedConnections
            ),
            logger: logger
        )
        let pipeline = self.pipeline
        let rate = try await withRunning(client) {
            try await client.set("key:__rand_int__", value: "xxx")
            let commands = Array(repeating: RedisCommand.get("key:__rand_int__"), count: pipeline)
            return try await measure(workers: self.load.connections, seconds: self.load.duration) { _ in
                if pipeline == 1 {
                    _ = try await client.get("key:__rand_int__")
                } else {
                    _ = try await client.pipeline(commands)
                }
                return pipeline
            }
        }
        print("ordersystem-bench redis-get: \(Int(rate)) requests/s (connections \(self.load.connections), pipeline \(pipeline))")
    }
}
