import Metrics
import ServiceRuntime
import Synchronization

/// The worker's counters: exported as Prometheus metrics and shown in `/health`'s `stats`.
public final class WorkerStatistics: Sendable {
    private let processedCount = Atomic<Int>(0)
    private let emailCount = Atomic<Int>(0)
    private let smsCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let retriedCount = Atomic<Int>(0)
    private let deadLetteredCount = Atomic<Int>(0)
    private let duplicateCount = Atomic<Int>(0)

    private let processed: Counter
    private let sentEmail: Counter
    private let sentSMS: Counter
    private let failed: Counter
    private let retried: Counter
    let deadLettered: Counter
    /// Dead letters of deliveries over `AMQP_MAX_BODY`, never decoded (the same metric, `reason="body_too_large"`).
    let bodyTooLarge: Counter
    private let duplicates: Counter
    let recordErrors: Counter
    let brokerErrors: Counter
    let consumerPaused: Gauge

    /// Creates the counters in `registry`.
    public init(registry: ServiceMetrics, queue: String) {
        self.processed = registry.counter("events_processed_total", [("queue", queue)])
        self.sentEmail = registry.counter("notifications_sent_total", [("channel", "email")])
        self.sentSMS = registry.counter("notifications_sent_total", [("channel", "sms")])
        self.failed = registry.counter("notifications_failed_total")
        self.retried = registry.counter("notifications_retried_total")
        self.deadLettered = registry.counter("events_dead_lettered_total", [("queue", queue)])
        self.bodyTooLarge = registry.counter(
            "events_dead_lettered_total", [("queue", queue), ("reason", "body_too_large")])
        self.duplicates = registry.counter("notifications_duplicate_total")
        self.recordErrors = registry.counter("notification_record_errors_total")
        self.brokerErrors = registry.counter("broker_errors_total")
        self.consumerPaused = registry.gauge("consumer_paused", [("queue", queue)])
    }

    func recordProcessed() { self.processedCount.add(1, ordering: .relaxed); self.processed.increment() }
    func recordFailed() { self.failedCount.add(1, ordering: .relaxed); self.failed.increment() }
    func recordRetried() { self.retriedCount.add(1, ordering: .relaxed); self.retried.increment() }
    /// Counts a dead letter for `/health`; the Prometheus counter is incremented by the dead-letter helper.
    func recordDeadLettered() { self.deadLetteredCount.add(1, ordering: .relaxed) }
    func recordDuplicate() { self.duplicateCount.add(1, ordering: .relaxed); self.duplicates.increment() }
    func recordSent(_ channel: NotificationChannel) {
        switch channel {
        case .email: self.emailCount.add(1, ordering: .relaxed); self.sentEmail.increment()
        case .sms: self.smsCount.add(1, ordering: .relaxed); self.sentSMS.increment()
        }
    }

    /// Events fully handled (every channel sent or already sent).
    public var eventsProcessed: Int { self.processedCount.load(ordering: .relaxed) }
    /// Notifications sent per channel.
    public func sent(_ channel: NotificationChannel) -> Int {
        switch channel {
        case .email: self.emailCount.load(ordering: .relaxed)
        case .sms: self.smsCount.load(ordering: .relaxed)
        }
    }
    /// Failed send attempts.
    public var failures: Int { self.failedCount.load(ordering: .relaxed) }
    /// Events sent back for a retry.
    public var retries: Int { self.retriedCount.load(ordering: .relaxed) }
    /// Events dead-lettered.
    public var deadLetters: Int { self.deadLetteredCount.load(ordering: .relaxed) }
    /// Sends skipped because the record showed them sent.
    public var duplicatesSkipped: Int { self.duplicateCount.load(ordering: .relaxed) }

    /// The values for `/health`'s `stats`.
    public var snapshot: [(name: String, value: Int)] {
        [
            ("events_processed", self.eventsProcessed),
            ("email_sent", self.sent(.email)),
            ("sms_sent", self.sent(.sms)),
            ("send_failures", self.failures),
            ("retried", self.retries),
            ("dead_lettered", self.deadLetters),
            ("duplicates_skipped", self.duplicatesSkipped),
        ]
    }
}
