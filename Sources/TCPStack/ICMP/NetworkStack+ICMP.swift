import Interfaces

/// An echo reply received for an echo request this host sent (`NetworkStack.sendEchoRequest`).
public struct ICMPEchoReply: Equatable {
    /// Who answered.
    public var source: IPv4Address
    /// The identifier echoed back.
    public var identifier: UInt16
    /// The sequence number echoed back.
    public var sequenceNumber: UInt16
    /// The data echoed back.
    public var payload: [UInt8]
    /// The `now` of the poll that received it.
    public var received: Instant
}

/// ICMP (RFC 792): the stack answers echo requests by itself, sends rate-limited errors (port and protocol
/// unreachable, reassembly time exceeded), and lets the application ping.
extension NetworkStack {
    /// Sends an echo request ("ping") to `destination` carrying `payload`. Replies are collected for
    /// `receiveEchoReply`.
    public func sendEchoRequest(to destination: IPv4Address, identifier: UInt16, sequenceNumber: UInt16,
                                payload: UnsafeRawBufferPointer) throws(IPv4SendError) {
        guard let ours = interface?.address else { ownCounters.ipv4.sendNotConfigured += 1; throw .notConfigured }
        let length = ICMPv4Message.echoLength(payloadLength: payload.count)
        if let error = transmitIPv4(source: ours, destination: destination, protocolNumber: IPProtocolNumber.icmp,
                                    length: length, fill: { buffer in
                                        ICMPv4Message.emitEcho(into: buffer, reply: false, identifier: identifier,
                                                               sequenceNumber: sequenceNumber, payload: payload)
                                    }) { throw error }
        ownCounters.icmp.echoRequestsSent += 1
    }

    /// Sends an echo request carrying `payload` (see the buffer variant).
    public func sendEchoRequest(to destination: IPv4Address, identifier: UInt16, sequenceNumber: UInt16,
                                payload: [UInt8] = []) throws(IPv4SendError) {
        var failure: IPv4SendError? = nil
        payload.withUnsafeBytes { bytes in
            do throws(IPv4SendError) {
                try sendEchoRequest(to: destination, identifier: identifier, sequenceNumber: sequenceNumber,
                                    payload: bytes)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// The oldest echo reply not yet taken, if any.
    public func receiveEchoReply() -> ICMPEchoReply? {
        echoReplies.isEmpty ? nil : echoReplies.removeFirst()
    }

    func handleICMP(_ datagram: Inbound, now: Instant) {
        guard !datagram.onlyForDHCP else { ownCounters.ipv4.notForUs += 1; return }
        ownCounters.ipv4.delivered += 1
        ownCounters.icmp.received += 1
        let message: ICMPv4Message
        do {
            message = try ICMPv4Message(validating: datagram.payload)
        } catch {
            if error == .badChecksum { ownCounters.icmp.badChecksum += 1 } else { ownCounters.icmp.malformed += 1 }
            return
        }
        switch message.type {
        case ICMPv4Type.echoRequest:
            ownCounters.icmp.echoRequestsReceived += 1
            if datagram.isBroadcast && !configuration.answersBroadcastEcho {
                ownCounters.icmp.broadcastEchoIgnored += 1
                return
            }
            guard let ours = interface?.address else { return }
            let data = message.data
            let (identifier, sequence) = (message.identifier, message.sequenceNumber)
            let result = transmitIPv4(source: ours, destination: datagram.source,
                                      protocolNumber: IPProtocolNumber.icmp,
                                      length: ICMPv4Message.echoLength(payloadLength: data.count)) { buffer in
                ICMPv4Message.emitEcho(into: buffer, reply: true, identifier: identifier, sequenceNumber: sequence,
                                       payload: data)
            }
            if result == nil { ownCounters.icmp.echoRepliesSent += 1 }
        case ICMPv4Type.echoReply:
            ownCounters.icmp.echoRepliesReceived += 1
            guard echoReplies.count < configuration.echoReplyQueueLength else {
                ownCounters.icmp.echoReplyQueueDrops += 1
                return
            }
            echoReplies.append(ICMPEchoReply(source: datagram.source, identifier: message.identifier,
                                             sequenceNumber: message.sequenceNumber, payload: Array(message.data),
                                             received: now))
        default:
            if ICMPv4Type.isError(message.type) {
                ownCounters.icmp.errorsReceived += 1
            } else {
                ownCounters.icmp.otherReceived += 1
            }
        }
    }
}
