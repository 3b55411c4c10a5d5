#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Error lines of the one-shot commands (`healthcheck`, `migrate-queues`, `replay-dlq`): on stderr, so scripts that
/// read stdout only see results. Written with stdio rather than Foundation's `FileHandle`, which would link all of
/// Foundation (and ICU) into the binary for one line.
enum StandardError {
    static func print(_ line: String) {
        let bytes = Array((line.hasSuffix("\n") ? line : line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
