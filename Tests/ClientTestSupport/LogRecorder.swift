import Logging
import Synchronization

/// Every log line of a logger, as text (level, message and all metadata), to check what logs show.
public final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    /// Creates an empty recorder.
    public init() {}

    /// All lines so far.
    public var all: [String] { self.lines.withLock { $0 } }

    /// A logger at `trace` level that records here.
    public func logger(_ label: String = "recorded") -> Logger {
        Logger(label: label) { _ in Handler(recorder: self) }
    }

    fileprivate func append(_ line: String) {
        self.lines.withLock { $0.append(line) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            self.recorder.append("\(event.level) \(event.message) \(self.metadata) \(event.metadata ?? [:])")
        }
    }
}
