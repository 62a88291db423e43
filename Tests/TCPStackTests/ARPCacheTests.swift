import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

@Suite struct ARPCacheTests {
    let a = IPv4Address(10, 0, 0, 1), b = IPv4Address(10, 0, 0, 2), c = IPv4Address(10, 0, 0, 3)

    func at(_ seconds: Int) -> Instant { Instant(nanoseconds: UInt64(seconds) * 1_000_000_000) }
    func atMillis(_ ms: Int) -> Instant { Instant(nanoseconds: UInt64(ms) * 1_000_000) }

    /// Queues a packet whose bytes are `[tag, tag, ...]`.
    func enqueue(_ cache: inout ARPCache, _ hop: IPv4Address, tag: UInt8, length: Int = 40, now: Instant) -> ARPEnqueueResult {
        cache.enqueue(nextHop: hop, length: length, now: now) { buffer in
            for i in 0..<buffer.count { buffer[i] = tag }
        }
    }

    @Test func learnsLooksUpAndExpires() {
        var cache = ARPCache(packetCapacity: 1500)
        #expect(cache.lookup(a, now: at(0)) == nil)
        cache.update(a, mac: S.macA, now: at(0), create: false) { _ in true }
        #expect(cache.lookup(a, now: at(0)) == nil, "not created when not addressed to us and not resolving")
        cache.update(a, mac: S.macA, now: at(0), create: true) { _ in true }
        #expect(cache.lookup(a, now: at(59)) == S.macA)
        // A refresh extends the lifetime; a known entry is updated even without `create`.
        cache.update(a, mac: S.macB, now: at(30), create: false) { _ in true }
        #expect(cache.lookup(a, now: at(89)) == S.macB)
        #expect(cache.lookup(a, now: at(90)) == nil)
        #expect(cache.count == 0)
    }

    @Test func boundedSizeEvictsClosestToExpiry() {
        var config = ARPConfiguration()
        config.capacity = 2
        var cache = ARPCache(configuration: config, packetCapacity: 100)
        cache.insert(a, mac: S.macA, now: at(0))
        cache.insert(b, mac: S.macB, now: at(1))
        cache.insert(c, mac: S.macC, now: at(2))
        #expect(cache.count == 2)
        #expect(cache.counters.evictions == 1)
        #expect(cache.lookup(a, now: at(3)) == nil)
        #expect(cache.lookup(b, now: at(3)) == S.macB)
        #expect(cache.lookup(c, now: at(3)) == S.macC)
    }

    @Test func queuesUntilResolvedThenFlushesInOrder() {
        var cache = ARPCache(packetCapacity: 1500)
        #expect(enqueue(&cache, a, tag: 1, now: at(0)) == .queuedSendRequest)
        #expect(enqueue(&cache, a, tag: 2, length: 60, now: at(0)) == .queued)
        #expect(enqueue(&cache, b, tag: 9, now: at(0)) == .queuedSendRequest)
        #expect(cache.queuedPackets == 3)
        #expect(cache.isResolving(a))
        var flushed: [[UInt8]] = []
        // A reply from `a`, even if not addressed to us, resolves it because a resolution is in progress.
        cache.update(a, mac: S.macA, now: atMillis(300), create: false) { flushed.append(Array($0)); return true }
        #expect(flushed == [Array(repeating: 1, count: 40), Array(repeating: 2, count: 60)])
        #expect(cache.lookup(a, now: atMillis(300)) == S.macA)
        #expect(!cache.isResolving(a))
        #expect(cache.queuedPackets == 1)
        #expect(cache.counters.packetsQueued == 3)
        #expect(cache.counters.requestsSent == 2)
    }

    @Test func queueLimitsDropAndCount() {
        var config = ARPConfiguration()
        config.maximumQueuedPerDestination = 2
        config.maximumQueuedTotal = 3
        config.maximumResolutions = 2
        var cache = ARPCache(configuration: config, packetCapacity: 100)
        #expect(enqueue(&cache, a, tag: 1, now: at(0)) == .queuedSendRequest)
        #expect(enqueue(&cache, a, tag: 2, now: at(0)) == .queued)
        #expect(enqueue(&cache, a, tag: 3, now: at(0)) == .dropped, "per-destination limit")
        #expect(enqueue(&cache, b, tag: 4, now: at(0)) == .queuedSendRequest)
        #expect(enqueue(&cache, c, tag: 5, now: at(0)) == .dropped, "resolution limit")
        #expect(enqueue(&cache, b, tag: 6, now: at(0)) == .dropped, "total limit")
        #expect(enqueue(&cache, b, tag: 7, length: 101, now: at(0)) == .dropped, "larger than a slot")
        #expect(cache.counters.queueDrops == 4)
        #expect(cache.queuedPackets == 3)
        // Flushing frees slots for reuse.
        cache.update(a, mac: S.macA, now: at(0), create: false) { _ in true }
        #expect(enqueue(&cache, b, tag: 8, now: at(0)) == .queued)
    }

    @Test func retransmitsThenGivesUp() {
        var config = ARPConfiguration()
        config.requestInterval = .seconds(1)
        config.maximumRequests = 3
        var cache = ARPCache(configuration: config, packetCapacity: 100)
        #expect(enqueue(&cache, a, tag: 1, now: at(0)) == .queuedSendRequest)
        #expect(enqueue(&cache, a, tag: 2, now: at(0)) == .queued)
        var requests: [(Int, IPv4Address)] = []
        #expect(cache.nextDeadline == at(1))
        for ms in stride(from: 0, through: 4000, by: 250) {
            cache.poll(now: atMillis(ms)) { requests.append((ms, $0)) }
        }
        // Request 1 at enqueue (t=0), retransmissions at 1 s and 2 s, give-up at 3 s.
        #expect(requests.map { $0.0 } == [1000, 2000])
        #expect(requests.allSatisfy { $0.1 == a })
        #expect(cache.counters.requestsSent == 3)
        #expect(cache.counters.resolutionFailures == 1)
        #expect(cache.counters.packetsDroppedUnresolved == 2)
        #expect(cache.queuedPackets == 0)
        #expect(cache.nextDeadline == nil)
        // A later packet starts a new resolution.
        #expect(enqueue(&cache, a, tag: 3, now: at(5)) == .queuedSendRequest)
    }

    @Test func flushFailuresCounted() {
        var cache = ARPCache(packetCapacity: 100)
        _ = enqueue(&cache, a, tag: 1, now: at(0))
        _ = enqueue(&cache, a, tag: 2, now: at(0))
        cache.update(a, mac: S.macA, now: at(0), create: true) { _ in false }
        #expect(cache.counters.flushDrops == 2)
    }

    @Test func removeAllDropsQueued() {
        var cache = ARPCache(packetCapacity: 100)
        cache.insert(b, mac: S.macB, now: at(0))
        _ = enqueue(&cache, a, tag: 1, now: at(0))
        cache.removeAll()
        #expect(cache.count == 0 && cache.queuedPackets == 0 && cache.nextDeadline == nil)
        #expect(cache.counters.packetsDroppedUnresolved == 1)
    }
}

@Suite struct TokenBucketTests {
    @Test func burstThenSteadyRate() {
        var bucket = TokenBucket(burst: 3, interval: .milliseconds(100))
        func take(_ t: Instant) -> Bool { bucket.take(now: t) }
        let t0 = Instant(nanoseconds: 1_000_000_000)
        #expect(take(t0) && take(t0) && take(t0))
        #expect(!take(t0))
        #expect(!take(t0 + .milliseconds(99)))
        #expect(take(t0 + .milliseconds(100)))
        #expect(!take(t0 + .milliseconds(150)))
        #expect(take(t0 + .milliseconds(200)))
        // A long pause refills only up to the burst.
        let later = t0 + .seconds(10)
        #expect(take(later) && take(later) && take(later))
        #expect(!take(later))
    }
}

@Suite struct DatagramQueueTests {
    @Test func wrapsTruncatesAndBounds() {
        var q = DatagramQueue(datagrams: 3, bytes: 10)
        let src = IPv4Address(1, 2, 3, 4)
        func push(_ bytes: [UInt8]) -> Bool {
            bytes.withUnsafeBytes { q.push(source: src, sourcePort: 9, destination: .broadcast, payload: $0) }
        }
        func pop(_ capacity: Int) -> (UDPReceiveInfo, [UInt8])? {
            var out = [UInt8](repeating: 0, count: capacity)
            guard let info = out.withUnsafeMutableBytes({ q.pop(into: $0) }) else { return nil }
            return (info, Array(out.prefix(info.copied)))
        }
        #expect(push([1, 2, 3, 4]))
        #expect(push([5, 6, 7, 8, 9]))
        #expect(!push([10, 11]), "byte ring full")
        #expect(pop(10)?.1 == [1, 2, 3, 4])
        #expect(push([10, 11, 12]))   // wraps around the end of the ring
        #expect(push([]))
        #expect(!push([13]), "datagram ring full")
        let second = pop(2)
        #expect(second?.1 == [5, 6])
        #expect(second?.0.length == 5 && second?.0.isTruncated == true)
        let third = pop(10)
        #expect(third?.1 == [10, 11, 12] && third?.0.source == src && third?.0.sourcePort == 9)
        #expect(pop(10)?.0.length == 0)
        #expect(pop(10) == nil)
    }

    /// Random pushes and pops (with random buffer sizes) against an array model of a bounded FIFO.
    @Test func randomOperationsMatchModel() {
        let rng = SeededEntropy(seed: 0xD47A)
        var q = DatagramQueue(datagrams: 8, bytes: 300)
        var model: [[UInt8]] = []
        var modelBytes = 0
        for step in 0..<20_000 {
            if rng.next64() % 2 == 0 {
                let payload = (0..<Int(rng.next64() % 90)).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
                let fits = model.count < 8 && modelBytes + payload.count <= 300
                let pushed = payload.withUnsafeBytes {
                    q.push(source: IPv4Address(UInt32(step)), sourcePort: UInt16(truncatingIfNeeded: step),
                           destination: .any, payload: $0)
                }
                #expect(pushed == fits)
                if fits { model.append(payload); modelBytes += payload.count }
            } else {
                var out = [UInt8](repeating: 0, count: Int(rng.next64() % 100))
                let info = out.withUnsafeMutableBytes { q.pop(into: $0) }
                if model.isEmpty {
                    #expect(info == nil)
                } else {
                    let expected = model.removeFirst()
                    modelBytes -= expected.count
                    #expect(info?.length == expected.count)
                    let copied = min(expected.count, out.count)
                    #expect(info?.copied == copied)
                    #expect(Array(out.prefix(copied)) == Array(expected.prefix(copied)))
                }
            }
            #expect(q.count == model.count)
        }
    }
}
