import NIOCore

/// One command, or one pipeline of commands, handed to a connection.
///
/// A pipeline is a single request: its commands are written together (nothing from another caller can come between
/// them) and it is completed once, with every reply, instead of once per command.
struct RedisRequest: Sendable {
    enum Commands: Sendable {
        case one(RedisCommand)
        case many([RedisCommand])
    }

    var commands: Commands
    var completion: RedisCompletion
    /// How long the replies may take once the commands are written.
    var timeout: TimeAmount

    /// How many replies the request expects.
    var replyCount: Int {
        switch self.commands {
        case .one: 1
        case .many(let commands): commands.count
        }
    }

    /// The (first) command's name, for error messages (never an argument).
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
}

/// A written request waiting for its replies: only what completing it needs, not its commands (lighter to queue
/// and to copy, and the arguments are freed once written).
struct RedisPendingReply: Sendable {
    var completion: RedisCompletion
    /// Write time plus the request's timeout.
    var deadline: NIODeadline
    /// The (first) command's name, for the timeout message.
    var name: String
}

/// Who gets a request's replies. A continuation is resumed straight from the event loop, with no future between.
enum RedisCompletion: Sendable {
    /// A single command: its reply.
    case one(UnsafeContinuation<RESPValue, any Error>)
    /// A pipeline: all replies, in order.
    case many(UnsafeContinuation<[RESPValue], any Error>)
    /// All replies, in order, through a promise (for callers that want a future, e.g. tests on an
    /// `EmbeddedChannel`).
    case promise(EventLoopPromise<[RESPValue]>)

    /// Completes with the last reply, `value`. `collected` holds the replies before it (a pipeline's); it is
    /// handed over and left empty.
    func succeed(last value: RESPValue, collected: inout [RESPValue]) {
        if case .one(let continuation) = self {
            continuation.resume(returning: value)
            return
        }
        collected.append(value)
        let values = collected
        collected = []
        switch self {
        case .one: break
        case .many(let continuation): continuation.resume(returning: values)
        case .promise(let promise): promise.succeed(values)
        }
    }

    func fail(_ error: RedisError) {
        switch self {
        case .one(let continuation): continuation.resume(throwing: error)
        case .many(let continuation): continuation.resume(throwing: error)
        case .promise(let promise): promise.fail(error)
        }
    }
}
