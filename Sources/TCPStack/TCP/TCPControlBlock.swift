import Interfaces

/// One connection's Transmission Control Block (RFC 9293 §3.3.1) and the state machine that drives it
/// (§3.10.7). Internal: applications reach it through `TCPEngine` handles.
///
/// Input arrives through `handle(_:now:)`, timers through `runTimers(now:)`, and everything to transmit leaves
/// through `output(now:send:)`, which the engine calls after each input and on every poll. The block never reads
/// a clock and never sends outside `output` (RSTs that must go out go to `shared.queueReset`).
///
/// Sequence-space invariants while synchronized:
///   sndUna <= sndNxt <= sndMax;  sndUna + sendBuffer.count == end of application data (the FIN, if queued,
///   sits at `finSeq`, right after it);  rcvNxt == sequence number of the next in-order byte, which is also
///   the ring position `receiveBuffer.count`; every out-of-order range lies in (rcvNxt, rcvNxt + capacity).
final class TCPControlBlock {
    /// Who holds this connection.
    enum Owner: Equatable {
        /// A listener (half-open or waiting in the accept queue), by listener slot.
        case listener(Int)
        /// The application holds a handle.
        case application
        /// The application closed its handle; the engine finishes the connection and frees it.
        case orphan
    }

    let shared: TCPShared
    let tuple: TCPFourTuple
    /// Slot index in the engine's table (set by the engine).
    var slot = -1
    private(set) var state: TCPState
    /// Created by a listener (passive open).
    let passive: Bool
    var owner: Owner
    /// Whether the engine has queued an event for this block and not yet handed it out.
    var eventQueued = false
    /// Set whenever something the application can observe changed; the engine turns it into an event.
    var readinessChanged = false
    /// Set when an application call left work for `output`; `nextDeadline` then asks for an immediate poll.
    var outputRequested = false
    /// Set when the IPv4 layer refused a segment; the engine retries soon.
    private(set) var outputBlocked = false
    /// Engine bookkeeping: the deadline under which this block sits in the engine's timer heap.
    var scheduledDeadline: Instant?
    /// Engine bookkeeping: the block is in the engine's pending-output list.
    var outputQueued = false
    /// Engine bookkeeping: the block is in the engine's blocked-output retry list.
    var retryQueued = false
    /// Engine bookkeeping: the block is in the engine's TIME-WAIT list.
    var timeWaitQueued = false

    // MARK: Settings
    var noDelay: Bool
    var keepalive: TCPKeepalive?
    let sendBufferSize: Int
    let receiveBufferSize: Int
    /// MSS we advertise and the cap of our send MSS.
    let localMSS: Int
    /// The window shift we offer (RFC 7323 §2.2): the smallest that lets the receive buffer be advertised.
    let offeredShift: UInt8

    // MARK: Send sequence space (RFC 9293 §3.3.1)
    private(set) var iss: TCPSeqNumber
    private(set) var sndUna: TCPSeqNumber
    private(set) var sndNxt: TCPSeqNumber
    /// One past the highest sequence number ever sent (sndNxt is rewound on timeout; this is not).
    private(set) var sndMax: TCPSeqNumber
    /// SND.WND in bytes (already scaled).
    private(set) var sndWnd = 0
    private var sndWl1 = TCPSeqNumber(0)
    private var sndWl2 = TCPSeqNumber(0)
    /// Largest window the peer has offered (RFC 9293 §3.8.6.2.1, RFC 5961 §5).
    private var maxSndWnd = 0
    private(set) var sndShift: UInt8 = 0
    private(set) var rcvShift: UInt8 = 0
    private(set) var windowScaling = false

    // MARK: Receive sequence space
    private(set) var irs = TCPSeqNumber(0)
    private(set) var rcvNxt = TCPSeqNumber(0)
    /// The right edge of the window last advertised; never moved left (RFC 9293 §3.8.6.2.2).
    private var rcvAdvEdge = TCPSeqNumber(0)

    // MARK: Negotiated options
    private var peerMSS = 536
    /// Effective send MSS (RFC 9293 §3.7.1) before per-segment options.
    private(set) var sendMSS = 536
    private(set) var sackEnabled = false
    private(set) var timestampsEnabled = false
    private var tsRecent: UInt32 = 0
    private var tsRecentTime = Instant.zero
    private var lastAckSent = TCPSeqNumber(0)
    private let tsOffset: UInt32

    // MARK: Buffers
    private(set) var sendBuffer: TCPByteRing?
    private(set) var receiveBuffer: TCPByteRing?
    private(set) var reassembly: TCPRangeSet
    /// Sequence number of a FIN received ahead of missing data.
    private var peerFinSeq: TCPSeqNumber?
    /// The application asked to close its sending side; `finSeq` is the FIN's sequence number once set.
    private(set) var finQueued = false
    private var finSeq = TCPSeqNumber(0)
    private var finAcked = false
    /// `shutdown` before ESTABLISHED: queue the FIN on establishment (RFC 9293 §3.10.4).
    private var finAfterEstablished = false
    /// The peer's FIN has been received in order: end of stream once the buffer drains.
    private(set) var peerFinReceived = false
    /// RCV.UP (RFC 9293 §3.3.1): the sequence number following the last urgent octet announced by the peer.
    private var urgentEnd: TCPSeqNumber?

    // MARK: Handshake
    private var synPending = false
    private var synRetries = 0
    private var synSentAt: Instant?
    private var synRetransmitted = false

    // MARK: Timers (RFC 6298, RFC 9293 §3.8)
    private var rtoDeadline: Instant?
    private var persistDeadline: Instant?
    private var delayedAckDeadline: Instant?
    private var keepaliveDeadline: Instant?
    private var timeWaitDeadline: Instant?
    private var finWait2Deadline: Instant?
    private(set) var rtt: TCPRTTEstimator
    private var consecutiveTimeouts = 0
    private var timedSeq: TCPSeqNumber?
    private var timedAt = Instant.zero

    // MARK: Congestion control and loss recovery (RFC 5681, 6582, 6675)
    let cc: any TCPCongestionControl
    private var dupAcks = 0
    private(set) var inRecovery = false
    private var recoverSeq: TCPSeqNumber
    private var highRxt: TCPSeqNumber
    /// NewReno window inflation during fast recovery without SACK (RFC 6582 §3.2 steps 2, 4, 5).
    private var inflation = 0
    private var retransmitHead = false
    private(set) var scoreboard: TCPRangeSet
    private var lastSent = Instant.zero

    // MARK: Persist and keepalive
    private var persistBackoffs = 0
    private var probesUnanswered = 0
    private var persistProbeDue = false
    private var keepaliveProbes = 0
    private var keepaliveProbeDue = false
    private var lastReceived = Instant.zero

    // MARK: Acknowledgments
    private var ackNow = false
    private var segmentsSinceAck = 0

    // MARK: Application view
    private(set) var error: TCPError?
    private(set) var everEstablished = false
    private(set) var retransmissionCount = 0
    private(set) var timeoutCount = 0
    private(set) var recoveryCount = 0

    // MARK: Creation

    private init(shared: TCPShared, tuple: TCPFourTuple, passive: Bool, owner: Owner, iss: TCPSeqNumber,
                 tsOffset: UInt32, options: TCPConnectionOptions) {
        let config = shared.configuration
        self.shared = shared
        self.tuple = tuple
        self.passive = passive
        self.owner = owner
        self.iss = iss
        self.tsOffset = tsOffset
        sndUna = iss
        sndNxt = iss
        sndMax = iss
        recoverSeq = iss
        highRxt = iss
        state = .closed
        noDelay = options.noDelay ?? config.noDelay
        keepalive = options.keepalive ?? config.keepalive
        sendBufferSize = max(options.sendBufferSize ?? config.sendBufferSize, 1)
        receiveBufferSize = max(options.receiveBufferSize ?? config.receiveBufferSize, 1)
        localMSS = min(max(config.maximumSegmentSize, 64), 65495)
        offeredShift = Self.windowShift(forBuffer: receiveBufferSize)
        rtt = TCPRTTEstimator(initial: config.initialRTO, minimum: config.minimumRTO, maximum: config.maximumRTO)
        reassembly = TCPRangeSet(limit: config.maximumOutOfOrderRanges)
        scoreboard = TCPRangeSet(limit: config.maximumOutOfOrderRanges)
        cc = (options.congestionControl ?? config.congestionControl).make(localMSS)
    }

    /// An active open (RFC 9293 §3.10.1): state SYN-SENT, the SYN goes out at the next `output`.
    static func active(shared: TCPShared, tuple: TCPFourTuple, iss: TCPSeqNumber, tsOffset: UInt32,
                       options: TCPConnectionOptions, now: Instant) -> TCPControlBlock {
        let tcb = TCPControlBlock(shared: shared, tuple: tuple, passive: false, owner: .application, iss: iss,
                                  tsOffset: tsOffset, options: options)
        tcb.sendBuffer = TCPByteRing(capacity: tcb.sendBufferSize)
        tcb.receiveBuffer = TCPByteRing(capacity: tcb.receiveBufferSize)
        tcb.state = .synSent
        tcb.sndNxt = iss + 1
        tcb.sndMax = iss + 1
        tcb.synPending = true
        tcb.outputRequested = true
        tcb.lastReceived = now
        tcb.rtoDeadline = now + tcb.rtt.retransmissionTimeout
        return tcb
    }

    /// A passive open answering `syn` on a listener (RFC 9293 §3.10.7.2): state SYN-RECEIVED, the SYN-ACK goes
    /// out at the next `output`. Buffers are allocated only when the handshake completes, so a half-open
    /// connection costs a few hundred bytes.
    static func passive(shared: TCPShared, tuple: TCPFourTuple, listener: Int, syn: TCPIncoming, iss: TCPSeqNumber,
                        tsOffset: UInt32, options: TCPConnectionOptions, now: Instant) -> TCPControlBlock {
        let tcb = TCPControlBlock(shared: shared, tuple: tuple, passive: true, owner: .listener(listener),
                                  iss: iss, tsOffset: tsOffset, options: options)
        tcb.state = .synReceived
        tcb.irs = syn.seq
        tcb.rcvNxt = syn.seq + 1
        tcb.rcvAdvEdge = tcb.rcvNxt
        tcb.negotiate(peer: syn.options, now: now)
        tcb.sndWnd = Int(syn.window)   // never scaled in a SYN (RFC 7323 §2.2)
        tcb.maxSndWnd = tcb.sndWnd
        tcb.sndWl1 = syn.seq
        tcb.sndWl2 = iss
        tcb.sndNxt = iss + 1
        tcb.sndMax = iss + 1
        tcb.synPending = true
        tcb.lastReceived = now
        tcb.rtoDeadline = now + tcb.rtt.retransmissionTimeout
        return tcb
    }

    /// A connection rebuilt from a valid SYN cookie carried by the handshake's final ACK (RFC 4987 §3.6). The
    /// options the cookie preserved: the MSS (always), and window scale and SACK-permitted (only when the peer
    /// used timestamps, which echo them back to us). The block starts ESTABLISHED; the engine then feeds it the
    /// ACK segment itself, which may carry data.
    static func fromCookie(shared: TCPShared, tuple: TCPFourTuple, listener: Int, ack: TCPIncoming, mss: Int,
                           tsOffset: UInt32, options: TCPConnectionOptions, now: Instant) -> TCPControlBlock {
        let iss = ack.ack - 1
        let tcb = TCPControlBlock(shared: shared, tuple: tuple, passive: true, owner: .listener(listener),
                                  iss: iss, tsOffset: tsOffset, options: options)
        let config = shared.configuration
        tcb.irs = ack.seq - 1
        tcb.rcvNxt = ack.seq
        tcb.rcvAdvEdge = ack.seq
        tcb.peerMSS = max(mss, 64)
        if config.timestamps, let ts = ack.options.timestamp {
            tcb.timestampsEnabled = true
            tcb.tsRecent = ts.value
            tcb.tsRecentTime = now
            let bits = ts.echoReply & 0x1F
            if config.windowScaling && bits & 0xF != 0xF {
                tcb.windowScaling = true
                tcb.sndShift = UInt8(bits & 0xF)
                tcb.rcvShift = tcb.offeredShift
            }
            tcb.sackEnabled = config.selectiveAcknowledgments && bits & 0x10 != 0
        }
        tcb.updateSendMSS()
        tcb.sndUna = ack.ack
        tcb.sndNxt = ack.ack
        tcb.sndMax = ack.ack
        tcb.recoverSeq = ack.ack
        tcb.highRxt = ack.ack
        tcb.sndWnd = Int(ack.window) << Int(tcb.sndShift)
        tcb.maxSndWnd = tcb.sndWnd
        tcb.sndWl1 = ack.seq
        tcb.sndWl2 = ack.ack
        tcb.lastReceived = now
        tcb.enterEstablished(now: now)
        return tcb
    }

    /// The smallest window shift (0...14) that lets a `bytes`-byte receive buffer be advertised in full
    /// (RFC 7323 §2.2).
    static func windowShift(forBuffer bytes: Int) -> UInt8 {
        var shift: UInt8 = 0
        while shift < 14 && (bytes >> Int(shift)) > 65535 { shift += 1 }
        return shift
    }

    /// Whether a SYN arriving in TIME-WAIT may start a new incarnation of the connection (RFC 9293
    /// §3.10.7.4 note, RFC 6191): its sequence number is beyond the old connection's, or, with timestamps, its
    /// TSval is newer than TS.Recent.
    func acceptsNewIncarnation(_ syn: TCPIncoming) -> Bool {
        if timestampsEnabled, let ts = syn.options.timestamp {
            return Self.tsBefore(tsRecent, ts.value)
        }
        return rcvNxt < syn.seq
    }

    /// Applies the options of the peer's SYN (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2 and §3.2, RFC 2018 §2).
    private func negotiate(peer: TCPOptions, now: Instant) {
        let config = shared.configuration
        peerMSS = peer.maximumSegmentSize.map { max(Int($0), 64) } ?? 536
        if config.windowScaling, let shift = peer.windowScale {
            windowScaling = true
            sndShift = shift
            rcvShift = offeredShift
        } else {
            windowScaling = false
            sndShift = 0
            rcvShift = 0
        }
        sackEnabled = config.selectiveAcknowledgments && peer.sackPermitted
        if config.timestamps, let ts = peer.timestamp {
            timestampsEnabled = true
            tsRecent = ts.value
            tsRecentTime = now
        } else {
            timestampsEnabled = false
        }
        updateSendMSS()
    }

    private func updateSendMSS() {
        sendMSS = max(min(peerMSS, localMSS), 64)
    }

    // MARK: Derived quantities

    /// The millisecond timestamp clock of this connection (RFC 7323 §5.4), offset per connection.
    func timestampClock(_ now: Instant) -> UInt32 {
        UInt32(truncatingIfNeeded: now.nanoseconds / 1_000_000) &+ tsOffset
    }

    /// End of application data in sequence space.
    private var dataEnd: TCPSeqNumber { sndUna + (sendBuffer?.count ?? 0) }

    /// Bytes the receive buffer can still take: RCV.WND as far as acceptance goes.
    private var receiveSpace: Int { receiveBuffer?.free ?? receiveBufferSize }

    /// Option bytes carried by data segments now: timestamps, plus SACK blocks while out-of-order data is held.
    private var dataOptionLength: Int {
        var n = timestampsEnabled ? 12 : 0
        if sackEnabled && !reassembly.isEmpty {
            n += 4 + 8 * min(reassembly.count, timestampsEnabled ? 3 : 4)
        }
        return n
    }

    /// Most payload bytes per segment: Eff.snd.MSS minus the options the segment carries (RFC 9293 §3.7.1).
    private var segmentPayloadLimit: Int { max(sendMSS - dataOptionLength, 1) }

    /// Sent and not acknowledged, not counting SACKed bytes (RFC 5681 FlightSize, measured up to sndNxt).
    private var flightSize: Int {
        let raw = sndNxt - sndUna
        guard sackEnabled, !scoreboard.isEmpty else { return max(raw, 0) }
        return max(raw - scoreboard.coveredBytes(from: sndUna, to: sndNxt), 0)
    }

    /// Whether the state still accepts `send`.
    var canSend: Bool {
        guard error == nil, !finQueued, !finAfterEstablished else { return false }
        switch state {
        case .synSent, .synReceived, .established, .closeWait: return true
        default: return false
        }
    }

    /// The earliest armed timer.
    var earliestDeadline: Instant? {
        var earliest: Instant? = nil
        @inline(__always) func consider(_ d: Instant?) {
            if let d, earliest == nil || d < earliest! { earliest = d }
        }
        consider(rtoDeadline)
        consider(persistDeadline)
        consider(delayedAckDeadline)
        consider(keepaliveDeadline)
        consider(timeWaitDeadline)
        consider(finWait2Deadline)
        return earliest
    }

    // MARK: Application calls

    /// Queues bytes for sending; returns how many fit in the send buffer (RFC 9293 §3.10.2).
    func enqueue(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let buffer = sendBuffer else { return 0 }
        let n = buffer.append(bytes)
        if n > 0 { outputRequested = true }
        return n
    }

    /// Copies received bytes out (RFC 9293 §3.10.3). Opening the window may warrant a window update, which the
    /// next `output` decides.
    func dequeue(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let ring = receiveBuffer else { return 0 }
        let n = ring.read(into: buffer)
        if n > 0 { outputRequested = true }
        return n
    }

    /// Bytes waiting to be read.
    var readableBytes: Int { receiveBuffer?.count ?? 0 }

    /// Unread bytes before the urgent mark (0 when none is pending).
    var urgentBytesAhead: Int {
        guard let end = urgentEnd else { return 0 }
        let readPosition = rcvNxt - readableBytes - (peerFinReceived ? 1 : 0)
        return max(min(end - readPosition, readableBytes), 0)
    }

    /// The application's CLOSE of its sending side (RFC 9293 §3.10.4): queue a FIN after the data.
    func shutdownSend(now: Instant) {
        switch state {
        case .synSent, .synReceived:
            finAfterEstablished = true
        case .established:
            queueFin()
            state = .finWait1
        case .closeWait:
            queueFin()
            state = .lastAck
        default:
            break
        }
        outputRequested = true
    }

    private func queueFin() {
        guard !finQueued else { return }
        finQueued = true
        finSeq = dataEnd
    }

    /// The application releases its handle. Per RFC 2525 §2.17, if received data is left unread the connection
    /// is reset rather than closed, so the peer learns that data was lost. Returns true if the block is now
    /// CLOSED and can be freed at once.
    func applicationClose(now: Instant) -> Bool {
        owner = .orphan
        if state == .closed { return true }
        switch state {
        case .synReceived, .established, .finWait1, .finWait2, .closeWait:
            if readableBytes > 0 {
                abort(now: now)
                return true
            }
        default:
            break
        }
        receiveBuffer = nil       // nobody will read any more; data arriving from now on is answered with RST
        if state == .timeWait { shrinkForTimeWait() }
        switch state {
        case .synSent:
            enterClosed()
            return true
        case .synReceived, .established, .closeWait:
            shutdownSend(now: now)
            if state == .synReceived { finAfterEstablished = true }
        case .finWait2:
            finWait2Deadline = now + shared.configuration.finWait2Timeout
        default:
            break
        }
        outputRequested = true
        return false
    }

    /// ABORT (RFC 9293 §3.10.5): send RST in synchronized states and SYN-RECEIVED, then CLOSED. The RST
    /// carries SND.MAX, the peer's RCV.NXT when all our data arrived; otherwise the peer answers with a
    /// challenge ACK (RFC 5961 §3.2), which our closed port answers with an exactly matching RST.
    func abort(now: Instant) {
        switch state {
        case .synReceived, .established, .finWait1, .finWait2, .closeWait:
            shared.queueReset(tuple, seq: sndMax, ack: nil)
        default:
            break
        }
        if error == nil { error = .aborted }
        enterClosed()
    }

    // MARK: State changes

    private func enterClosed() {
        state = .closed
        rtoDeadline = nil
        persistDeadline = nil
        delayedAckDeadline = nil
        keepaliveDeadline = nil
        timeWaitDeadline = nil
        finWait2Deadline = nil
        synPending = false
        ackNow = false
        retransmitHead = false
        persistProbeDue = false
        keepaliveProbeDue = false
        sendBuffer = nil
        readinessChanged = true
    }

    /// Fails the connection with `error` (sticky) and moves to CLOSED.
    private func fail(_ failure: TCPError) {
        if error == nil { error = failure }
        enterClosed()
    }

    private func enterEstablished(now: Instant) {
        state = .established
        everEstablished = true
        if sendBuffer == nil { sendBuffer = TCPByteRing(capacity: sendBufferSize) }
        if receiveBuffer == nil && owner != .orphan { receiveBuffer = TCPByteRing(capacity: receiveBufferSize) }
        if synRetransmitted { rtt.resetIfUnmeasured(to: .seconds(3)) }   // RFC 6298 §5.7
        cc.start(maximumSegmentSize: sendMSS, now: now)
        recoverSeq = sndUna
        highRxt = sndUna
        lastSent = now
        rtoDeadline = nil
        armKeepalive(now: now)
        readinessChanged = true
        if finAfterEstablished {
            finAfterEstablished = false
            queueFin()
            state = .finWait1
        }
    }

    private func enterTimeWait(now: Instant) {
        state = .timeWait
        sendBuffer = nil          // everything we sent is acknowledged
        if owner == .orphan { shrinkForTimeWait() }
        rtoDeadline = nil
        persistDeadline = nil
        keepaliveDeadline = nil
        finWait2Deadline = nil
        timeWaitDeadline = now + shared.configuration.timeWaitDuration
        readinessChanged = true
    }

    /// An orphan in TIME-WAIT only answers retransmitted FINs: it keeps no buffers or range storage.
    private func shrinkForTimeWait() {
        receiveBuffer = nil
        reassembly.releaseStorage()
        scoreboard.releaseStorage()
    }

    private func armKeepalive(now: Instant) {
        if let k = keepalive {
            keepaliveDeadline = now + k.idle
            keepaliveProbes = 0
        } else {
            keepaliveDeadline = nil
        }
    }

    /// Changes the keepalive setting of a live connection.
    func setKeepalive(_ setting: TCPKeepalive?, now: Instant) {
        keepalive = setting
        if state.isSynchronized && state != .timeWait { armKeepalive(now: now) }
    }

    // MARK: Segment arrival

    /// Processes one segment addressed to this connection (RFC 9293 §3.10.7.3 and §3.10.7.4).
    func handle(_ segment: TCPIncoming, now: Instant) {
        switch state {
        case .closed, .listen:
            return
        case .synSent:
            handleInSynSent(segment, now: now)
        default:
            handleSynchronized(segment, now: now)
        }
    }

    /// RFC 9293 §3.10.7.3, with the RFC 5961 §3.2 rule that a RST is accepted only if it acknowledges our SYN.
    private func handleInSynSent(_ seg: TCPIncoming, now: Instant) {
        var ackAcceptable = false
        if seg.hasAck {
            // First: the ACK must acknowledge our SYN and nothing more.
            guard iss < seg.ack && !(sndMax < seg.ack) else {
                if !seg.rst { shared.queueReset(tuple, seq: seg.ack, ack: nil) }
                return
            }
            ackAcceptable = true
        }
        // Second: RST.
        if seg.rst {
            if ackAcceptable { fail(.connectionRefused) }
            return
        }
        // Fourth: SYN.
        guard seg.syn else { return }
        irs = seg.seq
        rcvNxt = seg.seq + 1
        rcvAdvEdge = rcvNxt
        lastReceived = now
        negotiate(peer: seg.options, now: now)
        if ackAcceptable {
            sndUna = seg.ack
            takeHandshakeRTTSample(seg, now: now)
            sndWnd = Int(seg.window)      // unscaled in a SYN
            maxSndWnd = sndWnd
            sndWl1 = seg.seq
            sndWl2 = seg.ack
            synPending = false
            enterEstablished(now: now)
            ackNow = true
            // Data or FIN riding on the SYN-ACK: continue at the sixth step with the SYN removed.
            var rest = seg
            rest.flags.remove(.syn)
            rest.seq = seg.seq + 1
            if !rest.payload.isEmpty || rest.fin { processTextAndFin(rest, now: now) }
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 8): answer with SYN-ACK and wait in SYN-RECEIVED.
            state = .synReceived
            sndWnd = Int(seg.window)
            maxSndWnd = sndWnd
            sndWl1 = seg.seq
            sndWl2 = sndUna
            synPending = true
            synRetries = 0
            rtoDeadline = now + rtt.retransmissionTimeout
            readinessChanged = true
        }
    }

    private func takeHandshakeRTTSample(_ seg: TCPIncoming, now: Instant) {
        if timestampsEnabled, let ts = seg.options.timestamp {
            let ms = Int32(bitPattern: timestampClock(now) &- ts.echoReply)
            if ms >= 0 && ms < 600_000 { rtt.addSample(.milliseconds(Int64(ms))) }
        } else if !synRetransmitted, let sent = synSentAt {
            rtt.addSample(now.duration(since: sent))   // Karn: only if the SYN was not retransmitted
        }
    }

    /// Whether timestamp `a` is earlier than `b` (RFC 7323 §5.2: modulo 2^32).
    private static func tsBefore(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }

    /// RFC 9293 §3.10.7.4 for SYN-RECEIVED and every synchronized state.
    private func handleSynchronized(_ original: TCPIncoming, now: Instant) {
        var seg = original
        // A retransmission of the SYN that created a passive connection: repeat the SYN-ACK.
        if state == .synReceived && seg.syn && !seg.hasAck && !seg.rst && seg.seq == irs {
            synPending = true
            return
        }
        // PAWS (RFC 7323 §5.3 R1-R2), and §3.2: a non-RST segment without timestamps is dropped.
        if timestampsEnabled {
            if let ts = seg.options.timestamp {
                let recentValid = now.duration(since: tsRecentTime) < .seconds(24 * 24 * 3600)
                if !seg.rst && recentValid && Self.tsBefore(ts.value, tsRecent) {
                    ackNow = true
                    return
                }
            } else if !seg.rst {
                return
            }
        }
        // First: sequence number acceptability (§3.10.7.4, table "Segment Length / Receive Window").
        let window = receiveSpace
        let segLength = seg.length
        var acceptable: Bool
        var zeroWindowAllowance = false
        if segLength == 0 {
            acceptable = window == 0 ? seg.seq == rcvNxt : seg.seq.isIn(rcvNxt, rcvNxt + window)
        } else if window == 0 {
            acceptable = false
            // "Special allowance ... to accept valid ACKs, URGs, and RSTs": process the control part only.
            if seg.seq == rcvNxt {
                acceptable = true
                zeroWindowAllowance = true
            }
        } else {
            acceptable = seg.seq.isIn(rcvNxt, rcvNxt + window)
                || (seg.seq + (segLength - 1)).isIn(rcvNxt, rcvNxt + window)
        }
        if !acceptable {
            if !seg.rst {
                ackNow = true
                // A retransmitted FIN in TIME-WAIT restarts the 2·MSL wait (§3.10.7.4, eighth step).
                if state == .timeWait && seg.fin { timeWaitDeadline = now + shared.configuration.timeWaitDuration }
            }
            return
        }
        lastReceived = now
        if keepaliveDeadline != nil { armKeepalive(now: now) }
        // Trim to the window: drop what precedes RCV.NXT and what lies past the right edge.
        if seg.seq < rcvNxt {
            var drop = rcvNxt - seg.seq
            if seg.syn {
                seg.flags.remove(.syn)
                drop -= 1
                seg.seq = seg.seq + 1
            }
            if drop >= seg.payload.count {
                if seg.fin && drop > seg.payload.count { seg.flags.remove(.fin) }   // duplicate FIN
                seg.seq = seg.seq + seg.payload.count
                seg.payload = UnsafeRawBufferPointer(rebasing: seg.payload[seg.payload.count...])
                ackNow = true
            } else {
                seg.payload = UnsafeRawBufferPointer(rebasing: seg.payload[drop...])
                seg.seq = seg.seq + drop
            }
        }
        if zeroWindowAllowance {
            // Data cannot be stored; a FIN with no data needs no buffer space and is kept.
            if !seg.payload.isEmpty {
                seg.payload = UnsafeRawBufferPointer(rebasing: seg.payload[seg.payload.count...])
                seg.flags.remove(.fin)
            }
            ackNow = true
        } else {
            let room = (rcvNxt + window) - seg.seq
            if seg.payload.count > room {
                seg.payload = UnsafeRawBufferPointer(rebasing: seg.payload[0..<max(room, 0)])
                seg.flags.remove(.fin)
                ackNow = true       // tell the sender at once how much was taken
            }
        }
        // TS.Recent update (RFC 7323 §4.3).
        if timestampsEnabled, let ts = original.options.timestamp,
           !Self.tsBefore(ts.value, tsRecent), !(lastAckSent < original.seq) {
            tsRecent = ts.value
            tsRecentTime = now
        }
        // Second: RST (RFC 5961 §3.2: exact match resets, otherwise challenge).
        if seg.rst {
            if original.seq == rcvNxt {
                switch state {
                case .synReceived:
                    if passive { enterClosed() } else { fail(.connectionRefused) }
                case .established, .finWait1, .finWait2, .closeWait:
                    fail(.connectionReset)
                default:
                    enterClosed()
                }
            } else {
                challengeAck(now: now)
            }
            return
        }
        // Fourth: SYN (RFC 5961 §4; RFC 9293: a passive SYN-RECEIVED returns to LISTEN).
        if original.syn {
            if state == .synReceived && passive {
                enterClosed()
            } else {
                challengeAck(now: now)
            }
            return
        }
        // Fifth: ACK.
        guard seg.hasAck else { return }
        if state == .synReceived {
            guard sndUna < seg.ack && !(sndMax < seg.ack) else {
                shared.queueReset(tuple, seq: seg.ack, ack: nil)
                return
            }
            takeHandshakeRTTSample(seg, now: now)
            sndUna = iss + 1
            sndWnd = Int(seg.window) << Int(sndShift)
            maxSndWnd = sndWnd
            sndWl1 = seg.seq
            sndWl2 = seg.ack
            synPending = false
            enterEstablished(now: now)
        }
        // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
        if sndMax < seg.ack || seg.ack < sndUna - max(maxSndWnd, 1) {
            ackNow = true
            return
        }
        processAck(seg, now: now)
        guard state != .closed else { return }
        switch state {
        case .finWait1 where finAcked:
            state = .finWait2
            if owner == .orphan { finWait2Deadline = now + shared.configuration.finWait2Timeout }
            readinessChanged = true
        case .closing where finAcked:
            enterTimeWait(now: now)
        case .lastAck where finAcked:
            enterClosed()
            return
        default:
            break
        }
        let urgentMark = original.flags.contains(.urg) && original.urgentPointer > 0
            ? original.seq + Int(original.urgentPointer) : nil
        processTextAndFin(seg, urgentMark: urgentMark, now: now)
    }

    /// Sixth to eighth steps: urgent (delivered inline; RCV.UP is tracked and announced), segment text, FIN.
    /// `urgentMark` is SEG.SEQ + SEG.UP of the segment as received (before trimming), when URG was set.
    private func processTextAndFin(_ seg: TCPIncoming, urgentMark: TCPSeqNumber? = nil, now: Instant) {
        if let end = urgentMark {
            switch state {
            case .established, .finWait1, .finWait2:
                if urgentEnd == nil || urgentEnd! < end {
                    urgentEnd = end
                    readinessChanged = true
                }
            default:
                break
            }
        }
        if !seg.payload.isEmpty {
            switch state {
            case .established, .finWait1, .finWait2:
                if owner == .orphan {
                    // Nobody will read this (RFC 2525 §2.17): reset instead of silently discarding.
                    shared.queueReset(tuple, seq: sndMax, ack: nil)
                    fail(.aborted)
                    return
                }
                acceptData(seg.seq, seg.payload, now: now)
            default:
                break   // after the peer's FIN no data can be valid; ignore it
            }
        }
        if seg.fin {
            let finAt = seg.seq + seg.payload.count
            if finAt == rcvNxt {
                applyPeerFin(now: now)
            } else if rcvNxt < finAt {
                peerFinSeq = finAt
                ackNow = true
            }
        }
        if let f = peerFinSeq, f == rcvNxt, !peerFinReceived { applyPeerFin(now: now) }
    }

    /// Places in-window data in the receive ring: in order it becomes readable at once (pulling in any
    /// out-of-order ranges it joins); out of order it is stored in place and remembered in `reassembly`.
    private func acceptData(_ seq: TCPSeqNumber, _ payload: UnsafeRawBufferPointer, now: Instant) {
        guard let ring = receiveBuffer else { return }
        let offset = seq - rcvNxt
        let n = payload.count
        guard offset >= 0, ring.count + offset + n <= ring.capacity else { return }
        if offset == 0 {
            ring.write(at: ring.count, payload)
            ring.commit(n)
            rcvNxt = rcvNxt + n
            if !reassembly.isEmpty {
                let merged = reassembly.advance(from: rcvNxt)
                if rcvNxt < merged {
                    ring.commit(merged - rcvNxt)
                    rcvNxt = merged
                }
                reassembly.removeBelow(rcvNxt)
                ackNow = true          // filled (part of) a hole: ACK at once (RFC 5681 §4.2)
            }
            readinessChanged = true
            segmentsSinceAck += 1
            let config = shared.configuration
            if segmentsSinceAck >= config.ackEverySegments || config.delayedAckTimeout <= .zero {
                ackNow = true
            } else if delayedAckDeadline == nil {
                delayedAckDeadline = now + config.delayedAckTimeout
            }
        } else {
            // Out of order: store only if the range set can describe it (bounded reassembly).
            if reassembly.insert(seq, seq + n) {
                ring.write(at: ring.count + offset, payload)
            }
            ackNow = true              // duplicate ACK at once (RFC 5681 §4.2), carrying SACK blocks
        }
    }

    /// Eighth step: the peer's FIN, in order.
    private func applyPeerFin(now: Instant) {
        guard !peerFinReceived else {
            ackNow = true
            if state == .timeWait { timeWaitDeadline = now + shared.configuration.timeWaitDuration }
            return
        }
        rcvNxt = rcvNxt + 1
        peerFinReceived = true
        peerFinSeq = nil
        ackNow = true
        readinessChanged = true
        switch state {
        case .synReceived, .established:
            state = .closeWait
        case .finWait1:
            if finAcked { enterTimeWait(now: now) } else { state = .closing }
        case .finWait2:
            enterTimeWait(now: now)
        case .timeWait:
            timeWaitDeadline = now + shared.configuration.timeWaitDuration
        default:
            break
        }
    }

    private func challengeAck(now: Instant) {
        if shared.allowChallengeAck(now: now) { ackNow = true }
    }

    // MARK: ACK processing (RFC 9293 §3.10.7.4 fifth step, RFC 5681, RFC 6582, RFC 6675, RFC 6298)

    private func processAck(_ seg: TCPIncoming, now: Instant) {
        let ack = seg.ack
        let segWindow = Int(seg.window) << Int(sndShift)
        var newSackInfo = false
        if sndUna < ack {
            var acked = ack - sndUna
            let flightBefore = sndMax - sndUna
            var finNowAcked = false
            if finQueued && finSeq < ack {
                finNowAcked = true
                acked -= 1
            }
            sendBuffer?.discard(acked)
            sndUna = ack
            if sndNxt < sndUna { sndNxt = sndUna }
            if highRxt < sndUna { highRxt = sndUna }
            if finNowAcked { finAcked = true }
            // RTT measurement: timestamps (RFC 7323 §4.2) or the one timed segment (RFC 6298 §3, Karn).
            var sample: Duration? = nil
            if timestampsEnabled, let ts = seg.options.timestamp {
                let ms = Int32(bitPattern: timestampClock(now) &- ts.echoReply)
                if ms >= 0 && ms < 600_000 { sample = .milliseconds(Int64(ms)) }
            } else if let t = timedSeq, !(ack < t) {
                sample = now.duration(since: timedAt)
                timedSeq = nil
            }
            if let sample { rtt.addSample(sample) }
            consecutiveTimeouts = 0
            probesUnanswered = 0
            scoreboard.removeBelow(sndUna)
            newSackInfo = absorbSackBlocks(seg)
            if inRecovery {
                if !(ack < recoverSeq) {
                    // Full acknowledgment: leave fast recovery (RFC 6582 §3.2 step 3).
                    inRecovery = false
                    inflation = 0
                    cc.onFastRecoveryExited(flightSize: sndMax - sndUna, now: now)
                } else if !sackEnabled {
                    // Partial acknowledgment (RFC 6582 §3.2 step 4): retransmit the next hole, deflate.
                    retransmitHead = true
                    inflation = max(inflation - acked, 0) + (acked >= sendMSS ? sendMSS : 0)
                }
            } else if acked > 0 {
                cc.onAcknowledgment(TCPAckEvent(bytesAcknowledged: acked, flightSize: flightBefore,
                                                rttSample: sample,
                                                smoothedRTT: rtt.smoothedRTT.map { .nanoseconds($0) },
                                                now: now))
            }
            dupAcks = 0
            if sndUna == sndMax {
                rtoDeadline = nil
            } else if persistDeadline == nil {
                rtoDeadline = now + rtt.retransmissionTimeout    // RFC 6298 §5.3
            }
            if acked > 0 { readinessChanged = true }
        } else {
            probesUnanswered = 0
            newSackInfo = absorbSackBlocks(seg)
            // A duplicate ACK (RFC 5681 §2), or one that brings new SACK information (RFC 6675 §5).
            let outstanding = sndUna < sndMax
            let pure = seg.payload.isEmpty && !seg.syn && !seg.fin
            if ack == sndUna && outstanding && pure && sndWnd > 0 && (segWindow == sndWnd || newSackInfo) {
                dupAcks += 1
                onDuplicateAck(now: now)
            }
        }
        // Window update (RFC 9293 §3.10.7.4: SND.WL1/SND.WL2 rule).
        if sndWl1 < seg.seq || (sndWl1 == seg.seq && !(ack < sndWl2)) {
            let opened = sndWnd == 0 && segWindow > 0
            sndWnd = segWindow
            sndWl1 = seg.seq
            sndWl2 = ack
            if segWindow > maxSndWnd { maxSndWnd = segWindow }
            if segWindow == 0 {
                consecutiveTimeouts = 0     // the peer is alive, only slow to read (RFC 9293 §3.8.6.1)
            } else if persistDeadline != nil || opened {
                persistDeadline = nil
                persistBackoffs = 0
                if sndUna < sndMax && rtoDeadline == nil { rtoDeadline = now + rtt.retransmissionTimeout }
            }
        }
    }

    /// Merges valid SACK blocks into the scoreboard (RFC 2018 §4, RFC 6675 §4): blocks must lie inside
    /// (SND.UNA, SND.MAX]; others (D-SACKs below SND.UNA, forged ranges) are ignored. Returns whether the
    /// scoreboard grew.
    private func absorbSackBlocks(_ seg: TCPIncoming) -> Bool {
        guard sackEnabled else { return false }
        let blocks = seg.options.sackBlocks
        guard !blocks.isEmpty else { return false }
        var grew = false
        for i in 0..<blocks.count {
            let b = blocks[i]
            guard b.start < b.end, sndUna < b.end, !(sndMax < b.end) else { continue }
            let start = TCPSeqNumber.later(b.start, sndUna)
            let before = scoreboard.coveredBytes(from: start, to: b.end)
            if before < b.end - start && scoreboard.insert(start, b.end) { grew = true }
        }
        return grew
    }

    /// Bytes at or above which the scoreboard declares unSACKed data lost: RFC 6675 §4 IsLost, either
    /// DupThresh (3) discontiguous SACKed ranges above, or more than (DupThresh − 1)·SMSS SACKed bytes above.
    /// Every hole below the returned edge is lost.
    private func lostEdge() -> TCPSeqNumber {
        let ranges = scoreboard.ranges
        guard !ranges.isEmpty else { return sndUna }
        var edge = sndUna
        if ranges.count >= 3 { edge = ranges[ranges.count - 3].start }
        let need = 2 * sendMSS + 1
        var accumulated = 0
        for r in ranges.reversed() {
            let len = r.end - r.start
            if accumulated + len >= need {
                edge = TCPSeqNumber.later(edge, r.end - (need - accumulated))
                break
            }
            accumulated += len
        }
        return edge
    }

    private func onDuplicateAck(now: Instant) {
        if inRecovery {
            if !sackEnabled { inflation += sendMSS }     // RFC 6582 §3.2 step 4 (inflate)
            return
        }
        let lost = sackEnabled && sndUna < lostEdge()
        guard dupAcks >= 3 || lost else { return }
        // RFC 6582 §3.2 step 2: only if the cumulative ACK passed the previous recovery point (so that
        // duplicates of data resent after a timeout do not trigger a false fast retransmit). With SACK the
        // scoreboard tells real holes apart, and reaching the recovery point suffices.
        if sackEnabled {
            guard !(sndUna < recoverSeq) else { return }
        } else {
            guard recoverSeq < sndUna || (recoverSeq == sndUna && recoveryCount == 0 && timeoutCount == 0) else {
                return
            }
        }
        inRecovery = true
        recoveryCount += 1
        recoverSeq = sndMax
        cc.onFastRecoveryEntered(flightSize: sndMax - sndUna, now: now)
        retransmitHead = true
        highRxt = sndUna
        inflation = sackEnabled ? 0 : 3 * sendMSS
    }

    /// RFC 6675 §4 SetPipe: octets not SACKed and not lost, plus octets retransmitted.
    private func pipe() -> Int {
        let unsacked = (sndMax - sndUna) - scoreboard.coveredBytes(from: sndUna, to: sndMax)
        let edge = TCPSeqNumber.earlier(lostEdge(), sndMax)
        var lost = 0
        if sndUna < edge { lost = (edge - sndUna) - scoreboard.coveredBytes(from: sndUna, to: edge) }
        var retransmitted = 0
        let rx = TCPSeqNumber.earlier(highRxt, sndMax)
        if sndUna < rx { retransmitted = (rx - sndUna) - scoreboard.coveredBytes(from: sndUna, to: rx) }
        return max(unsacked - lost + retransmitted, 0)
    }

    // MARK: Timers

    /// Runs every expired timer. Transmissions they call for happen in the following `output`.
    func runTimers(now: Instant) {
        if let d = timeWaitDeadline, d <= now {
            timeWaitDeadline = nil
            enterClosed()
            return
        }
        if let d = finWait2Deadline, d <= now {
            finWait2Deadline = nil
            if state == .finWait2 {
                enterClosed()
                return
            }
        }
        if let d = delayedAckDeadline, d <= now {
            delayedAckDeadline = nil
            ackNow = true
        }
        if let d = rtoDeadline, d <= now {
            rtoDeadline = nil
            retransmissionTimeout(now: now)
            if state == .closed { return }
        }
        if let d = persistDeadline, d <= now {
            persistDeadline = nil
            probesUnanswered += 1
            if probesUnanswered > shared.configuration.maximumRetransmissions {
                shared.queueReset(tuple, seq: sndMax, ack: nil)
                fail(.timedOut)
                return
            }
            persistProbeDue = true
            persistBackoffs += 1
        }
        if let d = keepaliveDeadline, d <= now, let k = keepalive {
            if keepaliveProbes >= k.probeCount {
                fail(.timedOut)
                return
            }
            if state == .established || state == .closeWait || state == .finWait2 {
                if sndUna == sndMax { keepaliveProbeDue = true }
                keepaliveProbes += 1
                keepaliveDeadline = now + k.interval
            } else {
                keepaliveDeadline = nil
            }
        }
    }

    /// RTO expiry (RFC 6298 §5.4-5.6; RFC 5681 §3.1; RFC 6582 §3.2 step 1 after a timeout; RFC 2018 §8).
    private func retransmissionTimeout(now: Instant) {
        switch state {
        case .synSent, .synReceived:
            synRetries += 1
            if synRetries > shared.configuration.maximumSynRetransmissions {
                if state == .synReceived && passive { enterClosed() } else { fail(.timedOut) }
                return
            }
            rtt.backoff()
            synPending = true
            synRetransmitted = true
            rtoDeadline = now + rtt.retransmissionTimeout
        case .established, .finWait1, .closing, .closeWait, .lastAck:
            guard sndUna < sndMax else { return }
            consecutiveTimeouts += 1
            timeoutCount += 1
            if consecutiveTimeouts > shared.configuration.maximumRetransmissions {
                shared.queueReset(tuple, seq: sndMax, ack: nil)
                fail(.timedOut)
                return
            }
            cc.onRetransmissionTimeout(flightSize: sndMax - sndUna, firstTimeout: consecutiveTimeouts == 1, now: now)
            rtt.backoff()
            inRecovery = false
            inflation = 0
            dupAcks = 0
            recoverSeq = sndMax
            retransmitHead = false
            scoreboard.removeAll()          // the receiver may have reneged (RFC 2018 §8, RFC 6675 §5.1)
            sndNxt = sndUna                 // go back: resend from the first unacknowledged byte
            highRxt = sndUna
            timedSeq = nil
            rtoDeadline = now + rtt.retransmissionTimeout
        default:
            break
        }
    }

    // MARK: Output

    /// Sends everything due: SYN or SYN-ACK, retransmissions, new data within the windows, FIN, probes and
    /// ACKs. Stops early when the IPv4 layer refuses a segment (the work stays due).
    func output(now: Instant, send: IPv4Send) {
        outputRequested = false
        outputBlocked = false
        switch state {
        case .closed, .listen:
            return
        case .synSent:
            if synPending {
                if emitSyn(now: now, send: send) { synPending = false }
            }
            return
        case .synReceived:
            if synPending {
                if emitSyn(now: now, send: send) { synPending = false }
            } else if ackNow {
                _ = emitControl(seq: sndMax, flags: .ack, now: now, send: send)
            }
            return
        default:
            break
        }
        if keepaliveProbeDue {
            keepaliveProbeDue = false
            // RFC 9293 §3.8.4: an out-of-window segment (SEQ = SND.UNA − 1) that makes the peer answer.
            if !emitControl(seq: sndUna - 1, flags: .ack, now: now, send: send) { return }
        }
        var sentAny = false
        if retransmitHead && sndUna < sndMax {
            let end = segmentEnd(from: sndUna)
            guard transmit(from: sndUna, to: end, now: now, send: send) else { return }
            retransmitHead = false
            if highRxt < end { highRxt = end }
            sentAny = true
        }
        retransmitHead = false
        if persistProbeDue {
            persistProbeDue = false
            guard sendPersistProbe(now: now, send: send) else { return }
            sentAny = true
        }
        if inRecovery && sackEnabled {
            guard sendInSackRecovery(now: now, send: send, sentAny: &sentAny) else { return }
        } else {
            guard sendNewData(now: now, send: send, budget: nil, sentAny: &sentAny) else { return }
        }
        // Persist timer (RFC 9293 §3.8.6.1): data waits, nothing is in flight to bring an ACK back.
        let pendingData = sndNxt < dataEnd || (finQueued && !(finSeq < sndNxt))
        if pendingData && sndNxt == sndUna && rtoDeadline == nil && persistDeadline == nil {
            let base = rtt.retransmissionTimeout.nanosecondsClamped
            let scaled = persistBackoffs >= 20 ? Int64.max : base << Int64(persistBackoffs)
            let interval = min(max(scaled, rtt.minimumNanoseconds), rtt.maximumNanoseconds)
            persistDeadline = now + .nanoseconds(interval)
        }
        if !sentAny && (ackNow || windowUpdateDue()) {
            _ = emitControl(seq: TCPSeqNumber.earlier(sndMax, sndUna + sndWnd), flags: .ack, now: now, send: send)
        }
    }

    /// Whether reading freed enough space that the peer should hear about it (RFC 9293 §3.8.6.2.2: once the
    /// window can grow by min(buffer/2, MSS); or from a window below one MSS to at least one).
    private func windowUpdateDue() -> Bool {
        switch state {
        case .established, .finWait1, .finWait2: break
        default: return false
        }
        let advertised = max(rcvAdvEdge - rcvNxt, 0)
        let space = min(receiveSpace, 65535 << Int(rcvShift))
        let threshold = min(receiveBufferSize / 2, 2 * localMSS)
        if space - advertised >= threshold { return true }
        return advertised < localMSS && space >= localMSS && space > advertised
    }

    /// The end of a (re)transmission starting at `seq`: at most one segment, never into a SACKed range, never
    /// past SND.MAX for retransmissions.
    private func segmentEnd(from seq: TCPSeqNumber) -> TCPSeqNumber {
        var end = seq + segmentPayloadLimit
        if let next = scoreboard.nextStart(after: seq), next < end { end = next }
        if sndMax < end { end = sndMax }
        // A FIN occupies one sequence number but no payload: a range ending after it may be one longer.
        if finQueued && finSeq < end && !(finSeq < seq) { end = finSeq + 1 }
        return end
    }

    /// The SACK-based loss recovery send loop (RFC 6675 §5 step (C) with NextSeg rules 1-3).
    private func sendInSackRecovery(now: Instant, send: IPv4Send, sentAny: inout Bool) -> Bool {
        var inPipe = pipe()
        let cwnd = cc.congestionWindow
        var guardCount = 0
        while cwnd - inPipe >= sendMSS && guardCount < 1024 {
            guardCount += 1
            let edge = TCPSeqNumber.earlier(lostEdge(), sndMax)
            let from = TCPSeqNumber.later(highRxt, sndUna)
            // Rule 1: the first lost, not yet retransmitted hole.
            if let hole = scoreboard.firstUncovered(from: from, before: edge) {
                let end = segmentEnd(from: hole)
                guard transmit(from: hole, to: end, now: now, send: send) else { return false }
                highRxt = end
                inPipe += end - hole
                sentAny = true
                continue
            }
            // Rule 2: new data.
            var sentNew = false
            guard sendNewData(now: now, send: send, budget: cwnd - inPipe, singleSegment: true,
                              sentAny: &sentNew) else { return false }
            if sentNew {
                sentAny = true
                inPipe = pipe()
                continue
            }
            // Rule 3: an unSACKed, not yet retransmitted segment below the highest SACKed byte.
            if let top = scoreboard.highest,
               let hole = scoreboard.firstUncovered(from: from, before: TCPSeqNumber.earlier(top, sndMax)) {
                let end = segmentEnd(from: hole)
                guard transmit(from: hole, to: end, now: now, send: send) else { return false }
                highRxt = end
                inPipe += end - hole
                sentAny = true
                continue
            }
            break
        }
        return true
    }

    /// Sends data from SND.NXT (new data, or data being resent after a timeout) within the receive window and
    /// the congestion window (or `budget`), applying Nagle (RFC 9293 §3.7.4) and sender SWS avoidance
    /// (§3.8.6.2.1), and the FIN once all data is out. Returns false if the IPv4 layer refused a segment.
    private func sendNewData(now: Instant, send: IPv4Send, budget: Int?, singleSegment: Bool = false,
                             sentAny: inout Bool) -> Bool {
        // Restart after idle (RFC 5681 §4.1).
        if sndUna == sndMax && sndNxt < dataEnd && now.duration(since: lastSent) > rtt.retransmissionTimeout
            && budget == nil {
            cc.onIdleRestart(now: now)
        }
        var iterations = 0
        while iterations < 4096 {
            iterations += 1
            // Never resend bytes the peer has SACKed (after a timeout sndNxt walks back over them).
            if sndNxt < sndMax, let r = scoreboard.range(containing: sndNxt) {
                sndNxt = TCPSeqNumber.earlier(r.end, sndMax)
                continue
            }
            let seq = sndNxt
            let end = dataEnd
            let available = max(end - seq, 0)
            let limit = segmentPayloadLimit
            var length = min(available, limit)
            if seq < sndMax, let next = scoreboard.nextStart(after: seq), next < seq + length {
                length = next - seq
            }
            let receiverRoom = (sndUna + sndWnd) - seq
            let congestionRoom: Int
            if let budget {
                congestionRoom = budget
            } else {
                let limitedTransmit = (!inRecovery && dupAcks > 0 && dupAcks < 3) ? dupAcks * sendMSS : 0
                congestionRoom = cc.congestionWindow + inflation + limitedTransmit - flightSize
            }
            length = max(min(length, receiverRoom, congestionRoom), 0)
            let finHere = finQueued && !(finSeq < seq) && seq + length == finSeq
            if length == 0 && !finHere { break }
            if length < limit && !(seq < sndMax) && length > 0 {
                // A short new segment: send it only if Nagle and SWS avoidance allow.
                let sendsAll = seq + length == end
                let nagleOK = noDelay || flightSize == 0
                let swsOK = maxSndWnd > 0 && length >= maxSndWnd / 2
                if !((sendsAll && nagleOK) || swsOK) { break }
            }
            guard transmit(from: seq, to: seq + length + (finHere ? 1 : 0), now: now, send: send) else {
                return false
            }
            sentAny = true
            if singleSegment { break }
        }
        return true
    }

    /// A zero-window probe (RFC 9293 §3.8.6.1): one byte beyond the window (or whatever the small window
    /// allows), answered by an ACK that reports the current window.
    private func sendPersistProbe(now: Instant, send: IPv4Send) -> Bool {
        let room = (sndUna + sndWnd) - sndNxt
        if sndUna < sndNxt {
            // A probe is already outstanding: repeat its first byte.
            guard transmit(from: sndUna, to: TCPSeqNumber.earlier(sndUna + 1, sndMax), now: now, send: send,
                           isProbe: true) else { return false }
        } else if sndNxt < dataEnd {
            let n = max(min(room, segmentPayloadLimit, dataEnd - sndNxt), 1)
            guard transmit(from: sndNxt, to: sndNxt + n, now: now, send: send, isProbe: true) else { return false }
        } else if finQueued && !(finSeq < sndNxt) {
            guard transmit(from: sndNxt, to: sndNxt + 1, now: now, send: send, isProbe: true) else { return false }
        }
        // Keep probing with backoff until the window opens (the ACK clears the timer).
        let base = rtt.retransmissionTimeout.nanosecondsClamped
        let scaled = persistBackoffs >= 20 ? Int64.max : base << Int64(persistBackoffs)
        persistDeadline = now + .nanoseconds(min(max(scaled, rtt.minimumNanoseconds), rtt.maximumNanoseconds))
        rtoDeadline = nil
        return true
    }

    /// Sends the sequence range `[from, to)`: data from the send buffer, plus FIN if the range covers `finSeq`.
    /// Updates SND.NXT/SND.MAX, RTT timing (Karn) and the retransmission timer.
    private func transmit(from: TCPSeqNumber, to: TCPSeqNumber, now: Instant, send: IPv4Send,
                          isProbe: Bool = false) -> Bool {
        let fin = finQueued && !(finSeq < from) && finSeq < to
        let dataLength = max((fin ? finSeq : to) - from, 0)
        var flags: TCPFlags = .ack
        if fin { flags.insert(.fin) }
        if dataLength > 0 && from + dataLength == dataEnd { flags.insert(.psh) }
        let header = makeHeader(seq: from, flags: flags, now: now)
        guard tcpEmit(header, tuple: tuple, send: send, ring: sendBuffer, payloadOffset: from - sndUna,
                      payloadLength: dataLength) else {
            shared.statistics.sendFailures += 1
            outputBlocked = true
            ackNow = true
            return false
        }
        shared.statistics.segmentsSent += 1
        let end = from + dataLength + (fin ? 1 : 0)
        let isRetransmission = from < sndMax
        if isRetransmission {
            retransmissionCount += 1
            shared.statistics.retransmissions += 1
            if let t = timedSeq, from < t { timedSeq = nil }      // Karn's rule
        } else if timedSeq == nil && !timestampsEnabled && dataLength > 0 {
            timedSeq = end
            timedAt = now
        }
        if !(sndNxt < from) && sndNxt < end { sndNxt = end }
        if sndMax < end { sndMax = end }
        if rtoDeadline == nil && !isProbe && persistDeadline == nil { rtoDeadline = now + rtt.retransmissionTimeout }
        lastSent = now
        return true
    }

    /// A header for a segment from this connection: ACK of RCV.NXT, the window to advertise, timestamps and
    /// SACK blocks. Records what was acknowledged (Last.ACK.sent, delayed-ACK state).
    private func makeHeader(seq: TCPSeqNumber, flags: TCPFlags, now: Instant) -> TCPHeader {
        var options = TCPOptions()
        if timestampsEnabled {
            options.timestamp = TCPTimestampOption(value: timestampClock(now), echoReply: tsRecent)
        }
        if sackEnabled && !reassembly.isEmpty {
            options.sackBlocks = reassembly.recentBlocks(maximum: timestampsEnabled ? 3 : 4)
        }
        let header = TCPHeader(sourcePort: tuple.localPort, destinationPort: tuple.remotePort, sequenceNumber: seq,
                               acknowledgmentNumber: rcvNxt, flags: flags, window: advertiseWindow(),
                               options: options)
        if flags.contains(.ack) {
            lastAckSent = rcvNxt
            ackNow = false
            delayedAckDeadline = nil
            segmentsSinceAck = 0
        }
        return header
    }

    /// The window field to send (RFC 9293 §3.8.6.2.2 receiver SWS avoidance; RFC 7323 §2.3 scaling). The right
    /// edge never moves left.
    private func advertiseWindow() -> UInt16 {
        let space = min(receiveSpace, 65535 << Int(rcvShift))
        let current = max(rcvAdvEdge - rcvNxt, 0)
        var window = space
        if space > current && space - current < min(receiveBufferSize / 2, localMSS) {
            window = min(current, space)
        }
        let raw = min(window >> Int(rcvShift), 65535)
        let edge = rcvNxt + (raw << Int(rcvShift))
        if rcvAdvEdge < edge { rcvAdvEdge = edge }
        return UInt16(raw)
    }

    /// A segment without data (an ACK, a keepalive probe).
    private func emitControl(seq: TCPSeqNumber, flags: TCPFlags, now: Instant, send: IPv4Send) -> Bool {
        let header = makeHeader(seq: seq, flags: flags, now: now)
        guard tcpEmit(header, tuple: tuple, send: send) else {
            shared.statistics.sendFailures += 1
            outputBlocked = true
            ackNow = true
            return false
        }
        shared.statistics.segmentsSent += 1
        return true
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
    private func emitSyn(now: Instant, send: IPv4Send) -> Bool {
        let config = shared.configuration
        var options = TCPOptions()
        options.maximumSegmentSize = UInt16(localMSS)
        let isSynAck = state == .synReceived
        var flags: TCPFlags = .syn
        if isSynAck {
            flags.insert(.ack)
            if windowScaling { options.windowScale = rcvShift }
            options.sackPermitted = sackEnabled
            if timestampsEnabled {
                options.timestamp = TCPTimestampOption(value: timestampClock(now), echoReply: tsRecent)
            }
        } else {
            if config.windowScaling { options.windowScale = offeredShift }
            options.sackPermitted = config.selectiveAcknowledgments
            if config.timestamps { options.timestamp = TCPTimestampOption(value: timestampClock(now), echoReply: 0) }
        }
        let window = UInt16(min(receiveSpace, 65535))
        let header = TCPHeader(sourcePort: tuple.localPort, destinationPort: tuple.remotePort, sequenceNumber: iss,
                               acknowledgmentNumber: isSynAck ? rcvNxt : TCPSeqNumber(0), flags: flags,
                               window: window, options: options)
        guard tcpEmit(header, tuple: tuple, send: send) else {
            shared.statistics.sendFailures += 1
            outputBlocked = true
            return false
        }
        shared.statistics.segmentsSent += 1
        if synRetries > 0 { shared.statistics.retransmissions += 1 }
        if isSynAck {
            lastAckSent = rcvNxt
            if rcvAdvEdge < rcvNxt + Int(window) { rcvAdvEdge = rcvNxt + Int(window) }
            ackNow = false
        }
        if synSentAt == nil { synSentAt = now }
        if rtoDeadline == nil { rtoDeadline = now + rtt.retransmissionTimeout }
        lastSent = now
        return true
    }

    // MARK: Diagnostics

    /// Checks the sequence-space and buffer invariants stated at the top of this type; returns a description
    /// of the first one violated, or nil. For tests.
    func invariantViolation() -> String? {
        guard state != .closed && state != .synSent && state != .synReceived else { return nil }
        if sndNxt < sndUna { return "sndNxt \(sndNxt) < sndUna \(sndUna)" }
        if sndMax < sndNxt { return "sndMax \(sndMax) < sndNxt \(sndNxt)" }
        if let buffer = sendBuffer {
            let limit = buffer.count + (finQueued ? 1 : 0)
            if sndMax - sndUna > limit { return "in flight \(sndMax - sndUna) exceeds queued \(limit)" }
        }
        if let ring = receiveBuffer {
            if ring.count > ring.capacity { return "receive ring overfull" }
            for r in reassembly.ranges {
                if !(rcvNxt < r.start) { return "out-of-order range \(r.start) not above rcvNxt \(rcvNxt)" }
                if r.end - rcvNxt > ring.capacity - ring.count { return "out-of-order range beyond the buffer" }
            }
        }
        for r in scoreboard.ranges where r.start < sndUna || sndMax < r.end {
            return "scoreboard range [\(r.start),\(r.end)) outside [\(sndUna),\(sndMax)]"
        }
        if rcvAdvEdge < rcvNxt && peerFinReceived == false { return "advertised edge behind rcvNxt" }
        return nil
    }

    var info: TCPConnectionInfo {
        TCPConnectionInfo(
            state: state, tuple: tuple, sendMSS: sendMSS, windowScaling: windowScaling, sendWindowShift: sndShift,
            receiveWindowShift: rcvShift, timestamps: timestampsEnabled, selectiveAcknowledgments: sackEnabled,
            sendWindow: sndWnd, congestionWindow: cc.congestionWindow, slowStartThreshold: cc.slowStartThreshold,
            congestionControl: cc.name, smoothedRTT: rtt.smoothedRTT.map { .nanoseconds($0) },
            retransmissionTimeout: rtt.retransmissionTimeout, bytesInFlight: max(sndMax - sndUna, 0),
            bytesQueued: sendBuffer?.count ?? 0, bytesReadable: readableBytes, outOfOrderRanges: reassembly.count,
            sackedRanges: scoreboard.count, inFastRecovery: inRecovery, retransmissions: retransmissionCount,
            timeouts: timeoutCount, fastRecoveries: recoveryCount)
    }
}
