import Interfaces
import Testing
@testable import TCPStack

@Suite("TCP building blocks")
struct TCPPrimitivesTests {
    @Test("SipHash-2-4 matches the published reference vectors (key 00..0f, message 00..n-1)")
    func sipHashVectors() {
        let expected: [Int: UInt64] = [
            0: 0x726f_db47_dd0e_0e31, 1: 0x74f8_39c5_93dc_67fd, 2: 0x0d6c_8009_d9a9_4f5a,
            3: 0x8567_6696_d7fb_7e2d, 4: 0xcf27_94e0_2771_87b7, 8: 0x93f5_f579_9a93_2462,
            15: 0xa129_ca61_49be_45e5, 16: 0x3f2a_cc7f_57c2_9bdb,
        ]
        for (length, value) in expected {
            var h = TCPSipHasher(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)
            let message = (0..<length).map { UInt8($0) }
            message.withUnsafeBytes { h.write($0) }
            #expect(h.finalize() == value, "length \(length)")
        }
        // Word-wise writes equal byte-wise writes (little-endian feeding).
        var a = TCPSipHasher(k0: 1, k1: 2)
        a.write(UInt32(0x0403_0201))
        a.write(UInt16(0x0605))
        var b = TCPSipHasher(k0: 1, k1: 2)
        for x: UInt8 in [1, 2, 3, 4, 5, 6] { b.write(x) }
        #expect(a.finalize() == b.finalize())
    }

    @Test("ISNs follow the 4 µs clock, differ per four-tuple and per key (RFC 6528)")
    func initialSequenceNumbers() {
        let secrets = TCPSecrets(entropy: SeededEntropy(seed: 1))
        let t1 = TCPFourTuple(localAddress: testHostA, localPort: 80, remoteAddress: testHostB, remotePort: 5000)
        let t2 = TCPFourTuple(localAddress: testHostA, localPort: 80, remoteAddress: testHostB, remotePort: 5001)
        let now = Instant(nanoseconds: 10_000_000)
        let i1 = secrets.initialSequenceNumber(t1, now: now)
        #expect(secrets.initialSequenceNumber(t1, now: now + .microseconds(400)) - i1 == 100)
        #expect(secrets.initialSequenceNumber(t2, now: now) != i1)
        let other = TCPSecrets(entropy: SeededEntropy(seed: 2))
        #expect(other.initialSequenceNumber(t1, now: now) != i1)
    }

    @Test("SYN cookies validate for two periods, encode the MSS, and reject forgeries")
    func synCookies() {
        let secrets = TCPSecrets(entropy: SeededEntropy(seed: 3))
        let tuple = TCPFourTuple(localAddress: testHostA, localPort: 80, remoteAddress: testHostB, remotePort: 6000)
        let peerISN = TCPSeqNumber(777)
        let t0 = Instant(nanoseconds: 5_000_000_000)
        let cookie = secrets.synCookie(tuple, peerISN: peerISN, peerMSS: 1400, now: t0)
        #expect(secrets.validateSynCookie(cookie, tuple, peerISN: peerISN, now: t0) == 1400)
        #expect(secrets.validateSynCookie(cookie, tuple, peerISN: peerISN, now: t0 + .seconds(100)) == 1400)
        #expect(secrets.validateSynCookie(cookie, tuple, peerISN: peerISN, now: t0 + .seconds(200)) == nil)
        for bit in 0..<32 {
            let forged = TCPSeqNumber(cookie.rawValue ^ (1 << UInt32(bit)))
            #expect(secrets.validateSynCookie(forged, tuple, peerISN: peerISN, now: t0) == nil, "bit \(bit)")
        }
        #expect(secrets.validateSynCookie(cookie, tuple, peerISN: peerISN + 1, now: t0) == nil)
        var other = tuple
        other.remotePort = 6001
        #expect(secrets.validateSynCookie(cookie, other, peerISN: peerISN, now: t0) == nil)
        // An MSS between table entries rounds down; below the table it is 536.
        let c2 = secrets.synCookie(tuple, peerISN: peerISN, peerMSS: 1000, now: t0)
        #expect(secrets.validateSynCookie(c2, tuple, peerISN: peerISN, now: t0) == 536)
        let c3 = secrets.synCookie(tuple, peerISN: peerISN, peerMSS: 9000, now: t0)
        #expect(secrets.validateSynCookie(c3, tuple, peerISN: peerISN, now: t0) == 1460)
    }

    @Test("the byte ring wraps, reads, peeks and accepts out-of-order writes")
    func byteRing() {
        let ring = TCPByteRing(capacity: 10)
        #expect([UInt8]([1, 2, 3, 4, 5, 6, 7]).withUnsafeBytes { ring.append($0) } == 7)
        var out = [UInt8](repeating: 0, count: 5)
        #expect(out.withUnsafeMutableBytes { ring.read(into: $0) } == 5)
        #expect(out == [1, 2, 3, 4, 5])
        // Now head = 5, count = 2; appending 8 more fills the ring, wrapping.
        #expect([UInt8](8...20).withUnsafeBytes { ring.append($0) } == 8)
        #expect(ring.count == 10 && ring.free == 0)
        var all = [UInt8](repeating: 0, count: 10)
        #expect(all.withUnsafeMutableBytes { ring.peek(at: 0, into: $0) } == 10)
        #expect(all == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
        var mid = [UInt8](repeating: 0, count: 3)
        #expect(mid.withUnsafeMutableBytes { ring.peek(at: 4, into: $0) } == 3)
        #expect(mid == [10, 11, 12])
        ring.discard(10)
        // Out-of-order placement then commit.
        _ = [UInt8]([30, 31]).withUnsafeBytes { ring.write(at: 3, $0) }
        _ = [UInt8]([20, 21, 22]).withUnsafeBytes { ring.write(at: 0, $0) }
        ring.commit(5)
        var five = [UInt8](repeating: 0, count: 5)
        #expect(five.withUnsafeMutableBytes { ring.read(into: $0) } == 5)
        #expect(five == [20, 21, 22, 30, 31])
    }

    @Test("the range set agrees with a bitmap model under random inserts and trims, and stays bounded")
    func rangeSetAgainstModel() {
        let random = TestRandom(seed: 5)
        for round in 0..<200 {
            let base = TCPSeqNumber(UInt32(truncatingIfNeeded: random.next()))   // exercises wraparound
            var set = TCPRangeSet(limit: 8)
            var model = [Bool](repeating: false, count: 400)
            var low = 0
            for _ in 0..<60 {
                if random.chance(0.15) {
                    low = min(low + Int(random.below(40)), 400)
                    set.removeBelow(base + low)
                    for i in 0..<low { model[i] = false }
                    continue
                }
                let s = low + Int(random.below(UInt64(400 - low)))
                let e = min(s + 1 + Int(random.below(30)), 400)
                let before = set
                if set.insert(base + s, base + e) {
                    for i in s..<e { model[i] = true }
                } else {
                    #expect(set.count == before.count, "refused insert changed the set")
                }
                #expect(set.count <= 8)
            }
            // Compare coverage byte by byte, and the range structure (sorted, disjoint, non-adjacent).
            for i in 0..<400 {
                let covered = set.range(containing: base + i) != nil
                #expect(covered == model[i], "round \(round) offset \(i)")
            }
            let ranges = set.ranges
            for i in 1..<max(ranges.count, 1) where ranges.count > 1 {
                #expect(ranges[i - 1].end < ranges[i].start)
            }
            #expect(set.coveredBytes(from: base, to: base + 400) == model.filter { $0 }.count)
        }
    }

    @Test("SACK blocks come most recent first (RFC 2018 §4)")
    func sackBlockOrder() {
        var set = TCPRangeSet(limit: 8)
        let b = TCPSeqNumber(1000)
        set.insert(b + 100, b + 200)
        set.insert(b + 300, b + 400)
        set.insert(b + 500, b + 600)
        set.insert(b + 700, b + 800)
        set.insert(b + 400, b + 450)      // extends the second range: now the most recent
        let blocks = set.recentBlocks(maximum: 3)
        #expect(blocks.count == 3)
        #expect(blocks[0] == TCPSackBlock(start: b + 300, end: b + 450))
        #expect(blocks[1] == TCPSackBlock(start: b + 700, end: b + 800))
        #expect(blocks[2] == TCPSackBlock(start: b + 500, end: b + 600))
    }

    @Test("RTO follows RFC 6298: first sample, smoothing, bounds, backoff and collapse")
    func rttEstimator() {
        var e = TCPRTTEstimator(initial: .seconds(1), minimum: .milliseconds(200), maximum: .seconds(60))
        #expect(e.retransmissionTimeout == .seconds(1))
        e.addSample(.milliseconds(100))
        // SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4·50 = 300 ms.
        #expect(e.smoothedRTT == 100_000_000)
        #expect(e.retransmissionTimeout == .milliseconds(300))
        e.addSample(.milliseconds(100))
        // RTTVAR = 3/4·50 + 0 = 37.5 ms; SRTT stays 100; RTO = 250 ms.
        #expect(e.retransmissionTimeout == .milliseconds(250))
        for _ in 0..<50 { e.addSample(.milliseconds(1)) }
        #expect(e.retransmissionTimeout == .milliseconds(200))      // clamped to the minimum
        e.backoff()
        #expect(e.retransmissionTimeout == .milliseconds(400))
        for _ in 0..<20 { e.backoff() }
        #expect(e.retransmissionTimeout == .seconds(60))            // clamped to the maximum
        e.addSample(.milliseconds(1))
        #expect(e.retransmissionTimeout == .milliseconds(200))      // a new sample collapses the backoff
    }

    @Test("NewReno: slow start, congestion avoidance, fast recovery and timeout per RFC 5681/6582")
    func newReno() {
        let cc = TCPNewReno(mss: 1000)
        cc.start(maximumSegmentSize: 1000, now: .zero)
        #expect(cc.congestionWindow == 4000)     // RFC 5681 IW for SMSS <= 1095
        func ack(_ n: Int, flight: Int = 100_000) {
            cc.onAcknowledgment(TCPAckEvent(bytesAcknowledged: n, flightSize: flight, rttSample: nil,
                                            smoothedRTT: nil, now: .zero))
        }
        ack(2000)
        #expect(cc.congestionWindow == 5000)     // slow start adds at most one SMSS per ACK
        cc.onFastRecoveryEntered(flightSize: 20_000, now: .zero)
        #expect(cc.slowStartThreshold == 10_000 && cc.congestionWindow == 10_000)
        cc.onFastRecoveryExited(flightSize: 3000, now: .zero)
        #expect(cc.congestionWindow == 4000)     // min(ssthresh, max(FlightSize, SMSS) + SMSS)
        cc.onFastRecoveryEntered(flightSize: 20_000, now: .zero)
        cc.onFastRecoveryExited(flightSize: 15_000, now: .zero)
        #expect(cc.congestionWindow == 10_000)
        // Congestion avoidance: one SMSS per cwnd of acknowledged bytes.
        for _ in 0..<10 { ack(1000) }
        #expect(cc.congestionWindow == 11_000)
        cc.onRetransmissionTimeout(flightSize: 8000, firstTimeout: true, now: .zero)
        #expect(cc.congestionWindow == 1000 && cc.slowStartThreshold == 4000)
        cc.onRetransmissionTimeout(flightSize: 8000, firstTimeout: false, now: .zero)
        #expect(cc.slowStartThreshold == 4000)   // held constant on a repeated timeout
    }

    @Test("CUBIC: cube root, multiplicative decrease, fast convergence and the cubic growth curve (RFC 9438)")
    func cubic() {
        for x in [0.0, 1, 8, 27, 1000, 12_345.678, 1e9, -8] {
            let r = TCPCubic.cubeRoot(x)
            #expect(abs(r * r * r - x) <= max(abs(x) * 1e-9, 1e-9), "cbrt(\(x)) = \(Int(r * 1000))e-3")
        }
        let mss = 1000
        let cc = TCPCubic(mss: mss)
        cc.start(maximumSegmentSize: mss, now: .zero)
        // Grow to 100 segments in slow start, then lose.
        var now = Instant(nanoseconds: 1_000_000_000)
        while cc.congestionWindow < 100 * mss {
            cc.onAcknowledgment(TCPAckEvent(bytesAcknowledged: mss, flightSize: cc.congestionWindow,
                                            rttSample: nil, smoothedRTT: .milliseconds(100), now: now))
        }
        cc.onFastRecoveryEntered(flightSize: 100 * mss, now: now)
        #expect(cc.slowStartThreshold == 70 * mss)          // β = 0.7
        #expect(cc.congestionWindow == 70 * mss)
        cc.onFastRecoveryExited(flightSize: 70 * mss, now: now)
        // K = cbrt((100 − 70) / 0.4) ≈ 4.217 s: the window is back near W_max = 100 after about K seconds,
        // concave before (well below 100 at K/2) and beyond it later.
        let k = TCPCubic.cubeRoot(30 / 0.4)
        var windowAtHalfK = 0
        var windowAtK = 0
        let step = Duration.milliseconds(100)
        var elapsed = Duration.zero
        while elapsed < .seconds(8) {
            // One RTT worth of ACKs, one segment each.
            let acks = cc.congestionWindow / mss
            for _ in 0..<acks {
                cc.onAcknowledgment(TCPAckEvent(bytesAcknowledged: mss, flightSize: cc.congestionWindow,
                                                rttSample: .milliseconds(100), smoothedRTT: .milliseconds(100),
                                                now: now))
            }
            now = now + step
            elapsed += step
            let seconds = Double(elapsed.nanosecondsClamped) / 1e9
            if windowAtHalfK == 0 && seconds >= k / 2 { windowAtHalfK = cc.congestionWindow / mss }
            if windowAtK == 0 && seconds >= k { windowAtK = cc.congestionWindow / mss }
        }
        #expect(windowAtHalfK > 85 && windowAtHalfK < 100)
        #expect(windowAtK >= 97 && windowAtK <= 106)
        #expect(cc.congestionWindow / mss > 110)               // convex region beyond W_max
        // Fast convergence: a loss below the previous W_max remembers a reduced W_max.
        let before = cc.congestionWindow
        cc.onFastRecoveryEntered(flightSize: before, now: now)
        #expect(cc.congestionWindow == Int(Double(before) * 0.7))
        cc.onRetransmissionTimeout(flightSize: 10 * mss, firstTimeout: true, now: now)
        #expect(cc.congestionWindow == mss)
    }
}
