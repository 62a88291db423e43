import Interfaces
import Testing
@testable import TCPStack

/// A framework author's congestion control: a fixed window that records what it is told.
final class FixedWindowControl: TCPCongestionControl {
    var congestionWindow: Int
    var slowStartThreshold: Int { congestionWindow }
    var name: String { "fixed" }
    var log: [String] = []

    init(window: Int) { congestionWindow = window }
    func start(maximumSegmentSize: Int, now: Instant) { log.append("start \(maximumSegmentSize)") }
    func onAcknowledgment(_ event: TCPAckEvent) { log.append("ack \(event.bytesAcknowledged)") }
    func onFastRecoveryEntered(flightSize: Int, now: Instant) { log.append("enter \(flightSize)") }
    func onFastRecoveryExited(flightSize: Int, now: Instant) { log.append("exit \(flightSize)") }
    func onRetransmissionTimeout(flightSize: Int, firstTimeout: Bool, now: Instant) { log.append("rto") }
    func onIdleRestart(now: Instant) { log.append("idle") }
}

@Suite("TCP connection API")
struct TCPAPITests {
    @Test("events: one per handle until drained; readable, writable and closed transitions are reported")
    func events() throws {
        let h = EngineHarness { $0.sendBufferSize = 4000 }
        var (listener, c, peer) = try h.establishPassive(synOptions: EngineHarness.plainSynOptions(mss: 1000))
        while h.engine.nextEvent() != nil {}
        // Three data segments before anyone looks: a single event.
        for i in 0..<3 {
            h.inject(h.header(.ack, seq: peer.seq + 100 * i, ack: peer.ack), payload: [UInt8](repeating: 1, count: 100))
        }
        peer.seq += 300
        #expect(h.engine.nextEvent() == .connection(c))
        #expect(h.engine.nextEvent() == nil)
        #expect(h.engine.readiness(of: c).contains(.readable))
        #expect(try h.receiveAll(c).count == 300)
        #expect(!h.engine.readiness(of: c).contains(.readable))
        // Fill the send buffer: not writable until an ACK frees space.
        #expect(try h.engine.send(c, [UInt8](repeating: 2, count: 10_000)) == 4000)
        #expect(try h.engine.send(c, [3]) == 0)
        #expect(!h.engine.readiness(of: c).contains(.writable))
        h.poll()
        _ = h.take()
        while h.engine.nextEvent() != nil {}
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 1000))
        #expect(h.engine.nextEvent() == .connection(c))
        #expect(h.engine.readiness(of: c).contains(.writable))
        // A reset: event, readable (so a blocked reader wakes), closed.
        h.inject(h.header(.rst, seq: peer.seq))
        #expect(h.engine.nextEvent() == .connection(c))
        #expect(h.engine.readiness(of: c).isSuperset(of: [.readable, .writable, .closed]))
        // Listener events: a new connection waiting.
        h.inject(h.header(.syn, seq: TCPSeqNumber(1), from: 41000, options: EngineHarness.plainSynOptions()))
        let synAck = try #require(h.take().first)
        h.inject(h.header(.ack, seq: TCPSeqNumber(2), ack: synAck.seq + 1, from: 41000))
        #expect(h.engine.nextEvent() == .listener(listener))
        #expect(h.engine.readiness(of: listener) == .acceptable)
        // Invalid handles report every condition so waiters wake up.
        try h.engine.close(c)
        #expect(h.engine.readiness(of: c) == [.readable, .writable, .closed])
    }

    @Test("typed errors: stale handles, send after shutdown, missing local address, port in use")
    func errors() throws {
        let h = EngineHarness()
        let (_, c, _) = try h.establishPassive()
        try h.engine.shutdown(c)
        #expect(throws: TCPError.connectionClosing) { try h.engine.send(c, [1]) }
        try h.engine.close(c)
        #expect(throws: TCPError.invalidHandle) { try h.engine.send(c, [1]) }
        #expect(throws: TCPError.invalidHandle) { try h.engine.close(c) }
        let unbound = TCPEngine(configuration: TCPConfiguration(), entropy: SeededEntropy(seed: 1))
        #expect(throws: TCPError.noLocalAddress) { try unbound.connect(to: testHostB, port: 80, now: .zero) }
        let fixed = TCPConnectionOptions(localPort: 5555)
        _ = try h.engine.connect(to: testHostB, port: 80, now: h.now, options: fixed)
        #expect(throws: TCPError.addressInUse) { try h.engine.connect(to: testHostB, port: 80, now: h.now, options: fixed) }
        var limited = TCPConfiguration()
        limited.maximumConnections = 1
        let small = TCPEngine(localAddress: testHostA, configuration: limited, entropy: SeededEntropy(seed: 1))
        _ = try small.connect(to: testHostB, port: 80, now: .zero)
        #expect(throws: TCPError.tooManyConnections) { try small.connect(to: testHostB, port: 81, now: .zero) }
        #expect(TCPError.connectionReset.description == "connection reset by peer")
    }

    @Test("ephemeral ports differ per connection and avoid four-tuples in use")
    func ephemeralPorts() throws {
        let h = EngineHarness()
        var ports = Set<UInt16>()
        for _ in 0..<200 {
            let c = try h.engine.connect(to: testHostB, port: 80, now: h.now)
            let port = try h.engine.endpoints(of: c).localPort
            #expect(port >= 49152)
            ports.insert(port)
        }
        #expect(ports.count == 200)
    }

    @Test("a custom congestion control chosen per connection is used and told about every event")
    func customCongestionControlPerConnection() throws {
        let custom = FixedWindowControl(window: 20_000)
        let h = EngineHarness()
        var syn = EngineHarness.plainSynOptions(mss: 1000)
        syn.sackPermitted = true
        let options = TCPConnectionOptions(noDelay: true,
                                           congestionControl: TCPCongestionControlFactory { _ in custom })
        let (_, c, peer) = try h.establishPassive(synOptions: syn, listenOptions: options)
        #expect(try h.engine.info(of: c).congestionControl == "fixed")
        #expect(custom.log == ["start 1000"])
        // The fixed window lets all 10 segments go at once (NewReno would start at 4).
        _ = try h.engine.send(c, patternBytes(count: 10_000, seed: 1))
        h.poll()
        let flight = h.take()
        #expect(flight.count == 10)
        let base = peer.ack
        // Segments 1 and 4 (0-based) are lost. The peer acknowledges segment 0 and SACKs what follows.
        func sackAck(_ blocks: [(Int, Int)]) {
            var o = TCPOptions()
            for (s, e) in blocks { o.sackBlocks.append(TCPSackBlock(start: base + s, end: base + e)) }
            h.inject(h.header(.ack, seq: peer.seq, ack: base + 1000, options: o))
        }
        h.inject(h.header(.ack, seq: peer.seq, ack: base + 1000))
        sackAck([(2000, 3000)])
        sackAck([(2000, 4000)])
        #expect(h.take().isEmpty)                                   // not yet: only 2000 bytes SACKed above
        sackAck([(5000, 6000), (2000, 4000)])                       // third duplicate ACK: fast retransmit
        // RFC 6675 NextSeg: rule 1 finds no lost hole beyond the one just resent (1000 bytes SACKed above 4000
        // are not enough to call it lost), rule 2 has no new data, so rule 3 resends the unSACKed 4000.
        let retransmitted = h.take().map { $0.seq - base }
        #expect(retransmitted == [1000, 4000])
        #expect(custom.log.contains("enter 9000"))
        sackAck([(5000, 7000), (2000, 4000)])
        sackAck([(5000, 8000), (2000, 4000)])
        #expect(h.take().isEmpty)                                   // nothing is sent twice
        // The retransmission of 1000 arrives: a partial ACK up to the second hole.
        h.inject(h.header(.ack, seq: peer.seq, ack: base + 4000,
                          options: { var o = TCPOptions(); o.sackBlocks.append(TCPSackBlock(start: base + 5000, end: base + 8000)); return o }()))
        // The rest arrives.
        h.inject(h.header(.ack, seq: peer.seq, ack: base + 10_000))
        #expect(custom.log.last == "exit 0")
        let info = try h.engine.info(of: c)
        #expect(info.timeouts == 0 && info.fastRecoveries == 1 && info.retransmissions == 2)
        #expect(info.bytesInFlight == 0 && info.sackedRanges == 0)
    }

    @Test("effective send MSS leaves room for the options each segment carries; windows are scaled both ways")
    func effectiveMSSAndScaledWindows() throws {
        let h = EngineHarness { $0.receiveBufferSize = 1 << 20 }
        var syn = EngineHarness.plainSynOptions(mss: 1000)
        syn.timestamp = TCPTimestampOption(value: 10, echoReply: 0)
        syn.windowScale = 4
        let (_, c, peer) = try h.establishPassive(synOptions: syn, window: 1000)
        try h.engine.setNoDelay(c, true)
        // The peer's window field is shifted by its scale: 1000 << 4 bytes.
        #expect(try h.engine.info(of: c).sendWindow == 16_000)
        _ = try h.engine.send(c, [UInt8](repeating: 1, count: 2000))
        h.poll()
        // (The handshake's completion already announced the scaled-up window with a pure ACK.)
        let segments = h.take().filter { !$0.payload.isEmpty }
        // RFC 9293 §3.7.1: 1000-byte MSS minus the 12-byte timestamp option.
        #expect(segments.map(\.payload.count) == [988, 988, 24])
        #expect(segments.allSatisfy { $0.header.length + $0.payload.count <= 1000 + 20 })
        // Our 1 MiB buffer is advertised with a shift of 5: the window field is the free space >> 5.
        #expect(try h.engine.info(of: c).receiveWindowShift == 5)
        #expect(segments.first?.header.window == 32768)
        var o = TCPOptions()
        o.timestamp = TCPTimestampOption(value: 11, echoReply: 0)
        h.inject(h.header(.ack, seq: peer.seq, ack: peer.ack + 2000, window: 0, options: o))
        #expect(try h.engine.info(of: c).sendWindow == 0)
    }

    @Test("the engine-wide congestion control choice applies to new connections")
    func engineWideCongestionControl() throws {
        let h = EngineHarness { $0.congestionControl = .cubic }
        let (_, c, _) = try h.establishPassive()
        #expect(try h.engine.info(of: c).congestionControl == "cubic")
    }

    @Test("RTT measured through timestamps tracks the simulated path")
    func rttMeasurement() throws {
        var profile = NetworkSimulator.LinkProfile()
        profile.delay = .milliseconds(25)
        let network = NetworkSimulator(profile: profile, seed: 3)
        var config = TCPConfiguration()
        config.minimumRTO = .milliseconds(100)
        config.delayedAckTimeout = .zero          // ACK every segment: RTT samples are pure path delay
        let a = TCPEngine(localAddress: testHostA, configuration: config, entropy: SeededEntropy(seed: 1))
        let b = TCPEngine(localAddress: testHostB, configuration: config, entropy: SeededEntropy(seed: 2))
        network.attach(a, at: testHostA)
        network.attach(b, at: testHostB)
        let l = try b.listen(port: 80, backlog: 1)
        let c = try a.connect(to: testHostB, port: 80, now: network.now)
        var s: TCPConnectionHandle?
        var sink: [UInt8] = []
        var sent = 0
        let data = patternBytes(count: 100_000, seed: 1)
        network.run(timeLimit: .seconds(20), step: {
            if s == nil { s = try? b.accept(l) }
            if sent < data.count, let n = try? a.send(c, Array(data[sent...])) { sent += n }
            if let s { _ = try? drain(b, s, into: &sink) }
        }, until: { sink.count == data.count })
        let info = try a.info(of: c)
        let srtt = try #require(info.smoothedRTT)
        #expect(srtt >= .milliseconds(49) && srtt <= .milliseconds(52))
        #expect(info.retransmissionTimeout >= .milliseconds(100) && info.retransmissionTimeout < .milliseconds(200))
    }
}
