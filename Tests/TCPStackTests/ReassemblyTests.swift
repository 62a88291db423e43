import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// Builds IPv4 fragments of one datagram and feeds them to a reassembler.
private struct FragmentFeeder {
    var reassembler: IPv4Reassembler
    var delivered: [[UInt8]] = []
    var deliveredHeaders: [[UInt8]] = []
    var expired: [([UInt8], [UInt8])] = []
    var source = IPv4Address(10, 0, 0, 1)
    var destination = IPv4Address(10, 0, 0, 2)

    init(configuration: IPv4ReassemblyConfiguration = IPv4ReassemblyConfiguration()) {
        reassembler = IPv4Reassembler(configuration: configuration)
    }

    mutating func feed(_ data: [UInt8], offset: Int, more: Bool, id: UInt16 = 7, at now: Instant = .zero) {
        let frame = S.ipv4Frame(from: S.macA, to: S.macB, source: source, destination: destination,
                                protocolNumber: 17, payload: data, identification: id, moreFragments: more,
                                fragmentOffset: offset)
        let ip = Array(frame[14...])
        ip.withUnsafeBytes { bytes in
            let packet = try! IPv4Packet(validating: bytes)
            reassembler.accept(packet, now: now) { header, payload in
                delivered.append(Array(payload))
                deliveredHeaders.append(Array(header))
            }
        }
    }

    /// Feeds `data[start..<end]` of `whole` as a fragment.
    mutating func piece(_ whole: [UInt8], _ start: Int, _ end: Int, id: UInt16 = 7, at now: Instant = .zero) {
        feed(Array(whole[start..<end]), offset: start, more: end < whole.count, id: id, at: now)
    }

    mutating func poll(_ now: Instant) {
        reassembler.poll(now: now) { header, prefix in expired.append((Array(header), Array(prefix))) }
    }
}

@Suite struct ReassemblyTests {
    let data: [UInt8] = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }

    @Test func inOrder() {
        var f = FragmentFeeder()
        f.piece(data, 0, 1480)
        f.piece(data, 1480, 2960)
        #expect(f.delivered.isEmpty)
        f.piece(data, 2960, 3000)
        #expect(f.delivered == [data])
        #expect(f.reassembler.pendingDatagrams == 0)
        #expect(f.reassembler.counters.datagramsReassembled == 1)
        #expect(f.reassembler.counters.fragmentsReceived == 3)
        // The header handed over is the first fragment's.
        #expect(f.deliveredHeaders.first?.count == 20)
    }

    @Test func outOfOrder() {
        var f = FragmentFeeder()
        f.piece(data, 2960, 3000)
        f.piece(data, 0, 1480)
        #expect(f.delivered.isEmpty)
        f.piece(data, 1480, 2960)
        #expect(f.delivered == [data])
    }

    @Test func identicalOverlapsAndDuplicatesAccepted() {
        var f = FragmentFeeder()
        f.piece(data, 0, 1000)
        f.piece(data, 0, 1000)       // exact duplicate
        f.piece(data, 800, 2000)     // overlaps 800..<1000 with identical bytes
        f.piece(data, 1600, 3000)    // last, overlapping again
        #expect(f.delivered == [data])
        #expect(f.reassembler.counters.duplicates == 1)
        #expect(f.reassembler.counters.overlapConflicts == 0)
    }

    @Test func conflictingOverlapDiscardsDatagram() {
        var f = FragmentFeeder()
        f.piece(data, 0, 1000)
        var altered = Array(data[800..<2000])
        altered[50] ^= 0xFF           // byte 850 differs from what was received
        f.feed(altered, offset: 800, more: true)
        #expect(f.reassembler.counters.overlapConflicts == 1)
        #expect(f.reassembler.pendingDatagrams == 0)
        // The rest of the datagram alone cannot complete it: it starts a new, incomplete one.
        f.piece(data, 1000, 3000)
        #expect(f.delivered.isEmpty)
    }

    @Test func timeoutReportsFirstFragmentForICMP() {
        var config = IPv4ReassemblyConfiguration()
        config.timeout = .seconds(30)
        var f = FragmentFeeder(configuration: config)
        f.piece(data, 0, 1480, at: Instant(nanoseconds: 1_000))
        f.piece(data, 2960, 3000, id: 8, at: Instant(nanoseconds: 1_000))   // another datagram, no first fragment
        #expect(f.reassembler.nextDeadline == Instant(nanoseconds: 1_000) + .seconds(30))
        f.poll(Instant(nanoseconds: 1_000) + .seconds(29))
        #expect(f.expired.isEmpty)
        f.poll(Instant(nanoseconds: 1_000) + .seconds(30))
        #expect(f.reassembler.counters.timeouts == 2)
        #expect(f.expired.count == 1, "only the datagram whose first fragment arrived is reported")
        #expect(f.expired.first?.1 == Array(data.prefix(8)))
        #expect(f.reassembler.pendingDatagrams == 0)
        #expect(f.reassembler.nextDeadline == nil)
        // The late last fragment starts afresh and never completes alone.
        f.piece(data, 1480, 3000)
        #expect(f.delivered.isEmpty)
    }

    @Test func memoryLimitEvictsOldest() {
        var config = IPv4ReassemblyConfiguration()
        config.memoryLimit = 2500
        var f = FragmentFeeder(configuration: config)
        f.piece(data, 0, 1480, id: 1)            // datagram 1: 1480 bytes + chunk overhead + 20-byte header
        #expect(f.reassembler.bufferedBytes == 1480 + IPv4Reassembler.chunkOverhead + 20)
        f.piece(data, 1480, 2960, id: 2)         // datagram 2 needs 1480 + overhead: datagram 1 must go
        #expect(f.reassembler.counters.evictions == 1)
        #expect(f.reassembler.pendingDatagrams == 1)
        #expect(f.reassembler.bufferedBytes == 1480 + IPv4Reassembler.chunkOverhead)
        // A fragment that cannot fit even alone discards its own datagram.
        var tight = IPv4ReassemblyConfiguration()
        tight.memoryLimit = 1000
        var g = FragmentFeeder(configuration: tight)
        g.piece(data, 0, 1480)
        #expect(g.reassembler.pendingDatagrams == 0)
        #expect(g.reassembler.counters.evictions == 1)
        #expect(g.reassembler.bufferedBytes == 0)
    }

    @Test func sparseFragmentsCostOnlyWhatTheyHold() {
        var config = IPv4ReassemblyConfiguration()
        config.memoryLimit = 4000
        config.maximumDatagrams = 16
        var f = FragmentFeeder(configuration: config)
        f.piece(data, 0, 1480, id: 1)
        // Ten tiny fragments near the 64 KiB end of other datagrams: 8 bytes each, not 64 KiB each.
        for k in 0..<10 { f.feed(Array(repeating: 0xEE, count: 8), offset: 65_000, more: true, id: UInt16(100 + k)) }
        #expect(f.reassembler.counters.evictions == 0)
        f.piece(data, 1480, 3000, id: 1)
        #expect(f.delivered == [data])
    }

    @Test func datagramLimitEvictsOldest() {
        var config = IPv4ReassemblyConfiguration()
        config.maximumDatagrams = 2
        var f = FragmentFeeder(configuration: config)
        f.piece(data, 0, 8, id: 1)
        f.piece(data, 0, 8, id: 2)
        f.piece(data, 0, 8, id: 3)
        #expect(f.reassembler.pendingDatagrams == 2)
        #expect(f.reassembler.counters.evictions == 1)
        // Datagram 1 is gone: completing it is impossible now; datagram 3 still completes.
        f.feed(Array(data[8..<16]), offset: 8, more: false, id: 1)
        #expect(f.delivered.isEmpty)
        f.feed(Array(data[8..<16]), offset: 8, more: false, id: 3)
        #expect(f.delivered == [Array(data[0..<16])])
    }

    @Test func hostileFragmentsRejected() {
        var f = FragmentFeeder()
        // Non-final fragment whose length is not a multiple of 8.
        f.feed(Array(repeating: 1, count: 13), offset: 0, more: true)
        #expect(f.reassembler.counters.malformed == 1)
        // Ping of death: data reaching past 65535 bytes of IP datagram.
        f.feed(Array(repeating: 1, count: 40), offset: 65_512, more: false)
        #expect(f.reassembler.counters.malformed == 2)
        #expect(f.reassembler.pendingDatagrams == 0)
        // Inconsistent ends: a second "last" fragment with a different end discards the datagram.
        f.piece(data, 0, 8, id: 5)
        f.feed(Array(data[16..<24]), offset: 16, more: false, id: 5)
        f.feed(Array(data[8..<32]), offset: 8, more: false, id: 5)
        #expect(f.reassembler.counters.malformed == 3)
        #expect(f.reassembler.pendingDatagrams == 0)
        // Data beyond a known end.
        f.feed(Array(data[16..<24]), offset: 16, more: false, id: 6)
        f.feed(Array(data[24..<32]), offset: 24, more: true, id: 6)
        #expect(f.reassembler.counters.malformed == 4)
        // A last fragment that ends before data already received.
        f.feed(Array(data[32..<40]), offset: 32, more: true, id: 9)
        f.feed(Array(data[8..<16]), offset: 8, more: false, id: 9)
        #expect(f.reassembler.counters.malformed == 5)
        #expect(f.delivered.isEmpty)
    }

    @Test func tooManyFragmentsDiscards() {
        var config = IPv4ReassemblyConfiguration()
        config.maximumFragmentsPerDatagram = 4
        var f = FragmentFeeder(configuration: config)
        for i in 0..<5 { f.piece(data, i * 16, i * 16 + 8) }   // leaves holes, never completes
        #expect(f.reassembler.counters.malformed == 1)
        #expect(f.reassembler.pendingDatagrams == 0)
    }

    /// Random fragmentations (with identical overlaps and duplicates) in random orders always reassemble to
    /// the original, compared against the model "the datagram itself".
    @Test func randomFragmentationProperty() {
        let rng = SeededEntropy(seed: 0xF4A6)
        for round in 0..<300 {
            let size = 8 + Int(rng.next64() % 4000)
            let whole = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
            var pieces: [(Int, Int)] = []
            var start = 0
            while start < size {
                let units = 1 + Int(rng.next64() % 64)
                let end = min(size, start + units * 8)
                pieces.append((start, end))
                // Sometimes an overlapping copy of a neighbouring region.
                if rng.next64() % 4 == 0 {
                    let back = max(0, start - 8 * Int(rng.next64() % 4))
                    pieces.append((back, end))
                }
                start = end
            }
            for i in stride(from: pieces.count - 1, to: 0, by: -1) {
                pieces.swapAt(i, Int(rng.next64() % UInt64(i + 1)))
            }
            var f = FragmentFeeder()
            for (s, e) in pieces { f.piece(whole, s, e, id: UInt16(round)) }
            // The datagram is delivered intact. Copies arriving after completion start a new datagram, which
            // either completes again (IP may duplicate datagrams) or times out; it never yields other bytes.
            #expect(!f.delivered.isEmpty, "round \(round)")
            #expect(f.delivered.allSatisfy { $0 == whole }, "round \(round)")
            #expect(f.reassembler.counters.overlapConflicts == 0)
            f.poll(Instant.zero + .seconds(30))
            #expect(f.reassembler.pendingDatagrams == 0)
        }
    }
}
