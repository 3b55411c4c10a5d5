import ArgumentParser

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads a setting's file: a secret named by a `*_FILE` variable, or a pinned public key.
enum SettingFile {
    /// The file's text without one trailing newline (editors and `echo` add it; a password never ends with one).
    /// Throws a ``ValidationError`` naming the variable and the path, never the content.
    static func read(_ path: String, variable: String) throws -> String {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("\(variable)=\(path) cannot be read (missing, or not readable by this user)")
        }
        guard var text = String(bytes: bytes, encoding: .utf8) else {
            throw ValidationError("\(variable)=\(path) is not UTF-8 text")
        }
        // "\r\n" is one Character, so one removeLast drops either ending.
        if text.last == "\n" || text.last == "\r\n" { text.removeLast() }
        guard !text.isEmpty else { throw ValidationError("\(variable)=\(path) is empty") }
        return text
    }
}
