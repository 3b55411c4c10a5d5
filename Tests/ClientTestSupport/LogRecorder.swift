import Logging
import Synchronization

/// Every log line of a logger, as text (level, message and all metadata), to check what logs show.
public final class LogRecorder: Sendable {
    private struct State {
        var lines: [String] = []
        var waiters: [(text: String, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// Creates an empty recorder.
    public init() {}

    /// All lines so far.
    public var all: [String] { self.state.withLock { $0.lines } }

    /// Returns once a line containing `text` has been logged (at once when one has): for a test to wait until the
    /// code under test has reached the point that logs it.
    public func waitForLine(containing text: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let logged = self.state.withLock { state -> Bool in
                if state.lines.contains(where: { $0.contains(text) }) { return true }
                state.waiters.append((text, continuation))
                return false
            }
            if logged { continuation.resume() }
        }
    }

    /// A logger at `trace` level that records here.
    public func logger(_ label: String = "recorded") -> Logger {
        Logger(label: label) { _ in Handler(recorder: self) }
    }

    fileprivate func append(_ line: String) {
        let woken = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.lines.append(line)
            let matching = state.waiters.filter { line.contains($0.text) }.map(\.continuation)
            state.waiters.removeAll { line.contains($0.text) }
            return matching
        }
        for continuation in woken { continuation.resume() }
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
