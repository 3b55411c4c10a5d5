import AMQPClient
import ArgumentParser
import Logging
import NIOCore
import ServiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
import Timing
#endif

// MARK: AMQP (benchmarks/amqp)

struct AMQPOptions: ParsableArguments {
    @Option(help: "Broker URL.") var url = "amqp://guest:guest@127.0.0.1:5672/"
    @Option(help: "Durable queue (declared when missing).") var queue = "bench.amqp"
    @Option(help: "Also report this process's CPU (e.g. the broker's beam.smp) over the measured window.")
    var brokerPid: Int32?

    func connect() async throws -> AMQPConnection {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return try await AMQPConnection.connect(configuration: try AMQPConnectionConfiguration(url: self.url), logger: logger)
    }
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat (`self` for this process).
func cpuSeconds(_ pid: String) -> Double? {
    let descriptor = open("/proc/\(pid)/stat", O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 4096) }
    guard count > 0 else { return nil }
    let text = String(decoding: bytes[0..<count], as: UTF8.self)
    // Fields after the command name (in parentheses, may contain spaces): state is field 3, utime 14, stime 15.
    guard let name = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: name)...].split(separator: " ")
    guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
    return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU used by this process and the broker between `start()` and `report(seconds:)`, as "% of one core".
struct CPUWindow {
    let brokerPid: Int32?
    private var ours: Double?
    private var broker: Double?

    init(brokerPid: Int32?) {
        self.brokerPid = brokerPid
    }

    mutating func start() {
        self.ours = cpuSeconds("self")
        self.broker = self.brokerPid.flatMap { cpuSeconds(String($0)) }
    }

    func report(seconds: Double) -> String {
        func percent(_ before: Double?, _ after: Double?) -> String {
            guard let before, let after, seconds > 0 else { return "n/a" }
            return "\(Int((100 * (after - before) / seconds).rounded()))%"
        }
        var text = "our CPU \(percent(self.ours, cpuSeconds("self")))"
        if let pid = self.brokerPid { text += ", broker CPU \(percent(self.broker, cpuSeconds(String(pid))))" }
        return text + " (100% = one core)"
    }
}

struct AMQPPublish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp-publish",
        abstract: "Persistent messages to a durable queue with publisher confirms, many in flight; confirmed messages/s."
    )
    @OptionGroup var amqp: AMQPOptions
    @Option(help: "Concurrent publishers, each on its own channel of one connection.") var publishers = 4
    @Option(help: "Messages per publishBatch (all in flight until confirmed).") var batch = 256
    @Option(help: "Body size in bytes.") var size = 250
    @Option(help: "Seconds to run (unless --count is reached first).") var duration = 10
    @Option(help: "Stop after this many confirmed messages.") var count: Int?

    func run() async throws {
        let connection = try await self.amqp.connect()
        let setup = try await connection.openChannel()
        try await setup.queueDeclare(name: self.amqp.queue, durable: true, autoDelete: false)
        var channels: [AMQPChannel] = []
        for _ in 0..<self.publishers {
            let channel = try await connection.openChannel()
            try await channel.confirmSelect()
            channels.append(channel)
        }
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: self.size)
        let properties = AMQPBasicProperties(
            contentType: "application/octet-stream", deliveryMode: .persistent, type: "BenchMessage")
        let message = AMQPOutboundMessage(body: body, exchange: "", routingKey: self.amqp.queue, properties: properties)
        let batch = self.batch
        let limit = self.count ?? Int.max
        let reserved = Counter()
        let confirmed = Counter()
        let failed = Counter()
        var cpu = CPUWindow(brokerPid: self.amqp.brokerPid)
        cpu.start()
        let start = ContinuousClock.now
        let deadline = start + .seconds(self.duration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for channel in channels {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        // Take up to `batch` of the remaining --count.
                        let before = reserved.add(returning: batch)
                        let take = min(batch, limit - before)
                        guard take > 0 else { return }
                        let results = await channel.publishBatch(Array(repeating: message, count: take))
                        var good = 0
                        for result in results { if case .success = result { good += 1 } }
                        confirmed.add(good)
                        failed.add(take - good)
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = (ContinuousClock.now - start).totalSeconds
        let usage = cpu.report(seconds: seconds)
        try await connection.close()
        let rate = Double(confirmed.value) / seconds
        print(
            "ordersystem-bench amqp-publish: \(Int(rate)) confirmed messages/s (\(confirmed.value) in "
                + "\(format2(seconds)) s, \(failed.value) failed; \(self.publishers) publishers × batch "
                + "\(batch), \(self.size) B persistent); \(usage)")
    }
}

struct AMQPConsume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp-consume",
        abstract: "Consumes a pre-filled queue with a prefetch and acks (multiple); messages/s."
    )
    @OptionGroup var amqp: AMQPOptions
    @Option(help: "Prefetch (basic.qos) of the consumer's channel.") var prefetch: UInt16 = 512
    @Option(help: "Ack with multiple=true every this many deliveries.") var ackEvery = 128
    @Option(help: "Messages to consume (default: the queue's message count when starting).") var count: Int?
    @Option(help: "Give up after this many seconds.") var timeout = 120
    @Flag(help: "Delete the queue at the end.") var deleteQueue = false

    func run() async throws {
        let connection = try await self.amqp.connect()
        let channel = try await connection.openChannel()
        let declared = try await channel.queueDeclare(name: self.amqp.queue, durable: true, autoDelete: false)
        let target = self.count ?? Int(declared.messageCount)
        try await channel.basicQos(prefetchCount: self.prefetch)
        var cpu = CPUWindow(brokerPid: self.amqp.brokerPid)
        cpu.start()
        let start = ContinuousClock.now
        let consumer = try await channel.consume(queue: self.amqp.queue)
        let ackEvery = max(1, self.ackEvery)
        let timeout = self.timeout
        // The deliveries, with a watchdog that cancels the consumer after --timeout.
        let received = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                var received = 0
                var unacked: AMQPDelivery?
                var pending = 0
                guard target > 0 else { return 0 }
                for try await delivery in consumer {
                    received += 1
                    pending += 1
                    unacked = delivery
                    if pending >= ackEvery || received >= target {
                        try await delivery.ack(multiple: true)
                        pending = 0
                        unacked = nil
                    }
                    if received >= target { break }
                }
                if let unacked { try await unacked.ack(multiple: true) }
                return received
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let seconds = (ContinuousClock.now - start).totalSeconds
        let usage = cpu.report(seconds: seconds)
        try? await consumer.cancel()
        if self.deleteQueue { _ = try await channel.queueDelete(name: self.amqp.queue) }
        try await connection.close()
        guard let received else {
            print("ordersystem-bench amqp-consume: timed out after \(timeout) s")
            throw ExitCode(1)
        }
        print(
            "ordersystem-bench amqp-consume: \(Int(Double(received) / seconds)) messages/s (\(received) in "
                + "\(format2(seconds)) s; prefetch \(self.prefetch), ack multiple every \(ackEvery)); \(usage)")
    }
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
