import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a setting's file: a secret named by a `*_FILE` variable, or a pinned public key.
enum SettingFile {
    /// The most a setting's file may hold: a password, a URL or a PEM key is far smaller. The bound also keeps a
    /// mistaken path (`/dev/zero`, a log file) from being read without end.
    static let maximumBytes = 64 * 1024

    /// The file's text without one trailing newline (editors and `echo` add it; a password never ends with one).
    /// Throws a ``ValidationError`` naming the variable and the path, never the content.
    static func text(at path: String, variable: String) throws -> String {
        let unreadable = ValidationError("\(variable)=\(path) cannot be read (missing, or not readable by this user)")
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw unreadable }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw unreadable
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= Self.maximumBytes else {
                throw ValidationError("\(variable)=\(path) holds more than \(Self.maximumBytes / 1024) KiB: not a secret or key file")
            }
        }
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw ValidationError("\(variable)=\(path) is not UTF-8 text")
        }
        // "\r\n" is one Character, so one removeLast drops either ending.
        if text.last == "\n" || text.last == "\r\n" { text.removeLast() }
        guard !text.isEmpty else { throw ValidationError("\(variable)=\(path) is empty") }
        return text
    }
}
