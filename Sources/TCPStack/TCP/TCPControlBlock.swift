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

    // MARK: RACK-TLP (RFC 8985), with SACK only
    /// Every range sent and not cumulatively acknowledged, with its send time and loss state (RFC 8985 §5.2).
    private(set) var sentLog = TCPSentLog()
    /// The transmission order (`TCPSentSegment.order`) of the most recently sent segment known delivered: RACK's
    /// (RACK.xmit_ts, RACK.end_seq) pair, as one strict order.
    private var rackOrder: UInt64 = 0
    /// Whether anything has been delivered yet (RACK.xmit_ts is meaningful).
    private var rackValid = false
    /// RACK.rtt: the RTT of that segment, in nanoseconds.
    private var rackRTT: Int64 = 0
    /// RACK.min_RTT: the smallest RTT measured from a segment sent once.
    private var rackMinRTT: Int64 = .max
    /// RACK.fack: the highest sequence number delivered so far (for reordering detection, §6.2 step 3).
    private var rackFack = TCPSeqNumber(0)
    /// RACK.reordering_seen.
    private var rackReorderingSeen = false
    /// RACK.reo_wnd_mult.
    private var rackReorderWindowMultiplier = 1
    /// Some record is marked lost and waits for its retransmission.
    private var lossPending = false
    /// The RACK reordering timer (§6.2 step 5): when the next not-yet-lost segment's time runs out.
    private var rackDeadline: Instant?
    /// The probe timeout (PTO, §7.2).
    private var probeDeadline: Instant?
    /// The PTO expired: the next `output` sends a loss probe (§7.3).
    private var probeDue = false
    /// Re-evaluate the PTO at the end of the next `output` (new data went out, or SND.UNA advanced).
    private var probeRearm = false
    /// TLP.end_seq: SND.MAX when the current loss probe was sent; nil when no probe episode is open (§7.4).
    private var tlpEndSeq: TCPSeqNumber?
    /// TLP.is_retrans, and the start of the retransmitted range.
    private var tlpRetransmitted = false
    private var tlpStart = TCPSeqNumber(0)
    /// A D-SACK (RFC 2883) reported the probe's range: the probe was not needed.
    private var tlpDuplicateReported = false

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
    private(set) var probeCount = 0
    private(set) var rackLossCount = 0

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
        tcb.rtoDeadline = now.adding(nanoseconds: tcb.rtt.rtoNanoseconds)
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
        tcb.rtoDeadline = now.adding(nanoseconds: tcb.rtt.rtoNanoseconds)
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
        consider(rackDeadline)
        consider(probeDeadline)
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
        rackDeadline = nil
        probeDeadline = nil
        probeDue = false
        sentLog.releaseStorage()
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
        if sackEnabled && shared.configuration.rackTLP && !sentLog.isActive {
            // Enough records for a send buffer of full segments, twice over (short segments merge when full).
            sentLog.reserve(min(2 * sendBufferSize / max(sendMSS, 64) + 8, 4096))
        }
        rackFack = sndUna
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
        rackDeadline = nil
        probeDeadline = nil
        probeDue = false
        sentLog.releaseStorage()
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
            rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds)
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

    /// TS.Recent is invalid after this long without a segment (RFC 7323 §5.5: 24 days).
    private static let pawsIdleLimitNanoseconds: Int64 = 24 * 24 * 3600 * 1_000_000_000

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
                let recentValid = now.nanoseconds(since: tsRecentTime) < Self.pawsIdleLimitNanoseconds
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
            if segmentsSinceAck >= shared.configuration.ackEverySegments || shared.delayedAckNanoseconds <= 0 {
                ackNow = true
            } else if delayedAckDeadline == nil {
                delayedAckDeadline = now.adding(nanoseconds: shared.delayedAckNanoseconds)
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
        let advanced = sndUna < ack
        if advanced {
            var acked = ack - sndUna
            let flightBefore = sndMax - sndUna
            var finNowAcked = false
            if finQueued && finSeq < ack {
                finNowAcked = true
                acked -= 1
            }
            sendBuffer?.discard(acked)
            if sentLog.isActive {
                let holeStart = sndUna
                sentLog.removeBelow(ack) { r in
                    if r.start == holeStart { detectSpuriousRetransmission(r, seg) }
                    rackDelivered(r, seg, now: now)
                }
            }
            sndUna = ack
            if sndNxt < sndUna { sndNxt = sndUna }
            if highRxt < sndUna { highRxt = sndUna }
            if finNowAcked { finAcked = true }
            // RTT measurement: timestamps (RFC 7323 §4.2) or the one timed segment (RFC 6298 §3, Karn).
            var sampleNanoseconds: Int64 = -1
            if timestampsEnabled, let ts = seg.options.timestamp {
                let ms = Int32(bitPattern: timestampClock(now) &- ts.echoReply)
                if ms >= 0 && ms < 600_000 { sampleNanoseconds = Int64(ms) * 1_000_000 }
            } else if let t = timedSeq, !(ack < t) {
                sampleNanoseconds = now.nanoseconds(since: timedAt)
                timedSeq = nil
            }
            if sampleNanoseconds >= 0 { rtt.addSample(nanoseconds: sampleNanoseconds) }
            let sample: Duration? = sampleNanoseconds >= 0 ? .nanoseconds(sampleNanoseconds) : nil
            consecutiveTimeouts = 0
            probesUnanswered = 0
            scoreboard.removeBelow(sndUna)
            newSackInfo = absorbSackBlocks(seg)
            if newSackInfo { recordSackedSegments(seg, now: now) }
            probeRearm = true
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
                rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds)    // RFC 6298 §5.3
            }
            if acked > 0 { readinessChanged = true }
        } else {
            probesUnanswered = 0
            newSackInfo = absorbSackBlocks(seg)
            if newSackInfo { recordSackedSegments(seg, now: now) }
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
                if sndUna < sndMax && rtoDeadline == nil { rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds) }
            }
        }
        if sentLog.isActive { afterAckLossDetection(seg, advanced: advanced, newSackInfo: newSackInfo, now: now) }
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
        // Once the path is known to reorder, RACK alone decides what is lost (RFC 8985 §6.2): counting
        // duplicate ACKs would call reordered segments lost.
        if sentLog.isActive && rackReorderingSeen { return }
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
        enterFastRecovery(now: now)
    }

    /// Fast retransmit and the start of fast recovery (RFC 5681 §3.2, RFC 6582 §3.2 step 2, RFC 6675 §5 step 4).
    private func enterFastRecovery(now: Instant) {
        inRecovery = true
        recoveryCount += 1
        recoverSeq = sndMax
        cc.onFastRecoveryEntered(flightSize: sndMax - sndUna, now: now)
        retransmitHead = true
        highRxt = sndUna
        inflation = sackEnabled ? 0 : 3 * sendMSS
        probeDeadline = nil         // no loss probes during recovery (RFC 8985 §7.2)
        probeDue = false
    }

    /// RFC 6675 §4 SetPipe: octets not SACKed and not lost, plus octets retransmitted. With the sent-segment log
    /// (RACK), each record holds the state of its latest transmission: it is in the pipe unless SACKed or
    /// declared lost (a retransmitted record counts once, for the retransmission).
    private func pipe() -> Int {
        if sentLog.isActive {
            var total = 0
            for i in 0..<sentLog.count {
                let r = sentLog[i]
                if !r.sacked && !r.lost { total += r.length }
            }
            return total
        }
        let unsacked = (sndMax - sndUna) - scoreboard.coveredBytes(from: sndUna, to: sndMax)
        let edge = TCPSeqNumber.earlier(lostEdge(), sndMax)
        var lost = 0
        if sndUna < edge { lost = (edge - sndUna) - scoreboard.coveredBytes(from: sndUna, to: edge) }
        var retransmitted = 0
        let rx = TCPSeqNumber.earlier(highRxt, sndMax)
        if sndUna < rx { retransmitted = (rx - sndUna) - scoreboard.coveredBytes(from: sndUna, to: rx) }
        return max(unsacked - lost + retransmitted, 0)
    }

    // MARK: RACK-TLP (RFC 8985)

    /// RFC 8985 §6.2 step 2 and 3, for one segment just delivered (cumulatively acknowledged or fully SACKed).
    private func rackDelivered(_ r: TCPSentSegment, _ seg: TCPIncoming, now: Instant) {
        let rttNanoseconds = now.nanoseconds(since: r.sentAt)
        if r.retransmitted {
            // The ACK may be for the original transmission: then it says nothing about the retransmission's
            // time. With timestamps, TSecr tells which copy was acknowledged; otherwise an RTT below the
            // minimum betrays the original.
            if timestampsEnabled, let ts = seg.options.timestamp,
               Self.tsBefore(ts.echoReply, timestampClock(r.sentAt)) { return }
            if rttNanoseconds < rackMinRTT { return }
        } else if rttNanoseconds < rackMinRTT {
            rackMinRTT = rttNanoseconds
        }
        rackRTT = rttNanoseconds
        if !rackValid || rackOrder < r.order {
            rackOrder = r.order
            rackValid = true
        }
        if r.end < rackFack {
            if !r.retransmitted { rackReorderingSeen = true }
        } else {
            rackFack = r.end
        }
    }

    /// Eifel detection (RFC 3522 §3.2) for RACK's reordering window: when the segment that advanced SND.UNA was
    /// retransmitted but the ACK echoes a timestamp older than the retransmission, the original arrived after
    /// all: the network reorders by more than the window, which grows by a quarter of the minimum RTT (RFC 8985
    /// §6.2 step 4 grows it on D-SACKs the same way).
    private func detectSpuriousRetransmission(_ r: TCPSentSegment, _ seg: TCPIncoming) {
        guard r.retransmitted, timestampsEnabled, let ts = seg.options.timestamp,
              Self.tsBefore(ts.echoReply, timestampClock(r.sentAt)) else { return }
        rackReorderingSeen = true
        if rackReorderWindowMultiplier < 16 { rackReorderWindowMultiplier += 1 }
        shared.statistics.spuriousRetransmissions += 1
    }

    /// Marks the records the scoreboard now covers entirely as SACKed (they are delivered, for RACK).
    private func recordSackedSegments(_ seg: TCPIncoming, now: Instant) {
        let blocks = seg.options.sackBlocks
        for b in 0..<blocks.count {
            let block = blocks[b]
            guard block.start < block.end, sndUna < block.end else { continue }
            var i = sentLog.index(atOrAfter: TCPSeqNumber.later(block.start, sndUna))
            while i < sentLog.count {
                let r = sentLog[i]
                if !(r.start < block.end) { break }
                if !r.sacked, let covering = scoreboard.range(containing: r.start), !(covering.end < r.end) {
                    sentLog[i].sacked = true
                    sentLog[i].lost = false
                    rackDelivered(r, seg, now: now)
                }
                i += 1
            }
        }
    }

    /// RFC 8985 §6.2 step 4: how long past RACK.rtt a segment sent before the latest delivered one may still be
    /// merely reordered. Zero during recovery (or with DupThresh segments SACKed) until reordering has been seen;
    /// otherwise a quarter of the minimum RTT, at most the smoothed RTT.
    private func rackReorderWindow() -> Int64 {
        if !rackReorderingSeen {
            if inRecovery { return 0 }
            if scoreboard.coveredBytes(from: sndUna, to: sndMax) >= 3 * sendMSS { return 0 }
        }
        guard rackMinRTT != .max else { return 0 }
        var window = Int64(rackReorderWindowMultiplier) * (rackMinRTT / 4)
        if let srtt = rtt.smoothedRTT, srtt < window { window = srtt }
        // At least the timestamp granularity (1 ms): RTTs are known no more precisely than that.
        return max(window, TCPRTTEstimator.granularity)
    }

    /// RFC 8985 §6.2 step 5: marks lost every segment sent before the latest delivered one whose time (RACK.rtt
    /// plus the reordering window) has run out; arms the reordering timer for the first one whose time has not.
    /// Returns the number of segments newly marked lost.
    @discardableResult
    private func rackDetectLoss(now: Instant) -> Int {
        rackDeadline = nil
        guard rackValid else { return 0 }
        let reorderWindow = rackReorderWindow()
        var wait: Int64 = 0
        var marked = 0
        for i in 0..<sentLog.count {
            let r = sentLog[i]
            if r.sacked || r.lost { continue }
            if !(r.order < rackOrder) {
                // Records are in sequence order and, except for retransmissions, in sending order too: after a
                // segment sent once and later than RACK.xmit_ts, only retransmissions can be earlier.
                if r.retransmitted { continue }
                break
            }
            let remaining = Int64(clamping: r.sentAt.nanoseconds) &+ rackRTT &+ reorderWindow
                &- Int64(clamping: now.nanoseconds)
            if remaining <= 0 {
                sentLog[i].lost = true
                marked += 1
            } else if remaining > wait {
                wait = remaining
            }
        }
        if wait > 0 { rackDeadline = now.adding(nanoseconds: wait) }
        if marked > 0 {
            lossPending = true
            rackLossCount += marked
            shared.statistics.rackLosses += marked
        }
        return marked
    }

    /// The RFC 6675 §4 IsLost rule on the log: segments sent once, not SACKed, below the DupThresh edge.
    private func markDupThreshLosses() {
        guard !scoreboard.isEmpty, !rackReorderingSeen else { return }
        let edge = lostEdge()
        for i in 0..<sentLog.count {
            let r = sentLog[i]
            if edge < r.end { break }
            if !r.sacked && !r.retransmitted && !r.lost {
                sentLog[i].lost = true
                lossPending = true
            }
        }
    }

    /// Loss detection after an ACK (RACK-TLP with SACK): the DupThresh rule, RACK's time rule, the end of a
    /// tail-loss-probe episode, and entry into fast recovery when something is lost.
    private func afterAckLossDetection(_ seg: TCPIncoming, advanced: Bool, newSackInfo: Bool, now: Instant) {
        if newSackInfo { markDupThreshLosses() }
        if !scoreboard.isEmpty { probeDeadline = nil }   // SACKed data: RACK has what it needs (RFC 8985 §7.2)
        if rackValid && !sentLog.isEmpty { rackDetectLoss(now: now) }
        if sentLog.isEmpty { rackDeadline = nil }
        processProbeAck(seg, advanced: advanced, newSackInfo: newSackInfo, now: now)
        if lossPending && !inRecovery && state.isSynchronized && !(sndUna < recoverSeq) {
            enterFastRecovery(now: now)
        }
    }

    /// RFC 8985 §7.4: whether the loss probe repaired a loss. A probe of new data needs nothing; a retransmitted
    /// probe that a D-SACK (RFC 2883) reports as duplicate, or that is answered by a pure duplicate ACK, repaired
    /// nothing; an ACK beyond the probe without either means the probe filled a hole, which calls for the
    /// congestion response of a fast recovery.
    private func processProbeAck(_ seg: TCPIncoming, advanced: Bool, newSackInfo: Bool, now: Instant) {
        guard let end = tlpEndSeq else { return }
        if tlpRetransmitted, seg.options.sackBlocks.count > 0 {
            // A D-SACK is a first block below the cumulative ACK, or inside the second block (RFC 2883 §4).
            let first = seg.options.sackBlocks[0]
            var duplicate = !(seg.ack < first.end)
            if !duplicate && seg.options.sackBlocks.count > 1 {
                let second = seg.options.sackBlocks[1]
                duplicate = !(first.start < second.start) && !(second.end < first.end)
            }
            if duplicate && first.start < end && tlpStart < first.end { tlpDuplicateReported = true }
        }
        guard !(seg.ack < end) else { return }
        if !tlpRetransmitted || tlpDuplicateReported {
            tlpEndSeq = nil
        } else if end < seg.ack {
            tlpEndSeq = nil
            if !inRecovery {
                cc.onFastRecoveryEntered(flightSize: sndMax - sndUna, now: now)
                cc.onFastRecoveryExited(flightSize: sndMax - sndUna, now: now)
            }
        } else if !advanced && !newSackInfo {
            tlpEndSeq = nil
        }
    }

    /// RFC 8985 §7.2: (re)arms the probe timeout after new data was sent or SND.UNA advanced, if a probe could
    /// help: SACK in use, data outstanding, not in recovery, no SACKed data (loss detection has what it needs),
    /// no probe episode open, and the RTO not due first. PTO = 2·SRTT (plus the worst-case delayed ACK, 200 ms,
    /// when a single segment is outstanding), at least 10 ms; 1 s before any RTT sample.
    private func armProbeTimer(now: Instant) {
        probeDeadline = nil
        guard sentLog.isActive, !inRecovery, tlpEndSeq == nil, sndUna < sndMax, scoreboard.isEmpty,
              persistDeadline == nil, sndWnd > 0 else { return }
        switch state {
        case .established, .closeWait, .finWait1, .closing, .lastAck: break
        default: return
        }
        var timeout: Int64 = 1_000_000_000
        if let srtt = rtt.smoothedRTT {
            timeout = 2 * srtt
            if sndMax - sndUna <= sendMSS { timeout += 200_000_000 }
            timeout = max(timeout, 10_000_000)
        }
        var deadline = now.adding(nanoseconds: timeout)
        // A probe due after the RTO takes the RTO's place (§7.2): one segment is resent and the RTO restarted,
        // without collapsing the window; the RTO proper follows if the probe is not answered either.
        if let rto = rtoDeadline, rto < deadline { deadline = rto }
        probeDeadline = deadline
    }

    /// RFC 8985 §7.3: sends the loss probe: one segment of new data if there is some and the peer's window takes
    /// it, otherwise a retransmission of the highest segment sent. Then the RTO is restarted.
    private func sendTailLossProbe(now: Instant, send: IPv4Send) -> Bool {
        guard sndUna < sndMax else { return true }
        let room = (sndUna + sndWnd) - sndNxt
        let limit = segmentPayloadLimit
        let sentBefore = sndMax
        var from = sndNxt
        var to = sndNxt
        if sndNxt == sndMax && sndNxt < dataEnd && room > 0 {
            to = sndNxt + min(limit, dataEnd - sndNxt, room)
            if finQueued && to == finSeq { to = finSeq + 1 }
        } else {
            // The last segment sent: the last record, at most one segment's worth (plus the FIN).
            let finAtEnd = finQueued && finSeq + 1 == sndMax
            var start = sentLog.last.map { TCPSeqNumber.later($0.start, sndUna) } ?? sndUna
            let payloadStart = sndMax - limit - (finAtEnd ? 1 : 0)
            if start < payloadStart { start = payloadStart }
            if start < sndUna { start = sndUna }
            from = start
            to = sndMax
        }
        guard from < to else { return true }
        guard transmit(from: from, to: to, now: now, send: send) else { return false }
        tlpEndSeq = sndMax
        tlpRetransmitted = from < sentBefore
        tlpStart = from
        tlpDuplicateReported = false
        rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds)
        probeCount += 1
        shared.statistics.tailLossProbes += 1
        return true
    }

    /// The first range marked lost and not yet retransmitted: its first unSACKed byte up to one segment, never
    /// past the record.
    private func nextLostRange() -> (TCPSeqNumber, TCPSeqNumber)? {
        for i in 0..<sentLog.count {
            let r = sentLog[i]
            guard r.lost && !r.sacked else { continue }
            guard let from = scoreboard.firstUncovered(from: TCPSeqNumber.later(r.start, sndUna), before: r.end) else {
                continue
            }
            let end = TCPSeqNumber.earlier(segmentEnd(from: from), r.end)
            if from < end { return (from, end) }
        }
        lossPending = false
        return nil
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
        if let d = probeDeadline, d <= now {
            probeDeadline = nil
            if !inRecovery && sndUna < sndMax && tlpEndSeq == nil {
                probeDue = true
                if let rto = rtoDeadline, rto <= now {
                    rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds)     // the probe goes first
                }
            }
        }
        if let d = rtoDeadline, d <= now {
            rtoDeadline = nil
            probeDue = false
            retransmissionTimeout(now: now)
            if state == .closed { return }
        }
        if let d = rackDeadline, d <= now {
            // RFC 8985 §6.3: the reordering window of a segment ran out.
            rackDeadline = nil
            if rackDetectLoss(now: now) > 0 && !inRecovery && !(sndUna < recoverSeq) { enterFastRecovery(now: now) }
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
            rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds)
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
            for i in 0..<sentLog.count {
                sentLog[i].sacked = false
                sentLog[i].lost = false
            }
            lossPending = false
            rackDeadline = nil
            probeDeadline = nil
            probeDue = false
            tlpEndSeq = nil
            shared.statistics.retransmissionTimeouts += 1
            sndNxt = sndUna                 // go back: resend from the first unacknowledged byte
            highRxt = sndUna
            timedSeq = nil
            rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds)
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
        if probeDue {
            guard sendTailLossProbe(now: now, send: send) else { return }
            probeDue = false
            sentAny = true
        }
        if (inRecovery && sackEnabled) || lossPending {
            guard sendInSackRecovery(now: now, send: send, sentAny: &sentAny) else { return }
        } else {
            guard sendNewData(now: now, send: send, budget: nil, sentAny: &sentAny) else { return }
        }
        if probeRearm {
            probeRearm = false
            armProbeTimer(now: now)
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

    /// Whether reading freed enough space that the peer should hear about it at once, in a segment of its own.
    ///
    /// While data flows, every ACK already carries the current window, so a separate update is sent only when the
    /// window the peer knows has fallen to half the buffer or less and the window now available is at least twice
    /// that (the peer may be about to stall), and the increase is worth announcing (RFC 9293 §3.8.6.2.2 receiver
    /// SWS avoidance: at least min(buffer/2, MSS)). A window that was zero or below one MSS and can now take a
    /// full segment always qualifies.
    private func windowUpdateDue() -> Bool {
        switch state {
        case .established, .finWait1, .finWait2: break
        default: return false
        }
        let advertised = max(rcvAdvEdge - rcvNxt, 0)
        let limit = 65535 << Int(rcvShift)
        let space = min(receiveSpace, limit)
        guard space > advertised else { return false }
        if advertised < localMSS && space >= localMSS { return true }
        let capacity = min(receiveBufferSize, limit)
        return 2 * advertised <= capacity && space >= 2 * advertised
            && space - advertised >= min(receiveBufferSize / 2, localMSS)
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
            // Rule 1: the first lost, not yet retransmitted hole. With the log, "lost" is what RACK or DupThresh
            // marked, which includes lost retransmissions (RFC 8985 §6.2).
            if sentLog.isActive {
                if let (hole, end) = nextLostRange() {
                    guard transmit(from: hole, to: end, now: now, send: send) else { return false }
                    if highRxt < end { highRxt = end }
                    inPipe += end - hole
                    sentAny = true
                    continue
                }
            } else if let hole = scoreboard.firstUncovered(from: from, before: edge) {
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
            if sentLog.isActive {
                if let top = scoreboard.highest, let hole = firstUnsackedOriginal(before: top) {
                    let end = segmentEnd(from: hole)
                    guard transmit(from: hole, to: end, now: now, send: send) else { return false }
                    if highRxt < end { highRxt = end }
                    inPipe += end - hole
                    sentAny = true
                    continue
                }
            } else if let top = scoreboard.highest,
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

    /// RFC 6675 NextSeg rule 3 on the log: the first byte below `top` of a record sent once, neither SACKed nor
    /// lost.
    private func firstUnsackedOriginal(before top: TCPSeqNumber) -> TCPSeqNumber? {
        for i in 0..<sentLog.count {
            let r = sentLog[i]
            if !(r.start < top) { return nil }
            guard !r.sacked && !r.lost && !r.retransmitted else { continue }
            if let hole = scoreboard.firstUncovered(from: TCPSeqNumber.later(r.start, sndUna),
                                                    before: TCPSeqNumber.earlier(r.end, top)) { return hole }
        }
        return nil
    }

    /// Sends data from SND.NXT (new data, or data being resent after a timeout) within the receive window and
    /// the congestion window (or `budget`), applying Nagle (RFC 9293 §3.7.4) and sender SWS avoidance
    /// (§3.8.6.2.1), and the FIN once all data is out. Returns false if the IPv4 layer refused a segment.
    private func sendNewData(now: Instant, send: IPv4Send, budget: Int?, singleSegment: Bool = false,
                             sentAny: inout Bool) -> Bool {
        // Restart after idle (RFC 5681 §4.1).
        if sndUna == sndMax && sndNxt < dataEnd && budget == nil
            && now.nanoseconds(since: lastSent) > rtt.rtoNanoseconds {
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
            // Never let the congestion window's sub-segment remainder produce a runt: cwnd counts Eff.snd.MSS bytes
            // while a segment with options carries fewer, so after a timeout (cwnd = one MSS) the remainder of
            // one segment would otherwise go out as a 12-byte segment of its own. Wait for the ACK instead.
            let wanted = min(length, receiverRoom)
            if congestionRoom < wanted && congestionRoom < limit && flightSize > 0 { break }
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
        if sentLog.isActive {
            if isRetransmission {
                sentLog.markRetransmitted(from: from, to: TCPSeqNumber.earlier(end, sndMax), at: now)
                if sndMax < end { sentLog.append(start: sndMax, end: end, at: now) }
            } else {
                sentLog.append(start: from, end: end, at: now)
                probeRearm = true
            }
        }
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
        if rtoDeadline == nil && !isProbe && persistDeadline == nil { rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds) }
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
        if rtoDeadline == nil { rtoDeadline = now.adding(nanoseconds: rtt.rtoNanoseconds) }
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
            timeouts: timeoutCount, fastRecoveries: recoveryCount, tailLossProbes: probeCount,
            rackLosses: rackLossCount)
    }
}
