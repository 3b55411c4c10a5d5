#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ServiceCore
import Synchronization

/// A swift-log handler that writes one JSON object per line to standard output:
/// `{"ts":"…","level":"info","service":"order-service","logger":"…","message":"…", <metadata fields>}`.
///
/// Metadata values are written as strings (nested values as their description), so every line is one flat object
/// that `jq` and log shippers read as is.
///
/// Thread-safety: lines are written whole under one process-wide lock, so concurrent lines never interleave.
public struct JSONLogHandler: LogHandler {
    /// The logger label.
    public let label: String
    /// The minimum level written.
    public var logLevel: Logger.Level
    /// Metadata attached to every line of this logger.
    public var metadata: Logger.Metadata = [:]
    private let sink: LogSink

    /// Creates a handler writing to standard output.
    public init(label: String, logLevel: Logger.Level = .info) {
        self.init(label: label, logLevel: logLevel, sink: .standardOutput)
    }

    init(label: String, logLevel: Logger.Level, sink: LogSink) {
        self.label = label
        self.logLevel = logLevel
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        self.write(level: event.level, message: event.message, metadata: event.metadata, error: event.error)
    }

    private func write(level: Logger.Level, message: Logger.Message, metadata explicitMetadata: Logger.Metadata?, error: (any Error)?) {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("ts")
        writer.string(Timestamp.now().rfc3339)
        writer.key("level")
        writer.string(level.rawValue)
        var merged = self.metadata
        if let explicitMetadata {
            merged.merge(explicitMetadata) { _, new in new }
        }
        if let service = merged.removeValue(forKey: "service") {
            writer.key("service")
            writer.string(service.description)
        }
        writer.key("logger")
        writer.string(self.label)
        writer.key("message")
        writer.string(message.description)
        if let error {
            merged["error"] = .string("\(error)")
        }
        for key in merged.keys.sorted() {
            writer.key(key)
            writer.string(merged[key]!.description)
        }
        writer.endObject()
        var bytes = writer.bytes
        bytes.append(UInt8(ascii: "\n"))
        self.sink.write(bytes)
    }
}

/// Where ``JSONLogHandler`` writes: standard output, or a buffer in tests.
final class LogSink: Sendable {
    private let buffer: Mutex<[UInt8]>?

    static let standardOutput = LogSink(capturing: false)

    init(capturing: Bool) {
        self.buffer = capturing ? Mutex([]) : nil
    }

    private static let outputLock = Mutex(())

    func write(_ bytes: [UInt8]) {
        if self.buffer != nil {
            self.buffer!.withLock { $0.append(contentsOf: bytes) }
            return
        }
        Self.outputLock.withLock { _ in
            bytes.withUnsafeBufferPointer { pointer in
                var offset = 0
                while offset < pointer.count {
                    let written = writeToDescriptor(1, pointer.baseAddress! + offset, pointer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    var captured: String {
        String(decoding: self.buffer?.withLock { $0 } ?? [], as: UTF8.self)
    }
}

@inline(__always)
private func writeToDescriptor(_ fd: Int32, _ pointer: UnsafePointer<UInt8>, _ count: Int) -> Int {
    write(fd, pointer, count)
}

/// Process-wide logging setup.
public enum ServiceLogging {
    /// Bootstraps swift-log with ``JSONLogHandler`` at `level`. Call once, at process start.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, logLevel: level) }
    }

    /// A logger for one service: every line carries `"service": name`.
    public static func logger(service: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: service)
        logger.logLevel = level
        logger[metadataKey: "service"] = .string(service)
        return logger
    }
}
