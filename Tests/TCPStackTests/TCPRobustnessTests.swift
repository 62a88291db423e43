import Interfaces
import Testing
@testable import TCPStack

@Suite("TCP robustness against hostile and random input")
struct TCPRobustnessTests {
    @Test("random segments aimed at a live connection never trap and never break its invariants (seeded)")
    func randomSegmentsAgainstLiveConnection() throws {
        let random = TestRandom(seed: 2024)
        var resets = 0
        for round in 0..<40 {
            let h = EngineHarness { $0.receiveBufferSize = 8192; $0.sendBufferSize = 8192 }
            var syn = EngineHarness.plainSynOptions(mss: UInt16(200 + random.below(1300)))
            syn.sackPermitted = random.chance(0.5)
            syn.windowScale = random.chance(0.5) ? UInt8(random.below(15)) : nil
            let (_, c, _) = try h.establishPassive(peerISS: UInt32(truncatingIfNeeded: random.next()),
                                                      synOptions: syn)
            for _ in 0..<400 {
                guard let tcb = h.engine.controlBlock(c) else { break }
                // The application does random things.
                switch random.below(6) {
                case 0: _ = try? h.engine.send(c, patternBytes(count: Int(random.below(3000)), seed: random.next()))
                case 1: _ = try? h.receiveAll(c)
                case 2: h.advance(.milliseconds(Int64(random.below(3000))))
                case 3 where random.chance(0.05): try? h.engine.shutdown(c)
                default: break
                }
                // The peer (or an attacker) sends a random segment near the windows.
                var flags = TCPFlags(rawValue: UInt8(truncatingIfNeeded: random.next()) & 0x3F)
                if random.chance(0.7) { flags = flags.subtracting([.syn, .rst]) }
                if random.chance(0.8) { flags.insert(.ack) }
                let seq = random.chance(0.1) ? tcb.rcvNxt
                    : random.chance(0.6) ? tcb.rcvNxt + (Int(random.below(20000)) - 10000)
                    : TCPSeqNumber(UInt32(truncatingIfNeeded: random.next()))
                let ack = random.chance(0.7) ? tcb.sndUna + (Int(random.below(12000)) - 2000)
                    : TCPSeqNumber(UInt32(truncatingIfNeeded: random.next()))
                var options = TCPOptions()
                if random.chance(0.3) {
                    for _ in 0..<Int(random.below(4)) {
                        let s = tcb.sndUna + (Int(random.below(12000)) - 2000)
                        options.sackBlocks.append(TCPSackBlock(start: s, end: s + (Int(random.below(4000)) - 500)))
                    }
                }
                let payload = patternBytes(count: random.chance(0.5) ? Int(random.below(1500)) : 0, seed: random.next())
                h.inject(h.header(flags, seq: seq, ack: ack, window: UInt16(truncatingIfNeeded: random.next()),
                                  options: options), payload: payload)
                if random.chance(0.3) { h.poll() }
                _ = h.take()
                if let problem = h.engine.controlBlock(c)?.invariantViolation() {
                    Issue.record("round \(round): \(problem)")
                    return
                }
                if (try? h.engine.error(of: c)) != nil {     // failed (reset or timed out)
                    resets += 1
                    break
                }
            }
        }
        // Exact-match RSTs (10 % of segments carry SEQ = RCV.NXT) end some rounds early; the rest run their
        // 400 steps. Either way no invariant broke and nothing trapped.
        #expect(resets > 0 && resets < 40)
    }

    @Test("an off-path attacker's random segments during a transfer neither corrupt nor stop it")
    func blindInjectionDuringTransfer() {
        let random = TestRandom(seed: 77)
        var injected = 0
        let network = NetworkSimulator(profile: TCPTransferTests.lossyPath(loss: 0.02), seed: 78)
        var config = TCPConfiguration()
        config.minimumRTO = .milliseconds(200)
        let client = TCPEngine(localAddress: testHostA, configuration: config, entropy: SeededEntropy(seed: 1))
        let server = TCPEngine(localAddress: testHostB, configuration: config, entropy: SeededEntropy(seed: 2))
        network.attach(client, at: testHostA)
        network.attach(server, at: testHostB)
        let listener = try! server.listen(port: 80, backlog: 1)
        let c = try! client.connect(to: testHostB, port: 80, now: network.now)
        let clientPort = try! client.endpoints(of: c).localPort
        var s: TCPConnectionHandle?
        let data = patternBytes(count: 300_000, seed: 5)
        var sent = 0
        var got: [UInt8] = []
        let sink: IPv4Send = { _, _, _, _ in true }
        let ok = network.run(timeLimit: .seconds(300), step: {
            if s == nil { s = try? server.accept(listener) }
            while sent < data.count {
                let n = data[sent..<min(sent + 8192, data.count)].withUnsafeBytes { (try? client.send(c, $0)) ?? 0 }
                if n == 0 { break }
                sent += n
            }
            if let s { _ = try? drain(server, s, into: &got) }
            // Ten forged segments per step with the right four-tuple, random everything else (and sometimes
            // garbage bytes).
            for _ in 0..<10 {
                injected += 1
                if random.chance(0.2) {
                    let junk = patternBytes(count: Int(random.below(70)), seed: random.next())
                    junk.withUnsafeBytes {
                        server.receive($0, source: testHostA, destination: testHostB, now: network.now, send: sink)
                    }
                    continue
                }
                var flags = TCPFlags(rawValue: UInt8(truncatingIfNeeded: random.next()) & 0x3F)
                if random.chance(0.5) { flags.insert(.ack) }
                let header = TCPHeader(sourcePort: clientPort, destinationPort: 80,
                                       sequenceNumber: TCPSeqNumber(UInt32(truncatingIfNeeded: random.next())),
                                       acknowledgmentNumber: TCPSeqNumber(UInt32(truncatingIfNeeded: random.next())),
                                       flags: flags, window: 1000)
                let bytes = buildSegment(header, payload: random.chance(0.5) ? [6, 6, 6] : [],
                                         source: testHostA, destination: testHostB)
                bytes.withUnsafeBytes {
                    server.receive($0, source: testHostA, destination: testHostB, now: network.now, send: sink)
                }
            }
        }, until: { got.count >= data.count })
        #expect(ok)
        #expect(got == data)
        #expect(injected > 1000)
    }
}
