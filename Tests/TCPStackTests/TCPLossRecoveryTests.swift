import Interfaces
import Testing
@testable import TCPStack

/// RACK-TLP (RFC 8985) driven segment by segment with the manual clock: losses that RFC 6675 alone leaves to the
/// retransmission timer (a lost retransmission, a lost tail) are repaired within a few RTTs, and real timeouts
/// still back off.
@Suite("TCP loss recovery without timeouts (RACK-TLP)")
struct TCPLossRecoveryTests {
    /// A passive connection with SACK (MSS 1000, no timestamps, Nagle off) that has measured an RTT (the
    /// handshake's, 0, and 10 ms for `warmUp` bytes: SRTT is then about 1.3 ms, so the probe timeout is at its
    /// 10 ms floor): returns the harness, the connection, the peer cursor and the fixed-window controller.
    static func connection(window: Int? = nil, warmUp: Int = 1000) throws
        -> (EngineHarness, TCPConnectionHandle, PeerCursor, FixedWindowControl?) {
        let h = EngineHarness()
        var syn = EngineHarness.plainSynOptions(mss: 1000)
        syn.sackPermitted = true
        let control = window.map { FixedWindowControl(window: $0) }
        var options = TCPConnectionOptions(noDelay: true)
        if let control { options.congestionControl = TCPCongestionControlFactory { _ in control } }
        var (_, c, peer) = try h.establishPassive(synOptions: syn, listenOptions: options)
        _ = try h.engine.send(c, patternBytes(count: warmUp, seed: 9))
        h.poll()
        #expect(h.take().count == (warmUp + 999) / 1000)
        h.clock.advance(by: .milliseconds(10))
        peer.ack += warmUp
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack))
        #expect(try h.engine.info(of: c).smoothedRTT != nil)
        return (h, c, peer, control)
    }

    /// An ACK from the peer with SACK blocks given as byte offsets from `base` (most recent first).
    static func ack(_ h: EngineHarness, _ peer: PeerCursor, _ ack: TCPSeqNumber, base: TCPSeqNumber,
                    sack: [(Int, Int)] = []) {
        var o = TCPOptions()
        for (s, e) in sack { o.sackBlocks.append(TCPSackBlock(start: base + s, end: base + e)) }
        h.inject(h.header(.ack, seq: peer.seq, ack: ack, options: o))
    }

    @Test("a lost tail is repaired by a loss probe and RACK within a few RTTs, not by the 1 s RTO")
    func lostTail() throws {
        let (h, c, peer, _) = try Self.connection()
        let base = peer.ack
        // Four segments; the last two are lost. The peer acknowledges the first two 10 ms later.
        _ = try h.engine.send(c, patternBytes(count: 4000, seed: 1))
        h.poll()
        #expect(h.take().map { $0.seq - base } == [0, 1000, 2000, 3000])
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 2000, base: base)
        #expect(h.take().isEmpty)
        // Nothing more arrives. The probe timeout (max(2·SRTT, 10 ms)) expires long before the RTO (1 s): the
        // probe resends the last segment.
        h.runTimers(for: .milliseconds(25))
        let probe = h.take()
        #expect(probe.map { $0.seq - base } == [3000])
        #expect(probe.first?.payload.count == 1000)
        // The probe arrives and is SACKed 10 ms later: RACK sees that segment 2000, sent before it, has had more
        // than an RTT to arrive and resends it at once.
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 2000, base: base, sack: [(3000, 4000)])
        #expect(h.take().map { $0.seq - base } == [2000])
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 4000, base: base)
        let info = try h.engine.info(of: c)
        #expect(info.timeouts == 0)
        #expect(info.tailLossProbes == 1)
        #expect(info.retransmissions == 2)
        #expect(info.bytesInFlight == 0)
        #expect(h.engine.statistics.tailLossProbes == 1)
        // Everything is acknowledged: no timer is left to fire.
        h.runTimers(for: .seconds(2))
        #expect(h.take().isEmpty)
        #expect(try h.engine.info(of: c).timeouts == 0)
    }

    @Test("a single lost last segment: the probe alone repairs it (PTO includes the delayed-ACK allowance)")
    func lostLastSegmentOnly() throws {
        let (h, c, peer, _) = try Self.connection()
        let base = peer.ack
        _ = try h.engine.send(c, patternBytes(count: 1000, seed: 2))
        h.poll()
        #expect(h.take().count == 1)
        // One segment outstanding: PTO = 2·SRTT + 200 ms (RFC 8985 §7.2), still well below the RTO.
        h.runTimers(for: .milliseconds(150))
        #expect(h.take().isEmpty)
        h.runTimers(for: .milliseconds(100))
        #expect(h.take().map { $0.seq - base } == [0])
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 1000, base: base)
        let info = try h.engine.info(of: c)
        #expect(info.timeouts == 0 && info.tailLossProbes == 1 && info.bytesInFlight == 0)
    }

    @Test("a lost fast retransmission is detected by RACK and sent again after one RTT, not after the RTO")
    func lostRetransmission() throws {
        let (h, c, peer, control) = try Self.connection(window: 20_000)
        let base = peer.ack
        // Ten segments at t0. Segment 1000 is lost.
        _ = try h.engine.send(c, patternBytes(count: 10_000, seed: 3))
        h.poll()
        #expect(h.take().count == 10)
        // t0 + 10 ms: the peer acknowledges segment 0 and SACKs 2000..5000: three segments above the hole
        // (DupThresh) start fast recovery and the fast retransmission of 1000.
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 1000, base: base, sack: [(2000, 3000)])
        Self.ack(h, peer, base + 1000, base: base, sack: [(2000, 4000)])
        Self.ack(h, peer, base + 1000, base: base, sack: [(2000, 5000)])
        #expect(h.take().map { $0.seq - base } == [1000])
        #expect(control?.log.contains { $0.hasPrefix("enter") } == true)
        // The application queues two more segments; they follow the retransmission (RFC 6675 NextSeg rule 2).
        _ = try h.engine.send(c, patternBytes(count: 2000, seed: 4))
        h.poll()
        #expect(h.take().map { $0.seq - base } == [10_000, 11_000])
        // The retransmission is lost too. t0 + 20 ms: SACKs for the rest, including the two segments sent after
        // the retransmission. RFC 6675 would wait for the RTO (1 s); RACK knows the retransmission should have
        // arrived before them and sends it again now.
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 1000, base: base, sack: [(2000, 10_000)])
        #expect(h.take().isEmpty)                      // segments sent before the retransmission: not evidence
        Self.ack(h, peer, base + 1000, base: base, sack: [(2000, 12_000)])
        #expect(h.take().map { $0.seq - base } == [1000])
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base + 12_000, base: base)
        let info = try h.engine.info(of: c)
        #expect(info.timeouts == 0)
        #expect(info.fastRecoveries == 1)
        #expect(info.rackLosses >= 1)
        #expect(info.retransmissions == 2)
        #expect(info.bytesInFlight == 0 && !info.inFastRecovery)
    }

    @Test("reordering is not loss: a segment overtaken by less than the reordering window is not resent")
    func reorderingWithinWindow() throws {
        let (h, c, peer, _) = try Self.connection(window: 20_000, warmUp: 1000)
        let base = peer.ack
        _ = try h.engine.send(c, patternBytes(count: 3000, seed: 5))
        h.poll()
        #expect(h.take().count == 3)
        // Segment 0 is delayed; 1000..3000 arrive first (two segments: below DupThresh).
        h.clock.advance(by: .milliseconds(10))
        Self.ack(h, peer, base, base: base, sack: [(1000, 2000)])
        Self.ack(h, peer, base, base: base, sack: [(1000, 3000)])
        #expect(h.take().isEmpty)
        // It arrives within the reordering window (min RTT / 4 = 2.5 ms).
        h.clock.advance(by: .milliseconds(1))
        h.poll()
        #expect(h.take().isEmpty)
        Self.ack(h, peer, base + 3000, base: base)
        h.runTimers(for: .seconds(2))
        #expect(h.take().isEmpty)
        let info = try h.engine.info(of: c)
        #expect(info.retransmissions == 0 && info.rackLosses == 0 && info.fastRecoveries == 0)
    }

    @Test("a real timeout still backs off (RFC 6298 §5.5) and resends from SND.UNA without runt segments")
    func timeoutWithoutRunts() throws {
        // Timestamps on: each segment carries 12 option bytes, so a full segment holds 988 payload bytes while
        // the congestion window counts in MSS (1000). The loss window after a timeout is one MSS: its
        // 12-byte remainder must not leave as a segment of its own.
        let h = EngineHarness()
        var syn = EngineHarness.plainSynOptions(mss: 1000)
        syn.sackPermitted = true
        syn.timestamp = TCPTimestampOption(value: 100, echoReply: 0)
        let (_, c, peer) = try h.establishPassive(synOptions: syn,
                                                 listenOptions: TCPConnectionOptions(noDelay: true))
        let base = peer.ack
        _ = try h.engine.send(c, patternBytes(count: 3000, seed: 6))
        h.poll()
        #expect(h.take().map(\.payload.count) == [988, 988, 988, 36])
        // Everything is lost; nothing answers. The probe goes first, then the RTO (1 s initial), then the RTO
        // again after doubling.
        h.runTimers(for: .milliseconds(1100))
        let afterFirst = h.take()
        #expect(afterFirst.count == 2)                           // the loss probe, then the timeout's resend
        #expect(afterFirst.last?.seq == base)
        #expect(afterFirst.allSatisfy { $0.payload.count >= 36 })
        #expect(try h.engine.info(of: c).timeouts == 1)
        h.runTimers(for: .milliseconds(1500))
        #expect(h.take().isEmpty)                                // backed off: the next expiry is 2 s after
        h.runTimers(for: .milliseconds(600))
        let second = h.take()
        #expect(second.map { $0.seq - base } == [0])
        #expect(second.first?.payload.count == 988)
        #expect(try h.engine.info(of: c).timeouts == 2)
    }
}

@Suite("TCP sent-segment log (RACK's per-segment state)")
struct TCPSentLogTests {
    static func at(_ ms: UInt64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }

    @Test("records stay contiguous through appends, partial acknowledgments, splits and retransmissions")
    func contiguity() {
        var log = TCPSentLog()
        log.reserve(16)
        let s = TCPSeqNumber(4_294_967_000)           // wraps around 2^32 on the way
        for i in 0..<6 { log.append(start: s + 100 * i, end: s + 100 * (i + 1), at: Self.at(UInt64(i))) }
        #expect(log.count == 6)
        var delivered: [Int] = []
        log.removeBelow(s + 150) { delivered.append($0.start - s) }
        #expect(delivered == [0])
        #expect(log[0].start == s + 150 && log[0].end == s + 200)       // trimmed, not removed
        // A retransmission of [250, 420) splits the records at both ends and marks only what it covers.
        log.markRetransmitted(from: s + 250, to: s + 420, at: Self.at(50))
        var edges: [Int] = []
        for i in 0..<log.count {
            edges.append(log[i].start - s)
            if i > 0 { #expect(log[i - 1].end == log[i].start) }
            let covered = !(log[i].start < s + 250) && !(s + 420 < log[i].end)
            #expect(log[i].retransmitted == covered)
            #expect(log[i].sentAt == (covered ? Self.at(50) : log[i].sentAt))
        }
        #expect(edges == [150, 200, 250, 300, 400, 420, 500])
        #expect(log.last?.end == s + 600)
        // Orders are strictly increasing per transmission; the retransmission is the latest.
        #expect(log[2].order == log[4].order && log[2].order > log[6].order)
        log.removeBelow(s + 600) { _ in }
        #expect(log.isEmpty)
    }

    @Test("bounded: a full log merges new transmissions into its last record and never grows")
    func bounded() {
        var log = TCPSentLog()
        log.reserve(8)
        let s = TCPSeqNumber(1000)
        for i in 0..<20 { log.append(start: s + 10 * i, end: s + 10 * (i + 1), at: Self.at(UInt64(i))) }
        #expect(log.count == 8)
        #expect(log.last?.start == s + 70 && log.last?.end == s + 200)
        #expect(log.last?.sentAt == Self.at(19))
        // Acknowledging the front makes room again.
        log.removeBelow(s + 30) { _ in }
        log.append(start: s + 200, end: s + 210, at: Self.at(30))
        #expect(log.count == 6)
        #expect(log.last?.start == s + 200)
    }
}
