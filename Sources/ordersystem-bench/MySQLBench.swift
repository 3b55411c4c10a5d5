// benchmarks/mysql: statements through MySQLClient, as sysbench runs them: point selects as oltp_point_select,
// inserts as oltp_insert. Each worker calls `client.query` as a service does (a pooled connection leased per
// statement, parameters bound through the connection's prepared-statement cache); workers run on the global
// executor, not on the event loops.
import ArgumentParser
import Logging
import MySQLClient
import ServiceRuntime

/// Where the sbtest tables are and how many workers (and pooled connections) to use.
struct MySQLBenchOptions: ParsableArguments {
    @Option var host = "127.0.0.1"
    @Option var port = 3306
    @Option var user = "orderuser"
    @Option var password = "orderpass"
    @Option var database = "sbtest"
    @Option(help: "Rows in sbtest1 (ids 1...N), as sysbench's --table-size.") var tableSize = 10_000
    @OptionGroup var load: LoadOptions

    /// Runs `statement` from `load.connections` workers over a client with as many pooled connections (opened
    /// before the clock starts, as sysbench connects its threads first); returns statements per second.
    func measure(_ statement: @escaping @Sendable (MySQLClient, Int) async throws -> Void) async throws -> Double {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var configuration = MySQLConfiguration(
            host: self.host, port: self.port, username: self.user, password: self.password, database: self.database
        )
        configuration.pool.maximumConnections = self.load.connections
        configuration.pool.minimumConnections = self.load.connections
        let client = MySQLClient(configuration: configuration, logger: logger)
        let rate = try await withRunning(client) {
            // Warm-up outside the measured time: every connection opened and the statement prepared on it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<self.load.connections {
                    group.addTask { try await statement(client, worker) }
                }
                try await group.waitForAll()
            }
            return try await ordersystem_bench.measure(workers: self.load.connections, seconds: self.load.duration) {
                seed in
                try await statement(client, seed)
                return 1
            }
        }
        return rate
    }
}

struct MySQLPointSelect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql-point-select",
        abstract: "SELECT c FROM sbtest1 WHERE id = ?, as sysbench oltp_point_select."
    )
    @OptionGroup var options: MySQLBenchOptions

    func run() async throws {
        let size = self.options.tableSize
        let rate = try await self.options.measure { client, seed in
            let id = Int64(seed % size + 1)
            _ = try await client.query("SELECT c FROM sbtest1 WHERE id = ?", [.int(id)])
        }
        print(
            "ordersystem-bench mysql-point-select: \(Int(rate)) queries/s (connections \(self.options.load.connections))"
        )
    }
}

/// As sysbench's oltp_insert (oltp_insert.lua with oltp_common.lua's defaults, `--auto-inc=on`): one autocommitted
/// `INSERT INTO sbtest1 (id, k, c, pad)` per event with id 0 (the server assigns the next AUTO_INCREMENT value), k
/// uniform in 1...table size, c and pad random digits in sysbench's templates (10 and 5 groups of 11 digits joined by
/// '-': 119 and 59 characters). sysbench sends the statement as text (`COM_QUERY`); we bind the values to `?` as the
/// services do (`COM_STMT_EXECUTE`): both are one round trip per insert.
struct MySQLInsert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mysql-insert",
        abstract: "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?), as sysbench oltp_insert."
    )
    @OptionGroup var options: MySQLBenchOptions

    func run() async throws {
        let size = self.options.tableSize
        let rate = try await self.options.measure { client, seed in
            var random = SplitMix64(seed: UInt64(truncatingIfNeeded: seed))
            let k = Int64(random.next() % UInt64(size) + 1)
            let c = randomDigits(groups: 10, using: &random)
            let pad = randomDigits(groups: 5, using: &random)
            _ = try await client.query(
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)", [.int(0), .int(k), .string(c), .string(pad)])
        }
        print("ordersystem-bench mysql-insert: \(Int(rate)) inserts/s (connections \(self.options.load.connections))")
    }
}

/// sysbench's `###########-###########-...`: `groups` groups of 11 random digits joined by '-'.
func randomDigits(groups: Int, using random: inout SplitMix64) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(groups * 12)
    for group in 0..<groups {
        if group > 0 { bytes.append(UInt8(ascii: "-")) }
        var bits = random.next()
        for _ in 0..<11 {
            bytes.append(UInt8(ascii: "0") + UInt8(bits % 10))
            bits /= 10
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A small, fast generator (SplitMix64), so making values costs the bench little, as sysbench's own generator does.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed &* 0x9E37_79B9_7F4A_7C15
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
