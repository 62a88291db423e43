import Interfaces
import Testing
@testable import TCPStack

/// The peer's side of a hand-driven connection: its next sequence number and what it has received.
struct PeerCursor {
    var seq: TCPSeqNumber      // peer's SND.NXT
    var ack: TCPSeqNumber      // peer's RCV.NXT (what it acknowledges)
}

extension EngineHarness {
    /// SYN options of a minimal peer: MSS only (no window scale, SACK or timestamps) unless given.
    static func plainSynOptions(mss: UInt16 = 1460) -> TCPOptions {
        var o = TCPOptions()
        o.maximumSegmentSize = mss
        return o
    }

    /// Runs a passive open on port 80 and accepts it. Returns the connection and the peer cursor.
    func establishPassive(peerISS: UInt32 = 5000, synOptions: TCPOptions = EngineHarness.plainSynOptions(),
                          listenOptions: TCPConnectionOptions = TCPConnectionOptions(),
                          window: UInt16 = 65535,
                          existing: TCPListenerHandle? = nil) throws -> (TCPListenerHandle, TCPConnectionHandle, PeerCursor) {
        let listener = try existing ?? engine.listen(port: 80, backlog: 8, options: listenOptions)
        inject(header(.syn, seq: TCPSeqNumber(peerISS), window: window, options: synOptions))
        let synAck = try #require(take().first)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.ack == TCPSeqNumber(peerISS) + 1)
        var cursor = PeerCursor(seq: TCPSeqNumber(peerISS) + 1, ack: synAck.seq + 1)
        var ackOptions = TCPOptions()
        if let ts = synAck.header.options.timestamp {
            ackOptions.timestamp = TCPTimestampOption(value: (synOptions.timestamp?.value ?? 0) &+ 1,
                                                      echoReply: ts.value)
        }
        inject(header(.ack, seq: cursor.seq, ack: cursor.ack, window: window, options: ackOptions))
        let connection = try #require(try engine.accept(listener))
        #expect(try engine.state(of: connection) == .established)
        cursor.ack = synAck.seq + 1
        return (listener, connection, cursor)
    }

    /// Runs an active open to 10.0.0.2:80. Returns the connection and the peer cursor.
    func establishActive(peerISS: UInt32 = 9000, synAckOptions: TCPOptions = EngineHarness.plainSynOptions(),
                         window: UInt16 = 65535,
                         options: TCPConnectionOptions = TCPConnectionOptions()) throws -> (TCPConnectionHandle, PeerCursor, UInt16) {
        let connection = try engine.connect(to: remote, port: 80, now: now, options: options)
        poll()
        let syn = try #require(take().first)
        #expect(syn.flags == .syn)
        let localPort = syn.header.sourcePort
        inject(header(.init(rawValue: TCPFlags.syn.rawValue | TCPFlags.ack.rawValue), seq: TCPSeqNumber(peerISS),
                      ack: syn.seq + 1, window: window, from: 80, to: localPort, options: synAckOptions))
        let ack = try #require(take().first)
        #expect(ack.flags == .ack)
        #expect(ack.ack == TCPSeqNumber(peerISS) + 1)
        #expect(try engine.state(of: connection) == .established)
        return (connection, PeerCursor(seq: TCPSeqNumber(peerISS) + 1, ack: syn.seq + 1), localPort)
    }

    func receiveAll(_ connection: TCPConnectionHandle) throws -> [UInt8] {
        var sink: [UInt8] = []
        try drain(engine, connection, into: &sink)
        return sink
    }
}

@Suite("TCP state machine, segment by segment")
struct TCPStateMachineTests {
    // MARK: Closed ports and LISTEN

    @Test("segments to a closed port are answered per RFC 9293 §3.10.7.1")
    func closedPortResets() throws {
        let h = EngineHarness()
        h.inject(h.header(.syn, seq: TCPSeqNumber(1000)), payload: [1, 2, 3])
        let r1 = try #require(h.take().first)
        #expect(r1.flags == [.rst, .ack])
        #expect(r1.seq == TCPSeqNumber(0))
        #expect(r1.ack == TCPSeqNumber(1004))        // SYN + 3 data octets
        h.inject(h.header(.ack, seq: TCPSeqNumber(1000), ack: TCPSeqNumber(77_777)))
        let r2 = try #require(h.take().first)
        #expect(r2.flags == .rst)
        #expect(r2.seq == TCPSeqNumber(77_777))
        h.inject(h.header(.rst, seq: TCPSeqNumber(1000)))
        #expect(h.take().isEmpty)                     // never answer a RST
        #expect(h.engine.statistics.resetsSent == 2)
    }

    @Test("a listener answers a stray ACK with RST and ignores RST and bare segments")
    func listenStateRules() throws {
        let h = EngineHarness()
        _ = try h.engine.listen(port: 80, backlog: 4)
        h.inject(h.header(.ack, seq: TCPSeqNumber(1), ack: TCPSeqNumber(555)))
        let rst = try #require(h.take().first)
        #expect(rst.flags == .rst && rst.seq == TCPSeqNumber(555))
        h.inject(h.header(.rst, seq: TCPSeqNumber(1)))
        h.inject(h.header(.fin, seq: TCPSeqNumber(1)))
        #expect(h.take().isEmpty)
        #expect(h.engine.connectionCount == 0)
        #expect(throws: TCPError.addressInUse) { try h.engine.listen(port: 80, backlog: 1) }
    }

    // MARK: Opening

    @Test("passive open negotiates MSS, window scale, SACK and timestamps from the SYN")
    func passiveOpenNegotiation() throws {
        let h = EngineHarness { $0.receiveBufferSize = 256 * 1024 }
        var syn = EngineHarness.plainSynOptions(mss: 1200)
        syn.windowScale = 7
        syn.sackPermitted = true
        syn.timestamp = TCPTimestampOption(value: 4242, echoReply: 0)
        let listener = try h.engine.listen(port: 80, backlog: 4)
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), window: 1000, options: syn))
        let synAck = try #require(h.take().first)
        #expect(synAck.header.options.maximumSegmentSize == 1460)
        #expect(synAck.header.options.windowScale == 3)           // 256 KiB needs a shift of 3
        #expect(synAck.header.options.sackPermitted)
        #expect(synAck.header.options.timestamp?.echoReply == 4242)
        #expect(synAck.header.window == 65535)                    // never scaled in a SYN
        #expect(try h.engine.halfOpenCount(of: listener) == 1)
        #expect(try h.engine.accept(listener) == nil)
        var ackOptions = TCPOptions()
        ackOptions.timestamp = TCPTimestampOption(value: 4243, echoReply: synAck.header.options.timestamp!.value)
        h.inject(h.header(.ack, seq: TCPSeqNumber(101), ack: synAck.seq + 1, window: 100, options: ackOptions))
        #expect(h.engine.readiness(of: listener) == .acceptable)
        #expect(h.engine.nextEvent() == .listener(listener))
        let c = try #require(try h.engine.accept(listener))
        let info = try h.engine.info(of: c)
        #expect(info.sendMSS == 1200)
        #expect(info.windowScaling && info.sendWindowShift == 7 && info.receiveWindowShift == 3)
        #expect(info.sendWindow == 100 << 7)
        #expect(info.selectiveAcknowledgments && info.timestamps)
        #expect(try h.engine.endpoints(of: c).remotePort == 40000)
    }

    @Test("active open: SYN with our options, SYN-ACK completes, readiness and event report it")
    func activeOpen() throws {
        let h = EngineHarness()
        let c = try h.engine.connect(to: h.remote, port: 80, now: h.now)
        #expect(try h.engine.state(of: c) == .synSent)
        #expect(h.engine.nextDeadline == h.now)             // the SYN is due
        h.poll()
        let syn = try #require(h.take().first)
        #expect(syn.flags == .syn)
        #expect(syn.header.options.maximumSegmentSize == 1460)
        #expect(syn.header.options.windowScale == 1)        // 65536 bytes is one more than 16 bits hold
        #expect(syn.header.options.sackPermitted)
        #expect(syn.header.options.timestamp != nil)
        #expect(syn.header.sourcePort >= 49152)
        #expect(!h.engine.readiness(of: c).contains(.connected))
        // Data queued before the handshake goes out after it.
        #expect(try h.engine.send(c, [1, 2, 3]) == 3)
        var o = EngineHarness.plainSynOptions()
        o.timestamp = TCPTimestampOption(value: 1, echoReply: syn.header.options.timestamp!.value)
        h.inject(h.header([.syn, .ack], seq: TCPSeqNumber(300), ack: syn.seq + 1, from: 80,
                          to: syn.header.sourcePort, options: o))
        let out = h.take()
        #expect(out.count == 1)
        #expect(out[0].flags.contains(.ack) && out[0].payload == [1, 2, 3])    // data piggybacks the ACK
        #expect(h.engine.readiness(of: c).contains(.connected))
        #expect(h.engine.readiness(of: c).contains(.writable))
        #expect(h.engine.nextEvent() == .connection(c))
        #expect(h.engine.nextEvent() == nil)
        #expect(try h.engine.info(of: c).smoothedRTT != nil)   // RTT sampled from the SYN's timestamp echo
    }

    @Test("SYN-SENT: a bad ACK draws a RST, a RST without acceptable ACK is ignored, a good one refuses")
    func synSentResets() throws {
        let h = EngineHarness()
        let c = try h.engine.connect(to: h.remote, port: 80, now: h.now)
        h.poll()
        let syn = try #require(h.take().first)
        let port = syn.header.sourcePort
        h.inject(h.header([.syn, .ack], seq: TCPSeqNumber(1), ack: syn.seq + 5, from: 80, to: port))
        let rst = try #require(h.take().first)
        #expect(rst.flags == .rst && rst.seq == syn.seq + 5)
        #expect(try h.engine.state(of: c) == .synSent)
        h.inject(h.header(.rst, seq: TCPSeqNumber(1), from: 80, to: port))
        #expect(try h.engine.state(of: c) == .synSent)
        h.inject(h.header([.rst, .ack], seq: TCPSeqNumber(0), ack: syn.seq + 1, from: 80, to: port))
        #expect(try h.engine.state(of: c) == .closed)
        #expect(try h.engine.error(of: c) == .connectionRefused)
        #expect(h.engine.readiness(of: c).contains(.closed))
        var buffer = [UInt8](repeating: 0, count: 4)
        #expect(throws: TCPError.connectionRefused) {
            _ = try buffer.withUnsafeMutableBytes { raw throws(TCPError) in try h.engine.receive(c, into: raw) }
        }
        #expect(throws: TCPError.connectionRefused) { try h.engine.send(c, [1]) }
        try h.engine.close(c)
        #expect(h.engine.connectionCount == 0)
        #expect(throws: TCPError.invalidHandle) { try h.engine.state(of: c) }
    }

    @Test("SYN retransmissions back off exponentially, then connect times out")
    func synTimeout() throws {
        let h = EngineHarness { $0.maximumSynRetransmissions = 3 }
        let c = try h.engine.connect(to: h.remote, port: 80, now: h.now)
        h.poll()
        var times: [Instant] = [h.now]
        _ = h.take()
        for _ in 0..<10 {
            guard let d = h.engine.nextDeadline else { break }
            h.clock.advance(to: d)
            h.poll()
            if h.take().contains(where: { $0.flags == .syn }) { times.append(h.now) }
        }
        #expect(times.count == 4)
        let gaps = zip(times.dropFirst(), times).map { ($0 - $1).nanosecondsClamped / 1_000_000 }
        #expect(gaps == [1000, 2000, 4000])
        #expect(try h.engine.error(of: c) == .timedOut)
        #expect(h.engine.readiness(of: c).contains(.closed))
    }

    @Test("simultaneous open: SYN-SENT -> SYN-RECEIVED -> ESTABLISHED (RFC 9293 figure 8)")
    func simultaneousOpen() throws {
        let h = EngineHarness()
        let c = try h.engine.connect(to: h.remote, port: 80, now: h.now, options: TCPConnectionOptions(localPort: 7000))
        h.poll()
        let syn = try #require(h.take().first)
        // The peer's own SYN crosses ours.
        h.inject(h.header(.syn, seq: TCPSeqNumber(300), from: 80, to: 7000, options: EngineHarness.plainSynOptions()))
        #expect(try h.engine.state(of: c) == .synReceived)
        let synAck = try #require(h.take().first)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.seq == syn.seq && synAck.ack == TCPSeqNumber(301))
        // The peer's SYN-ACK arrives: its SYN is old news, so we answer with an ACK and stay.
        h.inject(h.header([.syn, .ack], seq: TCPSeqNumber(300), ack: syn.seq + 1, from: 80, to: 7000))
        let ack = try #require(h.take().first)
        #expect(ack.flags == .ack && ack.ack == TCPSeqNumber(301))
        // The peer's ACK completes it.
        h.inject(h.header(.ack, seq: TCPSeqNumber(301), ack: syn.seq + 1, from: 80, to: 7000))
        #expect(try h.engine.state(of: c) == .established)
        #expect(h.engine.readiness(of: c).contains(.connected))
    }

    @Test("SYN-RECEIVED: duplicate SYN repeats the SYN-ACK, bad ACK draws RST, RST returns to LISTEN")
    func synReceivedRules() throws {
        let h = EngineHarness()
        let listener = try h.engine.listen(port: 80, backlog: 4)
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), options: EngineHarness.plainSynOptions()))
        let synAck = try #require(h.take().first)
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), options: EngineHarness.plainSynOptions()))
        let again = try #require(h.take().first)
        #expect(again.flags == [.syn, .ack] && again.seq == synAck.seq)
        h.inject(h.header(.ack, seq: TCPSeqNumber(101), ack: synAck.seq + 9))
        let rst = try #require(h.take().first)
        #expect(rst.flags == .rst && rst.seq == synAck.seq + 9)
        #expect(try h.engine.halfOpenCount(of: listener) == 1)
        h.inject(h.header(.rst, seq: TCPSeqNumber(101)))
        #expect(try h.engine.halfOpenCount(of: listener) == 0)
        #expect(h.engine.connectionCount == 0)
        // The listener still works.
        _ = try h.establishPassive(peerISS: 8000, existing: listener)
    }

    @Test("a half-open connection retransmits its SYN-ACK and then gives up silently")
    func synAckRetransmission() throws {
        let h = EngineHarness { $0.maximumSynRetransmissions = 2 }
        let listener = try h.engine.listen(port: 80, backlog: 4)
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), options: EngineHarness.plainSynOptions()))
        _ = h.take()
        h.runTimers(for: .seconds(30))
        let resent = h.take()
        #expect(resent.filter { $0.flags == [.syn, .ack] }.count == 2)
        #expect(resent.allSatisfy { !$0.flags.contains(.rst) })
        #expect(try h.engine.halfOpenCount(of: listener) == 0)
        #expect(h.engine.connectionCount == 0)
    }

    @Test("shutdown in SYN-SENT: the FIN follows the handshake; close in SYN-SENT deletes the connection")
    func closeBeforeEstablished() throws {
        let h = EngineHarness()
        let c = try h.engine.connect(to: h.remote, port: 80, now: h.now)
        h.poll()
        let syn = try #require(h.take().first)
        _ = try h.engine.send(c, [1, 2])
        try h.engine.shutdown(c)
        #expect(try h.engine.state(of: c) == .synSent)
        h.inject(h.header([.syn, .ack], seq: TCPSeqNumber(50), ack: syn.seq + 1, from: 80, to: syn.header.sourcePort))
        #expect(try h.engine.state(of: c) == .finWait1)
        let out = h.take()
        #expect(out.count == 1 && out[0].payload == [1, 2] && out[0].flags.contains(.fin))

        let c2 = try h.engine.connect(to: h.remote, port: 81, now: h.now)
        h.poll()
        _ = h.take()
        try h.engine.close(c2)
        #expect(h.engine.connectionCount == 1)   // only the first connection remains
        h.runTimers(for: .seconds(10))
        #expect(h.take().allSatisfy { $0.header.destinationPort != 81 })   // no SYN retransmissions
    }

    @Test("SYN-RECEIVED: a FIN riding on the handshake's final ACK goes straight to CLOSE-WAIT")
    func finWithFinalAck() throws {
        let h = EngineHarness()
        let listener = try h.engine.listen(port: 80, backlog: 4)
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), options: EngineHarness.plainSynOptions()))
        let synAck = try #require(h.take().first)
        h.inject(h.header([.ack, .fin], seq: TCPSeqNumber(101), ack: synAck.seq + 1), payload: [7])
        let c = try #require(try h.engine.accept(listener))
        #expect(try h.engine.state(of: c) == .closeWait)
        #expect(try h.receiveAll(c) == [7])
        #expect(h.take().last?.ack == TCPSeqNumber(103))
    }

    @Test("a new SYN may reopen a four-tuple in TIME-WAIT when its sequence number is higher")
    func timeWaitReuse() throws {
        let h = EngineHarness()
        let (listener, c, peer) = try h.establishPassive()
        try h.engine.shutdown(c)
        h.poll()
        h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack + 1))
        #expect(try h.engine.state(of: c) == .timeWait)
        try h.engine.close(c)
        _ = h.take()
        // An old duplicate SYN (lower sequence number) only gets the TIME-WAIT ACK.
        h.inject(h.header(.syn, seq: peer.seq - 10, options: EngineHarness.plainSynOptions()))
        #expect(h.take().first?.flags == .ack)
        h.inject(h.header(.syn, seq: peer.seq + 100_000, options: EngineHarness.plainSynOptions()))
        let synAck = try #require(h.take().first)
        #expect(synAck.flags == [.syn, .ack])
        h.inject(h.header(.ack, seq: peer.seq + 100_001, ack: synAck.seq + 1))
        #expect(try h.engine.accept(listener) != nil)
    }

    // MARK: Data

    @Test("delayed ACK: one segment waits up to 200 ms, two are acknowledged at once")
    func delayedAck() throws {
        let h = EngineHarness()
        var (_, c, peer) = try h.establishPassive()
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [UInt8](repeating: 1, count: 100))
        peer.seq += 100
        #expect(h.take().isEmpty)
        #expect(h.engine.nextDeadline == h.now + .milliseconds(200))
        h.advance(.milliseconds(199))
        #expect(h.take().isEmpty)
        h.advance(.milliseconds(1))
        let delayed = try #require(h.take().first)
        #expect(delayed.ack == peer.seq)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [UInt8](repeating: 2, count: 100))
        peer.seq += 100
        #expect(h.take().isEmpty)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [UInt8](repeating: 3, count: 100))
        peer.seq += 100
        let immediate = try #require(h.take().first)
        #expect(immediate.ack == peer.seq)
        #expect(try h.receiveAll(c) == [UInt8](repeating: 1, count: 100) + [UInt8](repeating: 2, count: 100)
            + [UInt8](repeating: 3, count: 100))
    }

    @Test("urgent data is delivered inline and its extent reported (RFC 9293 §3.8.5, RFC 6093)")
    func urgentData() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive()
        while h.engine.nextEvent() != nil {}
        var header = h.header([.ack, .urg, .psh], seq: peer.seq, ack: peer.ack)
        header.urgentPointer = 3
        h.inject(header, payload: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(h.engine.nextEvent() == .connection(c))
        #expect(try h.engine.urgentBytes(of: c) == 3)
        var two: [UInt8] = []
        _ = try h.engine.receive(c, appendingTo: &two, maximum: 2)
        #expect(two == [1, 2])
        #expect(try h.engine.urgentBytes(of: c) == 1)
        #expect(try h.receiveAll(c) == [3, 4, 5, 6, 7, 8, 9, 10])
        #expect(try h.engine.urgentBytes(of: c) == 0)
    }

    @Test("out-of-order data: immediate duplicate ACK with a SACK block, then one cumulative ACK")
    func outOfOrderWithSack() throws {
        let h = EngineHarness()
        var syn = EngineHarness.plainSynOptions()
        syn.sackPermitted = true
        var (_, c, peer) = try h.establishPassive(synOptions: syn)
        let first = [UInt8](repeating: 0xAA, count: 500)
        let second = [UInt8](repeating: 0xBB, count: 500)
        let third = [UInt8](repeating: 0xCC, count: 500)
        h.inject(h.header(.ack, seq: peer.seq + 1000, ack: peer.ack), payload: third)
        var dup = try #require(h.take().first)
        #expect(dup.ack == peer.seq)
        #expect(dup.header.options.sackBlocks.count == 1)
        #expect(dup.header.options.sackBlocks[0] == TCPSackBlock(start: peer.seq + 1000, end: peer.seq + 1500))
        h.inject(h.header(.ack, seq: peer.seq + 500, ack: peer.ack), payload: second)
        dup = try #require(h.take().first)
        #expect(dup.ack == peer.seq)
        #expect(dup.header.options.sackBlocks[0] == TCPSackBlock(start: peer.seq + 500, end: peer.seq + 1500))
        #expect(try h.receiveAll(c).isEmpty)
        #expect(try h.engine.info(of: c).outOfOrderRanges == 1)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: first)
        peer.seq += 1500
        let full = try #require(h.take().first)
        #expect(full.ack == peer.seq)
        #expect(full.header.options.sackBlocks.isEmpty)
        #expect(try h.receiveAll(c) == first + second + third)
    }

    @Test("overlapping and duplicate segments are trimmed; data beyond the window is cut")
    func trimming() throws {
        let h = EngineHarness { $0.receiveBufferSize = 1000 }
        var (_, c, peer) = try h.establishPassive()
        let data = patternBytes(count: 1600, seed: 1)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: Array(data[0..<300]))
        // Overlaps 200 old bytes, brings 200 new.
        h.inject(h.header(.ack, seq: peer.seq + 100, ack: peer.ack), payload: Array(data[100..<500]))
        // Runs past the 1000-byte window: only up to byte 1000 is kept.
        h.inject(h.header(.ack, seq: peer.seq + 500, ack: peer.ack), payload: Array(data[500..<1600]))
        let acks = h.take()
        #expect(acks.last?.ack == peer.seq + 1000)
        #expect(acks.last?.header.window == 0)
        #expect(try h.receiveAll(c) == Array(data[0..<1000]))
        peer.seq += 1000
        h.poll()
        let update = try #require(h.take().last)
        #expect(update.header.window == 1000)       // window update after reading
    }

    @Test("Nagle holds a small segment while data is unacknowledged; no-delay sends at once")
    func nagle() throws {
        let h = EngineHarness()
        var (_, c, peer) = try h.establishPassive()
        #expect(try h.engine.send(c, [UInt8](repeating: 1, count: 100)) == 100)
        h.poll()
        #expect(h.take().map(\.payload.count) == [100])
        #expect(try h.engine.send(c, [UInt8](repeating: 2, count: 50)) == 50)
        h.poll()
        #expect(h.take().isEmpty)                       // held: 100 bytes unacknowledged
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 100))
        peer.ack += 100
        #expect(h.take().map(\.payload.count) == [50])  // released by the ACK
        try h.engine.setNoDelay(c, true)
        _ = try h.engine.send(c, [3])
        h.poll()
        _ = try h.engine.send(c, [4])
        h.poll()
        #expect(h.take().map(\.payload.count) == [1, 1])
        // Large writes are cut to the MSS; the short tail waits for the ACK (Nagle).
        let h2 = EngineHarness()
        let (_, c3, peer3) = try h2.establishPassive(synOptions: EngineHarness.plainSynOptions(mss: 1000))
        _ = try h2.engine.send(c3, [UInt8](repeating: 9, count: 2500))
        h2.poll()
        #expect(h2.take().map(\.payload.count) == [1000, 1000])
        h2.inject(h2.header(.ack, seq: peer3.seq, ack: peer3.ack + 2000))
        #expect(h2.take().map(\.payload.count) == [500])
    }

    // MARK: Closing

    @Test("active close: FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT -> CLOSED after 2·MSL")
    func activeClose() throws {
        let h = EngineHarness { $0.timeWaitDuration = .seconds(60) }
        var (_, c, peer) = try h.establishPassive()
        try h.engine.shutdown(c)
        #expect(try h.engine.state(of: c) == .finWait1)
        h.poll()
        let fin = try #require(h.take().first)
        #expect(fin.flags == [.fin, .ack] && fin.seq == peer.ack)
        #expect(throws: TCPError.connectionClosing) { try h.engine.send(c, [1]) }
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1))
        #expect(try h.engine.state(of: c) == .finWait2)
        peer.ack += 1
        // Still receives data in FIN-WAIT-2, then the FIN.
        h.inject(h.header([.ack, .fin], seq: peer.seq, ack: peer.ack), payload: [7, 8])
        #expect(try h.engine.state(of: c) == .timeWait)
        let lastAck = try #require(h.take().first)
        #expect(lastAck.ack == peer.seq + 3)
        #expect(try h.receiveAll(c) == [7, 8])
        var b = [UInt8](repeating: 0, count: 8)
        #expect(try b.withUnsafeMutableBytes { raw throws(TCPError) in try h.engine.receive(c, into: raw) } == .endOfStream)
        try h.engine.close(c)
        #expect(h.engine.connectionCount == 1)            // TIME-WAIT outlives the handle
        // A retransmitted FIN is acknowledged again and restarts the timer.
        h.advance(.seconds(30))
        h.inject(h.header([.ack, .fin], seq: peer.seq + 2, ack: peer.ack))
        #expect(h.take().first?.ack == peer.seq + 3)
        h.advance(.seconds(59))
        #expect(h.engine.connectionCount == 1)
        h.advance(.seconds(1))
        #expect(h.engine.connectionCount == 0)
        #expect(h.engine.nextDeadline == nil)
    }

    @Test("FIN-WAIT-1 receiving FIN together with the ACK of our FIN goes straight to TIME-WAIT")
    func finWait1ToTimeWait() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive()
        try h.engine.shutdown(c)
        h.poll()
        _ = h.take()
        h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack + 1))
        #expect(try h.engine.state(of: c) == .timeWait)
    }

    @Test("passive close: CLOSE-WAIT, end of stream, LAST-ACK, CLOSED")
    func passiveClose() throws {
        let h = EngineHarness()
        var (_, c, peer) = try h.establishPassive()
        h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack))
        peer.seq += 1
        #expect(try h.engine.state(of: c) == .closeWait)
        #expect(h.take().first?.ack == peer.seq)           // the FIN is acknowledged at once
        #expect(h.engine.readiness(of: c).contains(.readable))
        var b = [UInt8](repeating: 0, count: 8)
        #expect(try b.withUnsafeMutableBytes { raw throws(TCPError) in try h.engine.receive(c, into: raw) } == .endOfStream)
        // We can still send in CLOSE-WAIT.
        #expect(try h.engine.send(c, [1, 2, 3]) == 3)
        try h.engine.close(c)
        #expect(throws: TCPError.invalidHandle) { try h.engine.state(of: c) }
        h.poll()
        let out = h.take()
        #expect(out.count == 1 && out[0].flags == [.fin, .ack, .psh] && out[0].payload == [1, 2, 3])
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 4))
        #expect(h.engine.connectionCount == 0)
    }

    @Test("simultaneous close: FIN-WAIT-1 -> CLOSING -> TIME-WAIT")
    func simultaneousClose() throws {
        let h = EngineHarness()
        var (_, c, peer) = try h.establishPassive()
        try h.engine.shutdown(c)
        h.poll()
        let ourFin = try #require(h.take().first)
        // The peer's FIN crossed ours: it does not acknowledge our FIN.
        h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack))
        peer.seq += 1
        #expect(try h.engine.state(of: c) == .closing)
        #expect(h.take().first?.ack == peer.seq)
        h.inject(h.header(.ack, seq: peer.seq, ack: ourFin.seq + 1))
        #expect(try h.engine.state(of: c) == .timeWait)
    }

    @Test("closing with unread data resets the connection (RFC 2525 §2.17)")
    func closeWithUnreadData() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive()
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [1, 2, 3])
        _ = h.take()
        try h.engine.close(c)
        h.poll()
        let rst = try #require(h.take().first)
        #expect(rst.flags == .rst && rst.seq == peer.ack)
        #expect(h.engine.connectionCount == 0)
    }

    @Test("data arriving after close is answered with RST; an orphan stuck in FIN-WAIT-2 is dropped")
    func orphanRules() throws {
        let h = EngineHarness { $0.finWait2Timeout = .seconds(10) }
        let (_, c, peer) = try h.establishPassive()
        try h.engine.close(c)
        h.poll()
        _ = h.take()
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1))   // FIN acknowledged: FIN-WAIT-2
        #expect(h.engine.connectionCount == 1)
        h.advance(.seconds(10))
        #expect(h.engine.connectionCount == 0)

        let h2 = EngineHarness()
        let (_, c2, peer2) = try h2.establishPassive()
        try h2.engine.close(c2)
        h2.poll()
        _ = h2.take()
        h2.inject(h2.header(.ack, seq: peer2.seq, ack: peer2.ack + 1), payload: [9, 9])
        let rst = try #require(h2.take().first)
        #expect(rst.flags == .rst)
        #expect(h2.engine.connectionCount == 0)
    }

    @Test("abort sends RST and invalidates the handle at once")
    func abortConnection() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive()
        try h.engine.abort(c)
        #expect(throws: TCPError.invalidHandle) { try h.engine.send(c, [1]) }
        #expect(h.engine.nextDeadline == h.now)
        h.poll()
        let rst = try #require(h.take().first)
        #expect(rst.flags == .rst && rst.seq == peer.ack)
        #expect(h.engine.connectionCount == 0)
    }

    // MARK: RST and RFC 5961

    /// Brings a connection into `target` and returns the harness, handle and peer cursor.
    private func connection(in target: TCPState) throws -> (EngineHarness, TCPConnectionHandle, PeerCursor) {
        let h = EngineHarness()
        var (_, c, peer) = try h.establishPassive()
        switch target {
        case .established:
            break
        case .finWait1:
            try h.engine.shutdown(c)
            h.poll()
        case .finWait2:
            try h.engine.shutdown(c)
            h.poll()
            h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1))
            peer.ack += 1
        case .closeWait:
            h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack))
            peer.seq += 1
        case .closing:
            try h.engine.shutdown(c)
            h.poll()
            h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack))
            peer.seq += 1
        case .lastAck:
            h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack))
            peer.seq += 1
            try h.engine.shutdown(c)
            h.poll()
        case .timeWait:
            try h.engine.shutdown(c)
            h.poll()
            h.inject(h.header([.fin, .ack], seq: peer.seq, ack: peer.ack + 1))
            peer.seq += 1
            peer.ack += 1
        default:
            Issue.record("unsupported state \(target)")
        }
        #expect(try h.engine.state(of: c) == target)
        _ = h.take()
        return (h, c, peer)
    }

    @Test("an exact RST closes every synchronized state; resets report connectionReset where data was live",
          arguments: [TCPState.established, .finWait1, .finWait2, .closeWait, .closing, .lastAck, .timeWait])
    func resetInEachState(_ state: TCPState) throws {
        let (h, c, peer) = try connection(in: state)
        h.inject(h.header(.rst, seq: peer.seq))
        #expect(h.take().isEmpty)
        #expect(try h.engine.state(of: c) == .closed)
        let expectsError = [TCPState.established, .finWait1, .finWait2, .closeWait].contains(state)
        #expect(try h.engine.error(of: c) == (expectsError ? .connectionReset : nil))
        #expect(h.engine.readiness(of: c).contains(.closed))
        try h.engine.close(c)
        #expect(h.engine.connectionCount == 0)
    }

    @Test("RFC 5961: in-window RST and any SYN draw a challenge ACK; out-of-window RST is silently dropped",
          arguments: [TCPState.established, .finWait2, .closeWait])
    func challengeAcks(_ state: TCPState) throws {
        let (h, c, peer) = try connection(in: state)
        h.inject(h.header(.rst, seq: peer.seq + 100))
        let challenge = try #require(h.take().first)
        #expect(challenge.flags == .ack && challenge.ack == peer.seq)
        #expect(try h.engine.state(of: c) == state)
        h.inject(h.header(.syn, seq: peer.seq + 5, options: EngineHarness.plainSynOptions()))
        let challenge2 = try #require(h.take().first)
        #expect(challenge2.flags == .ack && challenge2.ack == peer.seq)
        #expect(try h.engine.state(of: c) == state)
        h.inject(h.header(.rst, seq: peer.seq + 1_000_000))
        #expect(h.take().isEmpty)
        #expect(try h.engine.state(of: c) == state)
        #expect(h.engine.statistics.challengeAcks == 2)
    }

    @Test("challenge ACKs are rate limited (RFC 5961 §7)")
    func challengeAckRateLimit() throws {
        let h = EngineHarness { $0.challengeAckLimit = 5 }
        let (_, c, peer) = try h.establishPassive()
        for i in 0..<20 { h.inject(h.header(.rst, seq: peer.seq + 10 + i)) }
        #expect(h.take().count == 5)
        h.advance(.seconds(1))
        h.inject(h.header(.rst, seq: peer.seq + 10))
        #expect(h.take().count == 1)
        #expect(try h.engine.state(of: c) == .established)
    }

    @Test("RFC 5961 §5: an ACK for data never sent is answered and ignored")
    func ackOfUnsentData() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive()
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 5000), payload: [1, 2, 3])
        let reply = try #require(h.take().first)
        #expect(reply.flags == .ack && reply.ack == peer.seq)   // the data was not accepted either
        #expect(try h.receiveAll(c).isEmpty)
    }

    // MARK: Timestamps

    @Test("PAWS drops a segment with an old timestamp; segments without timestamps are dropped once negotiated")
    func paws() throws {
        let h = EngineHarness()
        var syn = EngineHarness.plainSynOptions()
        syn.timestamp = TCPTimestampOption(value: 1000, echoReply: 0)
        var (_, c, peer) = try h.establishPassive(synOptions: syn)
        var o = TCPOptions()
        o.timestamp = TCPTimestampOption(value: 2000, echoReply: 0)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack, options: o), payload: [1])
        peer.seq += 1
        h.advance(.milliseconds(200))
        #expect(h.take().first?.header.options.timestamp?.echoReply == 2000)   // TS.Recent updated
        o.timestamp = TCPTimestampOption(value: 1500, echoReply: 0)           // older than TS.Recent
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack, options: o), payload: [2])
        let dupAck = try #require(h.take().first)
        #expect(dupAck.ack == peer.seq)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [3])   // no timestamp at all
        #expect(h.take().isEmpty)
        #expect(try h.receiveAll(c) == [1])
    }

    // MARK: Retransmission

    @Test("unacknowledged data is retransmitted with exponential backoff until the connection times out")
    func retransmissionBackoffToTimeout() throws {
        let h = EngineHarness { $0.maximumRetransmissions = 4 }
        let (_, c, peer) = try h.establishPassive()
        _ = try h.engine.send(c, [UInt8](repeating: 5, count: 10))
        h.poll()
        var times = [h.now]
        _ = h.take()
        var resets = 0
        for _ in 0..<20 {
            guard let d = h.engine.nextDeadline else { break }
            h.clock.advance(to: d)
            h.poll()
            for s in h.take() {
                if s.flags.contains(.rst) { resets += 1 } else if s.payload.count == 10 {
                    #expect(s.seq == peer.ack)
                    times.append(h.now)
                }
            }
        }
        let gaps = zip(times.dropFirst(), times).map { ($0 - $1).nanosecondsClamped / 1_000_000 }
        #expect(gaps == [1000, 2000, 4000, 8000])      // four retransmissions
        #expect(h.now - times.last! == .seconds(16))    // the fifth expiry gives up
        #expect(try h.engine.error(of: c) == .timedOut)
        #expect(resets == 1)
        #expect(h.engine.readiness(of: c).contains(.closed))
    }

    @Test("three duplicate ACKs trigger fast retransmit without waiting for the timer (no SACK: NewReno)")
    func fastRetransmitNewReno() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive(synOptions: EngineHarness.plainSynOptions(mss: 1000))
        try h.engine.setNoDelay(c, true)
        // Open the window: ACK the initial flight a few times so cwnd covers 6 segments.
        _ = try h.engine.send(c, [UInt8](repeating: 1, count: 4000))
        h.poll()
        #expect(h.take().count == 4)                 // IW = 4 segments of 1000
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 2000))
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 4000))
        _ = h.take()
        let base = peer.ack + 4000
        _ = try h.engine.send(c, [UInt8](repeating: 2, count: 6000))
        h.poll()
        let flight = h.take()
        #expect(flight.count == 6)
        // The first of these is lost; the peer sends duplicate ACKs.
        for _ in 0..<2 { h.inject(h.header(.ack, seq: peer.seq, ack: base)) }
        #expect(h.take().allSatisfy { $0.seq != base })         // not yet
        h.inject(h.header(.ack, seq: peer.seq, ack: base))
        let retransmitted = h.take()
        #expect(retransmitted.first?.seq == base)
        #expect(retransmitted.first?.payload.count == 1000)
        let info = try h.engine.info(of: c)
        #expect(info.inFastRecovery && info.fastRecoveries == 1 && info.timeouts == 0)
        // A partial ACK retransmits the next hole at once (RFC 6582).
        h.inject(h.header(.ack, seq: peer.seq, ack: base + 1000))
        #expect(h.take().first?.seq == base + 1000)
        // The full ACK ends recovery.
        h.inject(h.header(.ack, seq: peer.seq, ack: base + 6000))
        #expect(try h.engine.info(of: c).inFastRecovery == false)
    }

    // MARK: Zero window and persist

    @Test("zero window: persist probes back off, the connection survives, data flows when the window opens")
    func zeroWindowProbing() throws {
        let h = EngineHarness { $0.maximumRetransmissions = 3 }
        let (_, c, peer) = try h.establishPassive(synOptions: EngineHarness.plainSynOptions(mss: 1000))
        try h.engine.setNoDelay(c, true)
        _ = try h.engine.send(c, [UInt8](repeating: 1, count: 1000))
        h.poll()
        _ = h.take()
        // The peer takes the segment but its buffer is now full.
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1000, window: 0))
        _ = try h.engine.send(c, [UInt8](repeating: 2, count: 3000))
        h.poll()
        #expect(h.take().isEmpty)                       // nothing may be sent into a zero window
        var probeTimes: [Instant] = []
        for _ in 0..<6 {
            guard let d = h.engine.nextDeadline else { break }
            h.clock.advance(to: d)
            h.poll()
            for s in h.take() where s.payload.count == 1 {
                #expect(s.seq == peer.ack + 1000)        // the same first byte every time
                probeTimes.append(h.now)
                // The peer answers each probe: still no room.
                h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1000, window: 0))
            }
        }
        #expect(probeTimes.count == 6)                  // more than maximumRetransmissions: answered probes never time out
        let gaps = zip(probeTimes.dropFirst(), probeTimes).map { ($0 - $1).nanosecondsClamped / 1_000_000 }
        #expect(gaps.count == 5 && zip(gaps.dropFirst(), gaps).allSatisfy { $0 >= $1 })
        #expect(try h.engine.state(of: c) == .established)
        // The window opens: the rest of the data goes out after the probe byte.
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1000, window: 8000))
        let burst = h.take()
        #expect(burst.first?.seq == peer.ack + 1001)
        #expect(burst.reduce(0) { $0 + $1.payload.count } == 2999)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 4000, window: 8000))
        #expect(try h.engine.info(of: c).bytesQueued == 0)
    }

    @Test("unanswered zero-window probes eventually time the connection out")
    func zeroWindowProbeTimeout() throws {
        let h = EngineHarness { $0.maximumRetransmissions = 3 }
        let (_, c, peer) = try h.establishPassive()
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack, window: 0))
        _ = try h.engine.send(c, [1, 2, 3])
        h.runTimers(for: .seconds(600))
        #expect(try h.engine.error(of: c) == .timedOut)
    }

    @Test("as a receiver with a full buffer we advertise zero, answer probes, and send a window update on read")
    func receiverZeroWindow() throws {
        let h = EngineHarness { $0.receiveBufferSize = 2000 }
        var (_, c, peer) = try h.establishPassive()
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [UInt8](repeating: 1, count: 1000))
        h.inject(h.header(.ack, seq: peer.seq + 1000, ack: peer.ack), payload: [UInt8](repeating: 2, count: 1000))
        peer.seq += 2000
        let ack = try #require(h.take().last)
        #expect(ack.ack == peer.seq && ack.header.window == 0)
        // A one-byte probe: not accepted, answered with the (zero) window.
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack), payload: [3])
        let reply = try #require(h.take().first)
        #expect(reply.ack == peer.seq && reply.header.window == 0)
        #expect(try h.receiveAll(c).count == 2000)
        h.poll()
        let update = try #require(h.take().first)
        #expect(update.header.window == 2000)
    }

    // MARK: Keepalive

    @Test("keepalive: probes after the idle time, answered probes keep it alive, silence times it out")
    func keepalive() throws {
        let h = EngineHarness()
        let (_, c, peer) = try h.establishPassive()
        try h.engine.setKeepalive(c, TCPKeepalive(idle: .seconds(60), interval: .seconds(10), probeCount: 3))
        h.advance(.seconds(59))
        #expect(h.take().isEmpty)
        h.advance(.seconds(1))
        let probe = try #require(h.take().first)
        #expect(probe.seq == peer.ack - 1 && probe.payload.isEmpty)
        // Answered: the idle timer starts over.
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack))
        h.advance(.seconds(30))
        #expect(h.take().isEmpty)
        // Now silence: 3 probes 10 s apart, then failure.
        h.runTimers(for: .seconds(200))
        #expect(h.take().count == 3)
        #expect(try h.engine.error(of: c) == .timedOut)
    }

    @Test("keepalive is off by default")
    func keepaliveOffByDefault() throws {
        let h = EngineHarness()
        _ = try h.establishPassive()
        #expect(h.engine.nextDeadline == nil)
        h.advance(.seconds(100_000))
        #expect(h.take().isEmpty)
    }

    // MARK: Backlog

    @Test("a full accept queue ignores the final ACK; the handshake completes after accept")
    func acceptBacklog() throws {
        let h = EngineHarness()
        let listener = try h.engine.listen(port: 80, backlog: 1)
        var synAcks: [CapturedSegment] = []
        for port: UInt16 in [1000, 1001] {
            h.inject(h.header(.syn, seq: TCPSeqNumber(100), from: port, options: EngineHarness.plainSynOptions()))
            synAcks.append(try #require(h.take().first))
        }
        for (i, port) in [UInt16(1000), 1001].enumerated() {
            h.inject(h.header(.ack, seq: TCPSeqNumber(101), ack: synAcks[i].seq + 1, from: port))
        }
        #expect(try h.engine.halfOpenCount(of: listener) == 1)
        // A third SYN is dropped while the queue is full.
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), from: 1002, options: EngineHarness.plainSynOptions()))
        #expect(h.take().isEmpty)
        let first = try #require(try h.engine.accept(listener))
        #expect(try h.engine.endpoints(of: first).remotePort == 1000)
        #expect(try h.engine.accept(listener) == nil)
        // The second one's SYN-ACK is retransmitted; the peer's ACK now completes it.
        h.runTimers(for: .seconds(1))
        let again = try #require(h.take().first { $0.header.destinationPort == 1001 })
        h.inject(h.header(.ack, seq: TCPSeqNumber(101), ack: again.seq + 1, from: 1001))
        let second = try #require(try h.engine.accept(listener))
        #expect(try h.engine.endpoints(of: second).remotePort == 1001)
    }

    @Test("closing a listener resets its pending connections")
    func closeListener() throws {
        let h = EngineHarness()
        let listener = try h.engine.listen(port: 80, backlog: 4)
        h.inject(h.header(.syn, seq: TCPSeqNumber(100), from: 1000, options: EngineHarness.plainSynOptions()))
        _ = h.take()
        try h.engine.close(listener)
        h.poll()
        #expect(h.take().first?.flags == .rst)
        #expect(h.engine.connectionCount == 0)
        #expect(throws: TCPError.invalidHandle) { try h.engine.accept(listener) }
        _ = try h.engine.listen(port: 80, backlog: 4)
    }

    @Test("the IPv4 layer refusing a segment loses nothing: it is sent on a later poll")
    func sendBackpressure() throws {
        let h = EngineHarness()
        let (_, c, _) = try h.establishPassive()
        h.acceptSends = false
        _ = try h.engine.send(c, [1, 2, 3])
        h.poll()
        #expect(h.engine.statistics.sendFailures > 0)
        #expect(h.engine.nextDeadline == h.now + .milliseconds(1))
        h.acceptSends = true
        h.advance(.milliseconds(1))
        #expect(h.take().first?.payload == [1, 2, 3])
    }
}
