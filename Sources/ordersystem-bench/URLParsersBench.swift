import AMQPClient
import ArgumentParser
import FoundationEssentials

/// Our `amqp://` URL parser against FoundationEssentials' `URLComponents`, for docs/ARCHITECTURE.md's "Library or
/// our own": the URLs our parser refuses (from its tests), and what `URLComponents` makes of each. Parsing happens
/// once at start, so speed and memory cannot decide; what each accepts and what it says when it refuses does.
struct URLParsers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "url", abstract: "What URLComponents makes of the amqp:// URLs our parser refuses.")

    /// Each refused by `AMQPConnectionConfiguration(url:)`, with the reason a user must be told.
    static let refused: [(url: String, why: String)] = [
        ("amqp://ordersystem:p/a@s#s:w0rd@127.0.0.1:5672/", "raw '/', '@' and '#' in the password"),
        ("amqp://u:top/secret@h/", "raw '/' in the password"),
        ("amqp://u:top?secret@h/", "raw '?' in the password"),
        ("amqp://u:top#secret@h/", "raw '#' in the password"),
        ("amqp://u:top@secret@h/", "raw '@' in the password"),
        ("amqp://u:top secret@h/", "raw space in the password"),
        ("amqp://u:top%ZZsecret@h/", "invalid percent-encoding"),
        ("http://u:topsecret@h/", "not amqp or amqps"),
        ("topsecret://h/", "not amqp or amqps"),
        ("no-scheme-topsecret", "no scheme"),
        ("amqp://u:topsecret@h:99999/", "port out of range"),
        ("amqp://u:topsecret@h:x/", "port not a number"),
        ("amqp://u:topsecret/", "user information without a host"),
        ("amqp://u:topsecret", "user information without a host"),
        ("amqp://h/v#topsecret", "a fragment"),
    ]

    func run() throws {
        var unexplained = 0
        var accepted = 0
        for (url, why) in Self.refused {
            let ours: String
            do {
                _ = try AMQPConnectionConfiguration(url: url)
                ours = "ACCEPTED (a regression)"
            } catch {
                ours = "refused: \(error)"
            }
            let theirs: String
            if let parts = URLComponents(string: url) {
                accepted += 1
                theirs = "accepted: scheme \(parts.scheme ?? "none"), host \(parts.host ?? "none"), "
                    + "port \(parts.port.map(String.init) ?? "none"), password \(parts.password == nil ? "none" : "present"), "
                    + "path \(parts.percentEncodedPath), fragment \(parts.fragment == nil ? "none" : "present")"
            } else {
                unexplained += 1
                theirs = "nil (no reason)"
            }
            print("\(url)\n  must refuse: \(why)\n  ours: \(ours)\n  URLComponents: \(theirs)")
        }
        print("\(Self.refused.count) URLs: URLComponents accepts \(accepted) (each a check we would still write) and "
            + "refuses \(unexplained) without a reason (a scan of our own would still have to name the character)")
    }
}
