import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// Two statically configured stacks on one simulated switch.
private struct Pair {
    let clock = ManualClock()
    let net: SimulatedNetwork
    let a: NetworkStack<SimulatedDevice>
    let b: NetworkStack<SimulatedDevice>
    let addressA = IPv4Address(192, 168, 7, 1)
    let addressB = IPv4Address(192, 168, 7, 2)

    init(seed: UInt64, conditions: LinkConditions = LinkConditions()) {
        net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: seed), conditions: conditions)
        a = net.addHost(mac: S.macA, addressing: .static(IPv4InterfaceConfiguration(address: addressA, prefixLength: 24)),
                        entropy: SeededEntropy(seed: seed &+ 1))
        b = net.addHost(mac: S.macB, addressing: .static(IPv4InterfaceConfiguration(address: addressB, prefixLength: 24)),
                        entropy: SeededEntropy(seed: seed &+ 2))
    }

    func run(for d: Duration, step: Duration? = nil, until stop: () -> Bool = { false }) -> Bool {
        net.run(until: clock.now + d, maximumStep: step, stop: stop)
    }
}

@Suite struct SimulatedNetworkTests {
    @Test func pingEndToEnd() throws {
        let p = Pair(seed: 1)
        _ = p.run(for: .milliseconds(1))      // first polls: configuration and announcements
        let data = Array("hello across the wire".utf8)
        try p.a.sendEchoRequest(to: p.addressB, identifier: 0x77, sequenceNumber: 1, payload: data)
        var reply: ICMPEchoReply? = nil
        #expect(p.run(for: .seconds(1)) { reply = p.a.receiveEchoReply(); return reply != nil })
        #expect(reply?.source == p.addressB && reply?.identifier == 0x77 && reply?.sequenceNumber == 1)
        #expect(reply?.payload == data)
        // The exchange needed ARP both ways: a asked for b; b learned a from that request.
        #expect(p.a.counters.arp.requestsSent == 1 && p.b.counters.arp.repliesSent == 1)
        #expect(p.b.counters.arp.requestsSent == 0)
        #expect(p.b.counters.icmp.echoRepliesSent == 1)
        // Round trip well under a millisecond of simulated time (100 µs per hop).
        #expect(p.clock.now < Instant(nanoseconds: 2_000_000))
    }

    /// A UDP echo server on b; a sends 200 numbered datagrams over a lossy link, retrying each until its echo
    /// arrives. Every datagram comes back intact.
    @Test(arguments: [0.0, 0.1, 0.3])
    func udpEchoWithLoss(loss: Double) throws {
        let p = Pair(seed: 7, conditions: LinkConditions(lossRate: loss, delay: .microseconds(200)))
        let server = try p.b.udpBind(port: 7)
        let client = try p.a.udpBind()
        var received: [Int: [UInt8]] = [:]
        var lastSent = Instant.zero
        var current = 0
        func message(_ i: Int) -> [UInt8] { (0..<(16 + i % 64)).map { UInt8(truncatingIfNeeded: $0 &+ i) } }
        let done = p.run(for: .seconds(120), step: .milliseconds(1)) {
            // Server: echo everything.
            while let (info, data) = try! p.b.udpReceive(server) {
                _ = try? p.b.udpSend(server, to: info.source, port: info.sourcePort, payload: data)
            }
            // Client: collect echoes; (re)send the current datagram every 20 ms.
            while let (_, data) = try! p.a.udpReceive(client) {
                let n = Int(data[0]) | Int(data[1]) << 8
                received[n] = Array(data[2...])
            }
            while received[current] != nil { current += 1 }
            if current == 200 { return true }
            if p.clock.now >= lastSent + .milliseconds(20) || lastSent == .zero {
                lastSent = p.clock.now
                let payload = [UInt8(current & 0xFF), UInt8(current >> 8)] + message(current)
                _ = try? p.a.udpSend(client, to: p.addressB, port: 7, payload: payload)
            }
            return false
        }
        #expect(done)
        #expect(received.count == 200)
        for i in 0..<200 { #expect(received[i] == message(i)) }
        if loss > 0 { #expect(p.net.statistics.framesLost > 0) }
    }

    @Test func duplicationAndReorderingDeliverEveryDatagram() throws {
        let p = Pair(seed: 11, conditions: LinkConditions(duplicateRate: 0.3, reorderRate: 0.3, delay: .microseconds(100),
                                                          jitter: .microseconds(300), reorderDelay: .milliseconds(2)))
        let server = try p.b.udpBind(port: 9)
        let client = try p.a.udpBind()
        _ = p.run(for: .milliseconds(5))
        // Resolve first so the datagrams are not held in the ARP queue.
        try p.a.sendEchoRequest(to: p.addressB, identifier: 1, sequenceNumber: 1)
        _ = p.run(for: .milliseconds(50))
        for i in 0..<100 { try p.a.udpSend(client, to: p.addressB, port: 9, payload: [UInt8(i)]) }
        var seen: [UInt8] = []
        _ = p.run(for: .milliseconds(50)) {
            while let (_, data) = try! p.b.udpReceive(server) { seen.append(data[0]) }
            return false
        }
        #expect(try p.b.udpDrops(server) == 0)
        #expect(Set(seen) == Set(0..<100))
        #expect(seen.count > 100, "some datagrams were duplicated")
        #expect(seen != seen.sorted(), "some datagrams were reordered")
        #expect(p.net.statistics.framesDuplicated > 0 && p.net.statistics.framesReordered > 0)
    }

    @Test func deterministicForASeed() throws {
        func trace(seed: UInt64) throws -> [[UInt8]] {
            let p = Pair(seed: seed, conditions: LinkConditions(lossRate: 0.2, duplicateRate: 0.1, jitter: .milliseconds(1)))
            var frames: [[UInt8]] = []
            p.net.onFrame = { _, frame in frames.append(frame) }
            let client = try p.a.udpBind()
            _ = try p.b.udpBind(port: 9)
            _ = p.run(for: .milliseconds(1))
            for i in 0..<50 {
                _ = try? p.a.udpSend(client, to: p.addressB, port: 9, payload: [UInt8(i)])
                _ = p.run(for: .milliseconds(3))
            }
            _ = p.run(for: .seconds(5))
            return frames
        }
        let first = try trace(seed: 99)
        #expect(try trace(seed: 99) == first)
        #expect(try trace(seed: 100) != first)
    }

    @Test func switchLearnsAndDoesNotFloodUnicast() throws {
        let clock = ManualClock()
        let net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: 3))
        let config = { (d: UInt8) in IPv4Addressing.static(IPv4InterfaceConfiguration(address: IPv4Address(10, 1, 1, d), prefixLength: 24)) }
        let a = net.addHost(mac: S.macA, addressing: config(1), entropy: SeededEntropy(seed: 4))
        _ = net.addHost(mac: S.macB, addressing: config(2), entropy: SeededEntropy(seed: 5))
        let c = net.addHost(mac: S.macC, addressing: config(3), entropy: SeededEntropy(seed: 6))
        _ = net.run(until: clock.now + .milliseconds(1))
        try a.sendEchoRequest(to: IPv4Address(10, 1, 1, 2), identifier: 1, sequenceNumber: 1)
        #expect(net.run(until: clock.now + .seconds(1)) { a.receiveEchoReply() != nil })
        // c saw the broadcasts (announcements, the ARP request) but none of the unicast echo traffic.
        #expect(c.counters.icmp.received == 0)
        #expect(c.counters.ethernet.notForUs == 0)
        #expect(c.counters.arp.requestsReceived >= 1)
    }

    @Test func linkDownDropsFrames() throws {
        let p = Pair(seed: 5)
        _ = p.run(for: .milliseconds(1))
        p.b.device.isLinkUp = false
        try p.a.sendEchoRequest(to: p.addressB, identifier: 1, sequenceNumber: 1)
        #expect(!p.run(for: .seconds(5)) { p.a.receiveEchoReply() != nil })
        #expect(p.net.statistics.deviceDrops > 0)
        #expect(p.a.counters.arp.resolutionFailures == 1)
    }
}
