extension RedisCommand {
    /// `true` for commands that must not share a connection with other callers' commands, so ``RedisClient`` runs
    /// them on a leased connection of their own:
    ///
    /// - blocking commands (`BLPOP`, `XREAD ... BLOCK`, `WAIT`, `DEBUG SLEEP`, ...), which would hold up every reply
    ///   behind them and, past the command timeout, close the shared connection under the other callers;
    /// - commands that change the connection's state for the commands after them (`SELECT`, `MULTI`, `WATCH`,
    ///   `AUTH`, `CLIENT REPLY`, `SUBSCRIBE`, ...).
    ///
    /// Checked on every command, so it neither allocates nor hashes: the name is upper-cased into two integers and
    /// looked up by binary search in a sorted table.
    var needsExclusiveConnection: Bool {
        guard let key = CommandNameKey(self.name) else { return false }
        let names = Self.exclusiveCommandNames
        var low = 0
        var high = names.count
        while low < high {
            let middle = (low + high) / 2
            if names[middle] < key {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low < names.count && names[low] == key
    }

    private static let exclusiveCommandNames: [CommandNameKey] = (
        [
            // Blocking.
            "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "XREAD", "XREADGROUP",
            "WAIT", "WAITAOF", "DEBUG",
            // Connection state.
            "SELECT", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "AUTH", "HELLO", "RESET", "QUIT", "CLIENT",
            "READONLY", "READWRITE", "ASKING",
            // Connections that stop being request/reply.
            "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "SYNC",
            "PSYNC",
        ].map { CommandNameKey($0)! }
    ).sorted()
}

/// A command name of at most 16 ASCII bytes, upper-cased and packed into two integers: comparing it is cheap, and
/// building it allocates nothing (unlike `uppercased()`).
private struct CommandNameKey: Comparable {
    var low: UInt64 = 0
    var high: UInt64 = 0

    /// `nil` for names longer than 16 bytes (no exclusive command is) or not ASCII.
    init?(_ name: String) {
        var index = 0
        for byte in name.utf8 {
            guard index < 16, byte < 0x80 else { return nil }
            let upper = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) ? byte - 0x20 : byte
            if index < 8 {
                self.low |= UInt64(upper) << (8 * index)
            } else {
                self.high |= UInt64(upper) << (8 * (index - 8))
            }
            index += 1
        }
    }

    static func < (left: CommandNameKey, right: CommandNameKey) -> Bool {
        (left.high, left.low) < (right.high, right.low)
    }
}
