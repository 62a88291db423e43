import Interfaces

/// A received segment after header, checksum and option checks: what the state machine consumes. `payload`
/// borrows the received bytes and is valid only during the call that receives it.
struct TCPIncoming {
    var seq: TCPSeqNumber
    var ack: TCPSeqNumber
    var flags: TCPFlags
    var window: UInt16
    var urgentPointer: UInt16 = 0
    var options: TCPOptions
    var payload: UnsafeRawBufferPointer

    var syn: Bool { flags.contains(.syn) }
    var fin: Bool { flags.contains(.fin) }
    var rst: Bool { flags.contains(.rst) }
    var hasAck: Bool { flags.contains(.ack) }
    /// SEG.LEN (RFC 9293 §3.3.1): data octets plus one for SYN and one for FIN.
    var length: Int { payload.count + (syn ? 1 : 0) + (fin ? 1 : 0) }
}

/// A RST to send at the next opportunity (from an API call without an output path, or from the state machine).
struct TCPPendingReset {
    var tuple: TCPFourTuple
    var seq: TCPSeqNumber
    /// When set, the RST also carries ACK with this acknowledgment number.
    var ack: TCPSeqNumber?
}

/// State shared by the engine and all its connections: configuration, counters, the pending-RST queue and the
/// challenge-ACK rate limiter. Holds no reference to any connection.
final class TCPShared {
    var configuration: TCPConfiguration {
        didSet { delayedAckNanoseconds = configuration.delayedAckTimeout.nanosecondsClamped }
    }
    /// `configuration.delayedAckTimeout` in nanoseconds, read on every in-order data segment.
    private(set) var delayedAckNanoseconds: Int64
    var statistics = TCPStatistics()
    private(set) var pendingResets: [TCPPendingReset] = []
    static let pendingResetLimit = 64
    private var challengeWindowStart = Instant.zero
    private var challengeCount = 0

    init(configuration: TCPConfiguration) {
        self.configuration = configuration
        delayedAckNanoseconds = configuration.delayedAckTimeout.nanosecondsClamped
        pendingResets.reserveCapacity(Self.pendingResetLimit)
    }

    /// Queues a RST; dropped (and counted) when the queue is full (RSTs are advisory, the peer recovers by
    /// timeout).
    func queueReset(_ tuple: TCPFourTuple, seq: TCPSeqNumber, ack: TCPSeqNumber?) {
        guard pendingResets.count < Self.pendingResetLimit else {
            statistics.resetsDropped += 1
            return
        }
        pendingResets.append(TCPPendingReset(tuple: tuple, seq: seq, ack: ack))
    }

    /// Sends every queued RST and empties the queue. A RST the IPv4 layer refuses is dropped and counted, not
    /// retried: retrying would keep the engine due at once (a busy poll) for as long as the refusal lasts,
    /// which is forever for a host without a route, and would hold back the RSTs queued behind it.
    /// Invariant: the queue is empty when this returns.
    func flushResets(send: IPv4Send) {
        guard !pendingResets.isEmpty else { return }
        for r in pendingResets {
            var header = TCPHeader(sourcePort: r.tuple.localPort, destinationPort: r.tuple.remotePort,
                                   sequenceNumber: r.seq, flags: .rst)
            if let ack = r.ack {
                header.acknowledgmentNumber = ack
                header.flags.insert(.ack)
            }
            guard tcpEmit(header, tuple: r.tuple, send: send) else {
                statistics.sendFailures += 1
                statistics.resetsDropped += 1
                continue
            }
            statistics.resetsSent += 1
            statistics.segmentsSent += 1
        }
        pendingResets.removeAll(keepingCapacity: true)
    }

    /// Whether another challenge ACK may go out now (RFC 5961 §7: at most `challengeAckLimit` per second).
    func allowChallengeAck(now: Instant) -> Bool {
        if now.duration(since: challengeWindowStart) >= .seconds(1) {
            challengeWindowStart = now
            challengeCount = 0
        }
        guard challengeCount < configuration.challengeAckLimit else { return false }
        challengeCount += 1
        statistics.challengeAcks += 1
        return true
    }
}

/// Builds one segment through `send`: header and options, `payloadLength` bytes copied from `ring` starting
/// `payloadOffset` bytes after its head, then the checksum. Returns what `send` returns.
func tcpEmit(_ header: TCPHeader, tuple: TCPFourTuple, send: IPv4Send, ring: TCPByteRing? = nil,
             payloadOffset: Int = 0, payloadLength: Int = 0) -> Bool {
    let headerLength = header.length
    let total = headerLength + payloadLength
    return send(tuple.localAddress, tuple.remoteAddress, total) { buffer in
        guard buffer.count >= total else { return }
        let segment = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<total])
        header.emit(into: segment)
        if payloadLength > 0, let ring {
            ring.peek(at: payloadOffset, into: UnsafeMutableRawBufferPointer(rebasing: segment[headerLength...]))
        }
        TCPHeader.fillChecksum(segment, source: tuple.localAddress, destination: tuple.remoteAddress)
    }
}
