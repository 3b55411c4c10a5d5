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

/// Who gets a request's replies. A waiting caller is resumed straight from the event loop, with no future between.
enum RedisCompletion: Sendable {
    /// A single command: its reply.
    case one(RedisReplyWaiter<RESPValue>)
    /// A pipeline: all replies, in order.
    case many(RedisReplyWaiter<[RESPValue]>)
    /// All replies, in order, through a promise (for callers that want a future, e.g. tests on an
    /// `EmbeddedChannel`).
    case promise(EventLoopPromise<[RESPValue]>)

    /// Completes with the last reply, `value`. `collected` holds the replies before it (a pipeline's); it is
    /// handed over and left empty.
    func succeed(last value: RESPValue, collected: inout [RESPValue]) {
        if case .one(let waiter) = self {
            waiter.resume(with: .success(value))
            return
        }
        collected.append(value)
        let values = collected
        collected = []
        switch self {
        case .one: break
        case .many(let waiter): waiter.resume(with: .success(values))
        case .promise(let promise): promise.succeed(values)
        }
    }

    func fail(_ error: RedisError) {
        switch self {
        case .one(let waiter): waiter.resume(with: .failure(error))
        case .many(let waiter): waiter.resume(with: .failure(error))
        case .promise(let promise): promise.fail(error)
        }
    }

    /// Whether the caller was cancelled before the request was written: it is then not sent at all.
    var isAbandoned: Bool {
        switch self {
        case .one(let waiter): waiter.isCancelled
        case .many(let waiter): waiter.isCancelled
        case .promise: false
        }
    }
}
