
/// One dependency that `/health` reports.
public struct HealthCheck: Sendable {
    /// Whether the service can serve without the dependency.
    public enum Importance: Sendable {
        /// Down means the service is `unhealthy` (503): e.g. the database, the broker for a consumer.
        case required
        /// Down means `degraded` (200): requests are still served, e.g. the cache.
        case optional
    }

    /// The key in `checks`: `database`, `cache` or `mq`, as the original.
    public var name: String
    /// See ``Importance``.
    public var importance: Importance
    /// Throws when the dependency is down; the error's description becomes the reason.
    public var probe: @Sendable () async throws -> Void

    /// Creates a check.
    public init(name: String, importance: Importance, probe: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.importance = importance
        self.probe = probe
    }
}

/// The result of running every ``HealthCheck``.
public struct HealthReport: Sendable {
    /// `healthy`, `degraded` or `unhealthy`.
    public enum Status: String, Sendable {
        case healthy, degraded, unhealthy
    }

    /// The overall status.
    public var status: Status
    /// The service name, e.g. `order-service`.
    public var service: String
    /// `healthy` or `unhealthy: <reason>` per dependency, in check order.
    public var checks: [(name: String, result: String)]
    /// Extra counters (the notification worker reports its work here).
    public var stats: [(name: String, value: Int)]

    /// The JSON body: `{"status", "service", "checks": {...}}` and `stats` when there are any.
    public var jsonBody: [UInt8] {
        var writer = JSONWriter(capacity: 192)
        writer.beginObject()
        writer.key("status")
        writer.string(self.status.rawValue)
        writer.key("service")
        writer.string(self.service)
        writer.key("checks")
        writer.beginObject()
        for check in self.checks {
            writer.key(check.name)
            writer.string(check.result)
        }
        writer.endObject()
        if !self.stats.isEmpty {
            writer.key("stats")
            writer.beginObject()
            for stat in self.stats {
                writer.key(stat.name)
                writer.int(stat.value)
            }
            writer.endObject()
        }
        writer.endObject()
        return writer.bytes
    }
}

/// Runs a service's health checks concurrently, each bounded by a timeout, and folds them into a status:
/// all up → `healthy` 200; only optional ones down → `degraded` 200; a required one down → `unhealthy` 503.
///
/// Thread-safety: `Sendable`.
public struct HealthMonitor: Sendable {
    /// The service name reported.
    public var service: String
    /// The checks, in report order.
    public var checks: [HealthCheck]
    /// How long one probe may take before it counts as down.
    public var timeout: Duration
    /// Extra counters for the body.
    public var stats: @Sendable () -> [(name: String, value: Int)]

    /// Creates a monitor.
    public init(
        service: String,
        checks: [HealthCheck],
        timeout: Duration = .seconds(2),
        stats: @escaping @Sendable () -> [(name: String, value: Int)] = { [] }
    ) {
        self.service = service
        self.checks = checks
        self.timeout = timeout
        self.stats = stats
    }

    /// Runs every check.
    public func report() async -> HealthReport {
        let timeout = self.timeout
        let results = await withTaskGroup(of: (Int, String?).self) { group in
            for (index, check) in self.checks.enumerated() {
                group.addTask {
                    (index, await Self.run(check, timeout: timeout))
                }
            }
            var results = [String?](repeating: nil, count: self.checks.count)
            for await (index, failure) in group {
                results[index] = failure
            }
            return results
        }
        var status = HealthReport.Status.healthy
        var checks: [(name: String, result: String)] = []
        for (check, failure) in zip(self.checks, results) {
            if let failure {
                checks.append((check.name, "unhealthy: \(failure)"))
                if check.importance == .required {
                    status = .unhealthy
                } else if status == .healthy {
                    status = .degraded
                }
            } else {
                checks.append((check.name, "healthy"))
            }
        }
        return HealthReport(status: status, service: self.service, checks: checks, stats: self.stats())
    }

    /// Runs one probe; nil when healthy, else the reason. A probe stuck on a dead socket counts as down at the
    /// timeout instead of holding `/health` up.
    private static func run(_ check: HealthCheck, timeout: Duration) async -> String? {
        do {
            try await withDeadline(timeout) { try await check.probe() }
            return nil
        } catch let error as DeadlineExceededError {
            return "timed out after \(DurationParser.format(error.timeout))"
        } catch {
            return Self.reason(error)
        }
    }

    /// A short, single-line reason; error descriptions here never contain credentials.
    public static func reason(_ error: any Error) -> String {
        let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
