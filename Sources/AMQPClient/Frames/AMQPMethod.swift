import NIOCore

/// The AMQP 0-9-1 methods this client sends or receives (classes connection, channel, exchange, queue, basic,
/// confirm), with their wire encoding. Class and method ids are from the specification (RabbitMQ's
/// `amqp-rabbitmq-0.9.1.json`).
enum AMQPMethod: Sendable, Equatable {
    // connection (10)
    case connectionStart(
        versionMajor: UInt8, versionMinor: UInt8, serverProperties: AMQPFieldTable, mechanisms: String,
        locales: String)
    case connectionStartOk(clientProperties: AMQPFieldTable, mechanism: String, response: String, locale: String)
    case connectionSecure(challenge: String)
    case connectionSecureOk(response: String)
    case connectionTune(channelMax: UInt16, frameMax: UInt32, heartbeat: UInt16)
    case connectionTuneOk(channelMax: UInt16, frameMax: UInt32, heartbeat: UInt16)
    case connectionOpen(virtualHost: String)
    case connectionOpenOk
    case connectionClose(replyCode: UInt16, replyText: String, classID: UInt16, methodID: UInt16)
    case connectionCloseOk
    case connectionBlocked(reason: String)
    case connectionUnblocked
    // channel (20)
    case channelOpen
    case channelOpenOk
    case channelFlow(active: Bool)
    case channelFlowOk(active: Bool)
    case channelClose(replyCode: UInt16, replyText: String, classID: UInt16, methodID: UInt16)
    case channelCloseOk
    // exchange (40)
    case exchangeDeclare(
        exchange: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool, internal: Bool, noWait: Bool,
        arguments: AMQPFieldTable)
    case exchangeDeclareOk
    case exchangeDelete(exchange: String, ifUnused: Bool, noWait: Bool)
    case exchangeDeleteOk
    case exchangeBind(destination: String, source: String, routingKey: String, noWait: Bool, arguments: AMQPFieldTable)
    case exchangeBindOk
    case exchangeUnbind(
        destination: String, source: String, routingKey: String, noWait: Bool, arguments: AMQPFieldTable)
    case exchangeUnbindOk
    // queue (50)
    case queueDeclare(
        queue: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool, noWait: Bool,
        arguments: AMQPFieldTable)
    case queueDeclareOk(queue: String, messageCount: UInt32, consumerCount: UInt32)
    case queueBind(queue: String, exchange: String, routingKey: String, noWait: Bool, arguments: AMQPFieldTable)
    case queueBindOk
    case queuePurge(queue: String, noWait: Bool)
    case queuePurgeOk(messageCount: UInt32)
    case queueDelete(queue: String, ifUnused: Bool, ifEmpty: Bool, noWait: Bool)
    case queueDeleteOk(messageCount: UInt32)
    case queueUnbind(queue: String, exchange: String, routingKey: String, arguments: AMQPFieldTable)
    case queueUnbindOk
    // basic (60)
    case basicQos(prefetchSize: UInt32, prefetchCount: UInt16, global: Bool)
    case basicQosOk
    case basicConsume(
        queue: String, consumerTag: String, noLocal: Bool, noAck: Bool, exclusive: Bool, noWait: Bool,
        arguments: AMQPFieldTable)
    case basicConsumeOk(consumerTag: String)
    case basicCancel(consumerTag: String, noWait: Bool)
    case basicCancelOk(consumerTag: String)
    case basicPublish(exchange: String, routingKey: String, mandatory: Bool, immediate: Bool)
    case basicReturn(replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
    case basicDeliver(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
    case basicGet(queue: String, noAck: Bool)
    case basicGetOk(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, messageCount: UInt32)
    case basicGetEmpty
    case basicAck(deliveryTag: UInt64, multiple: Bool)
    case basicReject(deliveryTag: UInt64, requeue: Bool)
    case basicRecover(requeue: Bool)
    case basicRecoverOk
    case basicNack(deliveryTag: UInt64, multiple: Bool, requeue: Bool)
    // confirm (85)
    case confirmSelect(noWait: Bool)
    case confirmSelectOk

    /// The class and method ids.
    var ids: (classID: UInt16, methodID: UInt16) {
        switch self {
        case .connectionStart: (10, 10)
        case .connectionStartOk: (10, 11)
        case .connectionSecure: (10, 20)
        case .connectionSecureOk: (10, 21)
        case .connectionTune: (10, 30)
        case .connectionTuneOk: (10, 31)
        case .connectionOpen: (10, 40)
        case .connectionOpenOk: (10, 41)
        case .connectionClose: (10, 50)
        case .connectionCloseOk: (10, 51)
        case .connectionBlocked: (10, 60)
        case .connectionUnblocked: (10, 61)
        case .channelOpen: (20, 10)
        case .channelOpenOk: (20, 11)
        case .channelFlow: (20, 20)
        case .channelFlowOk: (20, 21)
        case .channelClose: (20, 40)
        case .channelCloseOk: (20, 41)
        case .exchangeDeclare: (40, 10)
        case .exchangeDeclareOk: (40, 11)
        case .exchangeDelete: (40, 20)
        case .exchangeDeleteOk: (40, 21)
        case .exchangeBind: (40, 30)
        case .exchangeBindOk: (40, 31)
        case .exchangeUnbind: (40, 40)
        case .exchangeUnbindOk: (40, 51)
        case .queueDeclare: (50, 10)
        case .queueDeclareOk: (50, 11)
        case .queueBind: (50, 20)
        case .queueBindOk: (50, 21)
        case .queuePurge: (50, 30)
        case .queuePurgeOk: (50, 31)
        case .queueDelete: (50, 40)
        case .queueDeleteOk: (50, 41)
        case .queueUnbind: (50, 50)
        case .queueUnbindOk: (50, 51)
        case .basicQos: (60, 10)
        case .basicQosOk: (60, 11)
        case .basicConsume: (60, 20)
        case .basicConsumeOk: (60, 21)
        case .basicCancel: (60, 30)
        case .basicCancelOk: (60, 31)
        case .basicPublish: (60, 40)
        case .basicReturn: (60, 50)
        case .basicDeliver: (60, 60)
        case .basicGet: (60, 70)
        case .basicGetOk: (60, 71)
        case .basicGetEmpty: (60, 72)
        case .basicAck: (60, 80)
        case .basicReject: (60, 90)
        case .basicRecover: (60, 110)
        case .basicRecoverOk: (60, 111)
        case .basicNack: (60, 120)
        case .confirmSelect: (85, 10)
        case .confirmSelectOk: (85, 11)
        }
    }

    /// Whether content (a header and body frames) follows this method.
    var hasContent: Bool {
        switch self {
        case .basicPublish, .basicReturn, .basicDeliver, .basicGetOk: true
        default: false
        }
    }

    // MARK: encoding

    func encode(into buffer: inout ByteBuffer) throws {
        let ids = self.ids
        buffer.writeInteger(ids.classID)
        buffer.writeInteger(ids.methodID)
        let reserved: UInt16 = 0
        switch self {
        case .connectionStart(let major, let minor, let properties, let mechanisms, let locales):
            buffer.writeInteger(major)
            buffer.writeInteger(minor)
            try buffer.writeAMQPFieldTable(properties)
            buffer.writeAMQPLongString(mechanisms)
            buffer.writeAMQPLongString(locales)
        case .connectionStartOk(let properties, let mechanism, let response, let locale):
            try buffer.writeAMQPFieldTable(properties)
            try buffer.writeAMQPShortString(mechanism)
            buffer.writeAMQPLongString(response)
            try buffer.writeAMQPShortString(locale)
        case .connectionSecure(let text), .connectionSecureOk(let text):
            buffer.writeAMQPLongString(text)
        case .connectionTune(let channelMax, let frameMax, let heartbeat),
            .connectionTuneOk(let channelMax, let frameMax, let heartbeat):
            buffer.writeInteger(channelMax)
            buffer.writeInteger(frameMax)
            buffer.writeInteger(heartbeat)
        case .connectionOpen(let vhost):
            try buffer.writeAMQPShortString(vhost)
            try buffer.writeAMQPShortString("")
            buffer.writeAMQPBits(false)
        case .connectionOpenOk:
            try buffer.writeAMQPShortString("")
        case .connectionClose(let code, let text, let classID, let methodID),
            .channelClose(let code, let text, let classID, let methodID):
            buffer.writeInteger(code)
            try buffer.writeAMQPShortString(text)
            buffer.writeInteger(classID)
            buffer.writeInteger(methodID)
        case .connectionCloseOk, .connectionUnblocked, .channelCloseOk, .exchangeDeclareOk, .exchangeDeleteOk,
            .exchangeBindOk, .exchangeUnbindOk, .queueBindOk, .queueUnbindOk, .basicQosOk, .basicRecoverOk,
            .confirmSelectOk:
            break
        case .connectionBlocked(let reason):
            try buffer.writeAMQPShortString(reason)
        case .channelOpen:
            try buffer.writeAMQPShortString("")
        case .channelOpenOk:
            buffer.writeAMQPLongString("")
        case .channelFlow(let active), .channelFlowOk(let active):
            buffer.writeAMQPBits(active)
        case .exchangeDeclare(let name, let type, let passive, let durable, let autoDelete, let isInternal, let noWait,
            let arguments):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(name)
            try buffer.writeAMQPShortString(type)
            buffer.writeAMQPBits(passive, durable, autoDelete, isInternal, noWait)
            try buffer.writeAMQPFieldTable(arguments)
        case .exchangeDelete(let name, let ifUnused, let noWait):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(name)
            buffer.writeAMQPBits(ifUnused, noWait)
        case .exchangeBind(let destination, let source, let routingKey, let noWait, let arguments),
            .exchangeUnbind(let destination, let source, let routingKey, let noWait, let arguments):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(destination)
            try buffer.writeAMQPShortString(source)
            try buffer.writeAMQPShortString(routingKey)
            buffer.writeAMQPBits(noWait)
            try buffer.writeAMQPFieldTable(arguments)
        case .queueDeclare(let name, let passive, let durable, let exclusive, let autoDelete, let noWait,
            let arguments):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(name)
            buffer.writeAMQPBits(passive, durable, exclusive, autoDelete, noWait)
            try buffer.writeAMQPFieldTable(arguments)
        case .queueDeclareOk(let name, let messageCount, let consumerCount):
            try buffer.writeAMQPShortString(name)
            buffer.writeInteger(messageCount)
            buffer.writeInteger(consumerCount)
        case .queueBind(let queue, let exchange, let routingKey, let noWait, let arguments):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(queue)
            try buffer.writeAMQPShortString(exchange)
            try buffer.writeAMQPShortString(routingKey)
            buffer.writeAMQPBits(noWait)
            try buffer.writeAMQPFieldTable(arguments)
        case .queuePurge(let queue, let noWait):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(queue)
            buffer.writeAMQPBits(noWait)
        case .queuePurgeOk(let count), .queueDeleteOk(let count):
            buffer.writeInteger(count)
        case .queueDelete(let queue, let ifUnused, let ifEmpty, let noWait):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(queue)
            buffer.writeAMQPBits(ifUnused, ifEmpty, noWait)
        case .queueUnbind(let queue, let exchange, let routingKey, let arguments):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(queue)
            try buffer.writeAMQPShortString(exchange)
            try buffer.writeAMQPShortString(routingKey)
            try buffer.writeAMQPFieldTable(arguments)
        case .basicQos(let prefetchSize, let prefetchCount, let global):
            buffer.writeInteger(prefetchSize)
            buffer.writeInteger(prefetchCount)
            buffer.writeAMQPBits(global)
        case .basicConsume(let queue, let tag, let noLocal, let noAck, let exclusive, let noWait, let arguments):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(queue)
            try buffer.writeAMQPShortString(tag)
            buffer.writeAMQPBits(noLocal, noAck, exclusive, noWait)
            try buffer.writeAMQPFieldTable(arguments)
        case .basicConsumeOk(let tag), .basicCancelOk(let tag):
            try buffer.writeAMQPShortString(tag)
        case .basicCancel(let tag, let noWait):
            try buffer.writeAMQPShortString(tag)
            buffer.writeAMQPBits(noWait)
        case .basicPublish(let exchange, let routingKey, let mandatory, let immediate):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(exchange)
            try buffer.writeAMQPShortString(routingKey)
            buffer.writeAMQPBits(mandatory, immediate)
        case .basicReturn(let code, let text, let exchange, let routingKey):
            buffer.writeInteger(code)
            try buffer.writeAMQPShortString(text)
            try buffer.writeAMQPShortString(exchange)
            try buffer.writeAMQPShortString(routingKey)
        case .basicDeliver(let tag, let deliveryTag, let redelivered, let exchange, let routingKey):
            try buffer.writeAMQPShortString(tag)
            buffer.writeInteger(deliveryTag)
            buffer.writeAMQPBits(redelivered)
            try buffer.writeAMQPShortString(exchange)
            try buffer.writeAMQPShortString(routingKey)
        case .basicGet(let queue, let noAck):
            buffer.writeInteger(reserved)
            try buffer.writeAMQPShortString(queue)
            buffer.writeAMQPBits(noAck)
        case .basicGetOk(let deliveryTag, let redelivered, let exchange, let routingKey, let messageCount):
            buffer.writeInteger(deliveryTag)
            buffer.writeAMQPBits(redelivered)
            try buffer.writeAMQPShortString(exchange)
            try buffer.writeAMQPShortString(routingKey)
            buffer.writeInteger(messageCount)
        case .basicGetEmpty:
            try buffer.writeAMQPShortString("")
        case .basicAck(let deliveryTag, let multiple):
            buffer.writeInteger(deliveryTag)
            buffer.writeAMQPBits(multiple)
        case .basicReject(let deliveryTag, let requeue):
            buffer.writeInteger(deliveryTag)
            buffer.writeAMQPBits(requeue)
        case .basicRecover(let requeue):
            buffer.writeAMQPBits(requeue)
        case .basicNack(let deliveryTag, let multiple, let requeue):
            buffer.writeInteger(deliveryTag)
            buffer.writeAMQPBits(multiple, requeue)
        case .confirmSelect(let noWait):
            buffer.writeAMQPBits(noWait)
        }
    }

    // MARK: decoding

    static func decode(from buffer: inout ByteBuffer) throws -> AMQPMethod {
        let classID: UInt16 = try buffer.readAMQPInteger()
        let methodID: UInt16 = try buffer.readAMQPInteger()
        func short() throws -> String { try buffer.readAMQPShortString() }
        func long() throws -> String { try buffer.readAMQPLongString() }
        func u8() throws -> UInt8 { try buffer.readAMQPInteger() }
        func u16() throws -> UInt16 { try buffer.readAMQPInteger() }
        func u32() throws -> UInt32 { try buffer.readAMQPInteger() }
        func u64() throws -> UInt64 { try buffer.readAMQPInteger() }
        func bits(_ count: Int) throws -> [Bool] { try buffer.readAMQPBits(count) }
        func table() throws -> AMQPFieldTable { try buffer.readAMQPFieldTable() }

        switch (classID, methodID) {
        case (10, 10):
            return .connectionStart(
                versionMajor: try u8(), versionMinor: try u8(), serverProperties: try table(),
                mechanisms: try long(), locales: try long())
        case (10, 11):
            return .connectionStartOk(
                clientProperties: try table(), mechanism: try short(), response: try long(), locale: try short())
        case (10, 20): return .connectionSecure(challenge: try long())
        case (10, 21): return .connectionSecureOk(response: try long())
        case (10, 30): return .connectionTune(channelMax: try u16(), frameMax: try u32(), heartbeat: try u16())
        case (10, 31): return .connectionTuneOk(channelMax: try u16(), frameMax: try u32(), heartbeat: try u16())
        case (10, 40):
            let vhost = try short()
            _ = try short()
            _ = try bits(1)
            return .connectionOpen(virtualHost: vhost)
        case (10, 41):
            _ = try short()
            return .connectionOpenOk
        case (10, 50):
            return .connectionClose(replyCode: try u16(), replyText: try short(), classID: try u16(), methodID: try u16())
        case (10, 51): return .connectionCloseOk
        case (10, 60): return .connectionBlocked(reason: try short())
        case (10, 61): return .connectionUnblocked
        case (20, 10):
            _ = try short()
            return .channelOpen
        case (20, 11):
            _ = try long()
            return .channelOpenOk
        case (20, 20): return .channelFlow(active: try bits(1)[0])
        case (20, 21): return .channelFlowOk(active: try bits(1)[0])
        case (20, 40):
            return .channelClose(replyCode: try u16(), replyText: try short(), classID: try u16(), methodID: try u16())
        case (20, 41): return .channelCloseOk
        case (40, 10):
            _ = try u16()
            let name = try short()
            let type = try short()
            let b = try bits(5)
            return .exchangeDeclare(
                exchange: name, type: type, passive: b[0], durable: b[1], autoDelete: b[2], internal: b[3],
                noWait: b[4], arguments: try table())
        case (40, 11): return .exchangeDeclareOk
        case (40, 20):
            _ = try u16()
            let name = try short()
            let b = try bits(2)
            return .exchangeDelete(exchange: name, ifUnused: b[0], noWait: b[1])
        case (40, 21): return .exchangeDeleteOk
        case (40, 30), (40, 40):
            _ = try u16()
            let destination = try short()
            let source = try short()
            let routingKey = try short()
            let noWait = try bits(1)[0]
            let arguments = try table()
            return methodID == 30
                ? .exchangeBind(
                    destination: destination, source: source, routingKey: routingKey, noWait: noWait,
                    arguments: arguments)
                : .exchangeUnbind(
                    destination: destination, source: source, routingKey: routingKey, noWait: noWait,
                    arguments: arguments)
        case (40, 31): return .exchangeBindOk
        case (40, 51): return .exchangeUnbindOk
        case (50, 10):
            _ = try u16()
            let name = try short()
            let b = try bits(5)
            return .queueDeclare(
                queue: name, passive: b[0], durable: b[1], exclusive: b[2], autoDelete: b[3], noWait: b[4],
                arguments: try table())
        case (50, 11): return .queueDeclareOk(queue: try short(), messageCount: try u32(), consumerCount: try u32())
        case (50, 20):
            _ = try u16()
            return .queueBind(
                queue: try short(), exchange: try short(), routingKey: try short(), noWait: try bits(1)[0],
                arguments: try table())
        case (50, 21): return .queueBindOk
        case (50, 30):
            _ = try u16()
            return .queuePurge(queue: try short(), noWait: try bits(1)[0])
        case (50, 31): return .queuePurgeOk(messageCount: try u32())
        case (50, 40):
            _ = try u16()
            let name = try short()
            let b = try bits(3)
            return .queueDelete(queue: name, ifUnused: b[0], ifEmpty: b[1], noWait: b[2])
        case (50, 41): return .queueDeleteOk(messageCount: try u32())
        case (50, 50):
            _ = try u16()
            return .queueUnbind(queue: try short(), exchange: try short(), routingKey: try short(), arguments: try table())
        case (50, 51): return .queueUnbindOk
        case (60, 10): return .basicQos(prefetchSize: try u32(), prefetchCount: try u16(), global: try bits(1)[0])
        case (60, 11): return .basicQosOk
        case (60, 20):
            _ = try u16()
            let queue = try short()
            let tag = try short()
            let b = try bits(4)
            return .basicConsume(
                queue: queue, consumerTag: tag, noLocal: b[0], noAck: b[1], exclusive: b[2], noWait: b[3],
                arguments: try table())
        case (60, 21): return .basicConsumeOk(consumerTag: try short())
        case (60, 30): return .basicCancel(consumerTag: try short(), noWait: try bits(1)[0])
        case (60, 31): return .basicCancelOk(consumerTag: try short())
        case (60, 40):
            _ = try u16()
            let exchange = try short()
            let routingKey = try short()
            let b = try bits(2)
            return .basicPublish(exchange: exchange, routingKey: routingKey, mandatory: b[0], immediate: b[1])
        case (60, 50):
            return .basicReturn(replyCode: try u16(), replyText: try short(), exchange: try short(), routingKey: try short())
        case (60, 60):
            return .basicDeliver(
                consumerTag: try short(), deliveryTag: try u64(), redelivered: try bits(1)[0], exchange: try short(),
                routingKey: try short())
        case (60, 70):
            _ = try u16()
            return .basicGet(queue: try short(), noAck: try bits(1)[0])
        case (60, 71):
            return .basicGetOk(
                deliveryTag: try u64(), redelivered: try bits(1)[0], exchange: try short(), routingKey: try short(),
                messageCount: try u32())
        case (60, 72):
            _ = try short()
            return .basicGetEmpty
        case (60, 80): return .basicAck(deliveryTag: try u64(), multiple: try bits(1)[0])
        case (60, 90): return .basicReject(deliveryTag: try u64(), requeue: try bits(1)[0])
        case (60, 110): return .basicRecover(requeue: try bits(1)[0])
        case (60, 111): return .basicRecoverOk
        case (60, 120):
            let deliveryTag = try u64()
            let b = try bits(2)
            return .basicNack(deliveryTag: deliveryTag, multiple: b[0], requeue: b[1])
        case (85, 10): return .confirmSelect(noWait: try bits(1)[0])
        case (85, 11): return .confirmSelectOk
        default:
            throw AMQPError.protocolError("unknown method \(classID).\(methodID)")
        }
    }
}
