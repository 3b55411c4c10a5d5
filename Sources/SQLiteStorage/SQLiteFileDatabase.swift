import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceCore
import Storage
import Synchronization

/// One SQLite database file in WAL mode, shared by a service's stores.
///
/// Writes go through one writer connection under an ``AsyncLock``, so a multi-statement transaction is never
/// interleaved with another task's statements; reads use a few reader connections that WAL lets run beside
/// the writer. The durability setting is deliberate: `synchronous=NORMAL` in WAL mode survives a crash of the
/// process (the WAL is in the OS page cache), not a power loss; `.full` survives both at the cost of an
/// fsync per commit. See docs/ARCHITECTURE.md, "Embedded storage".
///
/// Thread-safety: `Sendable`; every method may be called concurrently.
public final class SQLiteFileDatabase: Sendable {
    /// How much a commit waits for the disk.
    public enum Durability: String, Sendable, CaseIterable {
        /// WAL with `synchronous=NORMAL`: safe against a process crash, not against power loss.
        case normal
        /// WAL with `synchronous=FULL`: an fsync per commit.
        case full
    }

    /// The file's path.
    public let path: String
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = Atomic<UInt>(0)
    private let logger: Logger

    private init(path: String, writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger) {
        self.path = path
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    /// Opens (creating if needed) the database at `path`.
    /// - Parameters:
    ///   - path: the file; its folder must exist.
    ///   - readerCount: connections for concurrent reads (at least 1).
    ///   - durability: see ``Durability``.
    public static func open(
        path: String,
        readerCount: Int = 2,
        durability: Durability = .normal,
        logger: Logger
    ) async throws -> SQLiteFileDatabase {
        let writer = try await Self.connect(path: path, durability: durability, logger: logger)
        do {
            // WAL is a property of the file: set once, by the writer, before readers attach.
            _ = try await writer.query("PRAGMA journal_mode=WAL")
            var readers: [SQLiteConnection] = []
            for _ in 0..<max(readerCount, 1) {
                readers.append(try await Self.connect(path: path, durability: durability, logger: logger))
            }
            return SQLiteFileDatabase(path: path, writer: writer, readers: readers, logger: logger)
        } catch {
            try? await writer.close()
            throw error
        }
    }

    private static func connect(path: String, durability: Durability, logger: Logger) async throws -> SQLiteConnection {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        _ = try await connection.query("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        _ = try await connection.query("PRAGMA foreign_keys=ON")
        return connection
    }

    /// Runs a read-only query on a reader connection.
    public func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        let index = self.nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        let reader = self.readers[Int(index % UInt(self.readers.count))]
        return try await reader.query(sql, binds)
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction on the writer connection: committed when `body` returns,
    /// rolled back when it throws. `IMMEDIATE` takes the write lock up front, which also serialises
    /// several processes sharing the file (e.g. two `migrate` runs).
    ///
    /// `COMMIT` and `ROLLBACK` run even when the calling task is cancelled: SQLiteNIO's async calls refuse to start
    /// in a cancelled task, which would leave the writer inside the transaction and fail every later one ("cannot
    /// start a transaction within a transaction"); its future-based calls do not look at cancellation.
    public func transaction<T>(_ body: (SQLiteConnection) async throws -> T) async throws -> T {
        try await self.writeLock.withLock {
            _ = try await self.writer.query("BEGIN IMMEDIATE")
            let result: T
            do {
                result = try await body(self.writer)
                try await Self.regardlessOfCancellation(self.writer, "COMMIT")
            } catch {
                do {
                    try await Self.regardlessOfCancellation(self.writer, "ROLLBACK")
                } catch let rollbackError {
                    self.logger.error(
                        "rollback failed",
                        metadata: ["path": "\(self.path)", "error": "\(rollbackError)"]
                    )
                }
                throw error
            }
            return result
        }
    }

    /// Runs `sql` through SQLiteNIO's future-based call, which a cancelled task does not stop.
    private static func regardlessOfCancellation(_ connection: SQLiteConnection, _ sql: String) async throws {
        let done: EventLoopFuture<[SQLiteRow]> = connection.query(sql, [])
        _ = try await done.get()
    }

    /// Runs one statement on the writer connection, in its own implicit transaction.
    @discardableResult
    public func write(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await self.writeLock.withLock {
            try await self.writer.query(sql, binds)
        }
    }

    /// Values per statement in ``writeInChunks(_:leading:statement:)``: well below SQLite's bind limit (999 in old
    /// builds).
    public static let valuesPerStatement = 500

    /// Runs `statement` (given the `?` placeholders of one chunk) for `values` in chunks of at most
    /// ``valuesPerStatement``, each chunk bound after `leading`; several chunks run in one transaction, so they apply
    /// together or not at all. For `… WHERE id IN (…)` over many ids.
    public func writeInChunks(
        _ values: [SQLiteData], leading: [SQLiteData] = [], statement: (String) -> String
    ) async throws {
        let chunks = values.chunked(into: Self.valuesPerStatement)
        func sql(_ chunk: ArraySlice<SQLiteData>) -> String {
            statement(Array(repeating: "?", count: chunk.count).joined(separator: ", "))
        }
        switch chunks.count {
        case 0:
            return
        case 1:
            try await self.write(sql(chunks[0]), leading + chunks[0])
        default:
            try await self.transaction { connection in
                for chunk in chunks {
                    _ = try await connection.query(sql(chunk), leading + chunk)
                }
            }
        }
    }

    /// Checks that the file answers a trivial query.
    public func ping() async throws {
        _ = try await self.query("SELECT 1")
    }

    /// Closes every connection. Call once, after the last use.
    public func close() async {
        await self.writeLock.withLock {
            for connection in [self.writer] + self.readers {
                do {
                    try await connection.close()
                } catch {
                    self.logger.warning("closing a SQLite connection failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

extension SQLiteRow {
    /// The integer in `column`, or a ``StorageDecodingError`` naming the column.
    public func int64(_ column: String) throws -> Int64 {
        guard let value = self.column(column)?.integer else { throw StorageDecodingError(column: column) }
        return Int64(value)
    }

    /// The text in `column`, or a ``StorageDecodingError`` naming the column.
    public func string(_ column: String) throws -> String {
        guard let value = self.column(column)?.string else { throw StorageDecodingError(column: column) }
        return value
    }

    /// The text in `column`, nil when NULL.
    public func optionalString(_ column: String) -> String? {
        guard let data = self.column(column), !data.isNull else { return nil }
        return data.string
    }

    /// The integer in `column`, nil when NULL.
    public func optionalInt64(_ column: String) -> Int64? {
        guard let data = self.column(column), !data.isNull, let value = data.integer else { return nil }
        return Int64(value)
    }

    /// The bytes in `column` (a BLOB, or TEXT as UTF-8).
    public func bytes(_ column: String) throws -> [UInt8] {
        switch self.column(column) {
        case .blob(let buffer): return Array(buffer.readableBytesView)
        case .text(let text): return Array(text.utf8)
        default: throw StorageDecodingError(column: column)
        }
    }
}

extension SQLiteData {
    /// A BLOB from bytes.
    public static func bytes(_ bytes: [UInt8]) -> SQLiteData {
        .blob(ByteBuffer(bytes: bytes))
    }

    /// An INTEGER from an `Int64`.
    public static func int64(_ value: Int64) -> SQLiteData {
        .integer(SQLiteInt64(value))
    }
}
