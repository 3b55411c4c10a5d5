// benchmarks/run's POST /orders load with latency per second: closed loop (N connections, each sending as soon as its
// last answer came, as wrk does) or open loop (a fixed arrival rate; a request's latency counts from the moment it was
// due, so a stall is charged to every request it held up, which a closed loop hides). No open-loop HTTP tool is
// packaged for this machine, so it is ours: NIO's HTTP/1 client codec on keep-alive connections.
import ArgumentParser
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Timing

struct HTTPLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-load",
        abstract: "POST /orders at a fixed arrival rate (--rate) or from --connections busy connections; prints one JSON line."
    )

    @Option(help: "Base URL of the order service.") var url = "http://127.0.0.1:8080"
    @Option(help: "Arrivals per second (open loop); 0: closed loop.") var rate = 0
    @Option(help: "Closed loop: connections, each always busy. Open loop: connections at most.") var connections = 16
    @Option(help: "Seconds of load.") var duration = 10
    @Option(help: "Customer id prefix, so the orders can be found afterwards.") var tag = "load"

    func run() async throws {
        guard let target = LoadTarget(url: self.url) else { throw ValidationError("--url must be http://host:port") }
        let recorder = LatencyRecorder(seconds: self.duration)
        let start = ContinuousClock.now + .milliseconds(200)
        let deadline = start + .seconds(self.duration)
        let jobs = JobQueue()
        let tag = self.tag
        let openLoop = self.rate > 0
        try await withThrowingDiscardingTaskGroup { group in
            for worker in 0..<self.connections {
                group.addTask {
                    var connection: LoadConnection?
                    var sequence = worker
                    while true {
                        let due: ContinuousClock.Instant
                        if openLoop {
                            guard let next = await jobs.next() else { break }
                            due = next
                        } else {
                            if ContinuousClock.now < start { try await Task.sleep(until: start) }
                            due = ContinuousClock.now
                            guard due < deadline else { break }
                        }
                        sequence += 1_000_003
                        let body = #"{"customer_id":"\#(tag)-\#(sequence % 50)","product_id":"product-\#(sequence % 7)","quantity":1,"total_amount":12.34}"#
                        do {
                            if connection == nil { connection = try await LoadConnection.open(target) }
                            let status = try await connection!.post(path: "/orders", host: target.host, body: body)
                            recorder.record(due: due, start: start, status: status)
                        } catch {
                            recorder.recordError(due: due, start: start)
                            await connection?.close()
                            connection = nil
                        }
                    }
                    await connection?.close()
                }
            }
            if openLoop {
                let total = self.rate * self.duration
                var index = 0
                while index < total {
                    let now = ContinuousClock.now
                    // Every arrival due by now is queued at once, so a slow wake-up never thins the arrivals.
                    while index < total, start + .nanoseconds(Int64(index) * 1_000_000_000 / Int64(self.rate)) <= now {
                        jobs.push(start + .nanoseconds(Int64(index) * 1_000_000_000 / Int64(self.rate)))
                        index += 1
                    }
                    try await Task.sleep(for: .milliseconds(1))
                }
                jobs.finish()
            }
        }
        print(recorder.summary(mode: openLoop ? "open" : "closed", rate: self.rate, connections: self.connections,
                               elapsed: ContinuousClock.now - start))
    }
}

/// `http://host:port`.
struct LoadTarget {
    let host: String
    let port: Int

    init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let parts = rest.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { return nil }
        self.host = String(parts[0])
        self.port = port
    }
}

/// One keep-alive HTTP/1.1 connection, one request at a time.
final class LoadConnection: @unchecked Sendable {
    // Used by one task at a time (its worker), so the iterator needs no lock.
    private let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    private init(_ channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>) throws {
        self.channel = channel
        self.inbound = channel.inbound.makeAsyncIterator()
        self.outbound = channel.outbound
    }

    static func open(_ target: LoadTarget) async throws -> LoadConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try LoadConnection(channel)
    }

    /// Sends one POST and returns the answer's status once the whole answer has arrived.
    func post(path: String, host: String, body: String) async throws -> Int {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        try await self.outbound.write(contentsOf: [
            .head(head), .body(.byteBuffer(ByteBuffer(string: body))), .end(nil),
        ])
        var status: Int?
        while let part = try await self.inbound.next() {
            switch part {
            case .head(let response): status = Int(response.status.code)
            case .body: break
            case .end: return status ?? 0
            }
        }
        throw LoadConnectionClosed()
    }

    func close() async {
        try? await self.channel.channel.close()
    }
}

struct LoadConnectionClosed: Error {}

/// Arrivals waiting for a connection, oldest first; workers wait for the next one.
final class JobQueue: Sendable {
    private struct State {
        var jobs: [ContinuousClock.Instant] = []
        var head = 0
        var waiters: [CheckedContinuation<ContinuousClock.Instant?, Never>] = []
        var finished = false
    }

    private let state = Mutex(State())

    func push(_ due: ContinuousClock.Instant) {
        let waiter = self.state.withLock { state -> CheckedContinuation<ContinuousClock.Instant?, Never>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.jobs.append(due)
            return nil
        }
        waiter?.resume(returning: due)
    }

    func finish() {
        let waiters = self.state.withLock { state in
            state.finished = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    func next() async -> ContinuousClock.Instant? {
        await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> ContinuousClock.Instant?? in
                if state.head < state.jobs.count {
                    defer {
                        state.head += 1
                        if state.head > 4096 {
                            state.jobs.removeFirst(state.head)
                            state.head = 0
                        }
                    }
                    return .some(state.jobs[state.head])
                }
                if state.finished { return .some(nil) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Latencies per second of arrival, statuses and errors.
final class LatencyRecorder: Sendable {
    private struct State {
        var perSecond: [[Double]]
        var statuses: [Int: Int] = [:]
        var errors = 0
    }

    private let state: Mutex<State>

    init(seconds: Int) {
        self.state = Mutex(State(perSecond: Array(repeating: [], count: max(seconds, 1))))
    }

    func record(due: ContinuousClock.Instant, start: ContinuousClock.Instant, status: Int) {
        let milliseconds = (ContinuousClock.now - due).totalSeconds * 1000
        let second = Int((due - start).totalSeconds)
        self.state.withLock { state in
            state.statuses[status, default: 0] += 1
            if second >= 0, second < state.perSecond.count { state.perSecond[second].append(milliseconds) }
        }
    }

    func recordError(due: ContinuousClock.Instant, start: ContinuousClock.Instant) {
        self.state.withLock { $0.errors += 1 }
    }

    func summary(mode: String, rate: Int, connections: Int, elapsed: Duration) -> String {
        self.state.withLock { state in
            let all = state.perSecond.flatMap { $0 }.sorted()
            let completed = state.statuses.values.reduce(0, +)
            let perSecondP99 = state.perSecond.map { Self.percentile($0.sorted(), 0.99) }
            var worst = (second: 0, p99: 0.0)
            for (second, p99) in perSecondP99.enumerated() where p99 > worst.p99 { worst = (second, p99) }
            let statuses = state.statuses.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
            let seconds = max(elapsed.totalSeconds, 0.001)
            return "{\"mode\":\"\(mode)\",\"rate\":\(rate),\"connections\":\(connections),\"completed\":\(completed),"
                + "\"errors\":\(state.errors),\"statuses\":{\(statuses)},"
                + "\"rps\":\(Self.format(Double(completed) / seconds)),"
                + "\"p50_ms\":\(Self.format(Self.percentile(all, 0.5))),\"p99_ms\":\(Self.format(Self.percentile(all, 0.99))),"
                + "\"max_ms\":\(Self.format(all.last ?? 0)),\"worst_second\":\(worst.second),"
                + "\"worst_second_p99_ms\":\(Self.format(worst.p99)),"
                + "\"per_second_p99_ms\":[\(perSecondP99.map(Self.format).joined(separator: ","))]}"
        }
    }

    private static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        return sorted[max(index, 0)]
    }

    private static func format(_ value: Double) -> String {
        String(Double(Int((value * 100).rounded())) / 100)
    }
}
