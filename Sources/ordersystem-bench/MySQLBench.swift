// benchmarks/mysql: statements through MySQLClient, as sysbench.
import ArgumentParser
import Logging
import MySQLClient
import ServiceRuntime

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
