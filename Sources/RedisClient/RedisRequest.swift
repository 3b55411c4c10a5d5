import NIOCore

/// One command, or one pipeline of commands, waiting to be written and then for its replies.
///
/// A pipeline is a single request: its commands are written together (nothing from another caller can come between
/// them) and it is completed once, with every reply, instead of once per command.
struct RedisRequest: Sendable {
    enum Commands: Sendable {
        case one(RedisCommand)
        case many([RedisCommand])
    }

    /// Who gets the replies. A continuation is resumed straight from the event loop, with no future in between.
    enum Completion: Sendable {
        /// A single command: its reply.
        case one(UnsafeContinuation<RESPValue, any Error>)
        /// A pipeline: all replies, in order.
        case many(UnsafeContinuation<[RESPValue], any Error>)
        /// All replies, in order, through a promise (for callers that want a future, e.g. tests on an
        /// `EmbeddedChannel`).
        case promise(EventLoopPromise<[RESPValue]>)
    }

    var commands: Commands
    var completion: Completion
    /// How long the replies may take once the commands are written.
    var timeout: TimeAmount
    /// Set by the channel handler when it writes the request: write time plus ``timeout``.
    var deadline: NIODeadline = .distantFuture

    /// How many replies the request expects.
    var replyCount: Int {
        switch self.commands {
        case .one: 1
        case .many(let commands): commands.count
        }
    }

    /// The first command's name, for error messages (never an argument).
    var name: String {
        switch self.commands {
        case .one(let command): command.name
        case .many(let commands): commands.first?.name ?? "pipeline"
        }
    }

    func encode(into buffer: inout ByteBuffer) {
        switch self.commands {
        case .one(let command): RESPEncoder.encode(command, into: &buffer)
        case .many(let commands): for command in commands { RESPEncoder.encode(command, into: &buffer) }
        }
    }

    /// Completes the request with its last reply, `value`. `collected` holds the replies before it (a pipeline's);
    /// it is handed over and left empty.
    func succeed(last value: RESPValue, collected: inout [RESPValue]) {
        if case .one(let continuation) = self.completion {
            continuation.resume(returning: value)
            return
        }
        collected.append(value)
        let values = collected
        collected = []
        switch self.completion {
        case .one: break
        case .many(let continuation): continuation.resume(returning: values)
        case .promise(let promise): promise.succeed(values)
        }
    }

    func fail(_ error: RedisError) {
        switch self.completion {
        case .one(let continuation): continuation.resume(throwing: error)
        case .many(let continuation): continuation.resume(throwing: error)
        case .promise(let promise): promise.fail(error)
        }
    }
}
