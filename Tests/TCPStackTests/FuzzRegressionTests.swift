import Interfaces
import Testing
import TCPStack

// Minimal reproducers of what the libFuzzer targets in Fuzz/ found (see Fuzz/README.md). Each test states the
// behaviour the code must have and failed to have before the fix; a finding not fixed yet would be wrapped in
// `withKnownIssue`, so the suite reports the fix when it lands.

/// Found by `tcpstate` and `stack` (their "nothing stays due after a poll" invariant).
///
/// A RST the IPv4 layer refused used to stay in the engine's pending-reset queue and be retried on every poll,
/// with `nextDeadline` pinned at the current instant: a poll loop that sleeps until `nextDeadline` spun, forever
/// for a RST to a host without a route, and every RST queued behind it waited too. Now a refused RST is dropped
/// and counted (`resetsDropped`): RSTs are advisory, the peer's retransmission draws another.
@Suite("Fuzz regressions: TCP resets refused by the IPv4 layer")
struct RefusedResetRegressionTests {
    static let local = IPv4Address(10, 0, 0, 1)
    static let remote = IPv4Address(10, 0, 0, 2)

    /// A SYN from `remote:40000` to `port` with a correct checksum.
    static func syn(to port: UInt16, from source: IPv4Address = remote, destination: IPv4Address = local) -> [UInt8] {
        let header = TCPHeader(sourcePort: 40000, destinationPort: port, sequenceNumber: TCPSeqNumber(1000),
                               flags: [.syn], window: 65535)
        var bytes = [UInt8](repeating: 0, count: header.length)
        bytes.withUnsafeMutableBytes { buffer in
            header.emit(into: buffer)
            TCPHeader.fillChecksum(buffer, source: source, destination: destination)
        }
        return bytes
    }

    @Test("a refused RST is dropped and counted; the engine is not left due")
    func refusedResetKeepsEngineDue() {
        let engine = TCPEngine(localAddress: Self.local, entropy: SeededEntropy(seed: 1))
        var attempts = 0
        let refuse: IPv4Send = { _, _, _, _ in
            attempts += 1
            return false
        }
        let now = Instant(nanoseconds: 5_000_000_000)
        Self.syn(to: 81).withUnsafeBytes {
            engine.receive($0, source: Self.remote, destination: Self.local, now: now, send: refuse)
        }
        #expect(attempts == 1, "the RST for the closed port is attempted at once")
        #expect(engine.statistics.resetsDropped == 1)
        #expect(engine.statistics.resetsSent == 0)
        #expect(engine.nextDeadline == nil, "nothing is left to do")
        engine.poll(now: now, send: refuse)
        #expect(attempts == 1, "the poll does not retry it")
        #expect(engine.statistics.sendFailures == 1)
    }

    @Test("a RST without a route neither makes the stack spin nor holds back a later RST")
    func unroutableResetSpinsStack() throws {
        let ourMAC = MACAddress(0x02, 0, 0, 0, 0, 1)
        let peerMAC = MACAddress(0x52, 0x54, 0, 0x12, 0x34, 0x56)
        let us = IPv4Address(10, 0, 2, 15)
        let device = SimulatedDevice(macAddress: ourMAC)
        // A static configuration without a gateway: off-subnet hosts have no route.
        let stack = NetworkStack(device: device,
                                 addressing: .static(IPv4InterfaceConfiguration(address: us, prefixLength: 24)),
                                 entropy: SeededEntropy(seed: 2))
        let tcp = TCPEngine(localAddress: us, entropy: SeededEntropy(seed: 3))
        try stack.register(tcp)
        func frame(from source: IPv4Address) -> [UInt8] {
            let segment = Self.syn(to: 81, from: source, destination: us)
            var packet = [UInt8](repeating: 0, count: 20 + segment.count)
            packet.withUnsafeMutableBytes { b in
                IPv4Header(source: source, destination: us, protocolNumber: IPProtocolNumber.tcp,
                           payloadLength: segment.count).emit(into: b)
            }
            packet.replaceSubrange(20..., with: segment)
            var frame = [UInt8](repeating: 0, count: 14)
            frame.withUnsafeMutableBytes { b in
                EthernetHeader(destination: ourMAC, source: peerMAC, etherType: EtherType.ipv4).emit(into: b)
            }
            return frame + packet
        }
        var now = Instant(nanoseconds: 1_000_000_000)
        stack.poll(now: now)
        _ = device.takeTransmitted()
        // A SYN to a closed port from off the subnet, then one from a neighbour on the subnet.
        device.inject(frame(from: IPv4Address(192, 0, 2, 1)))
        device.inject(frame(from: IPv4Address(10, 0, 2, 2)))
        stack.poll(now: now)
        let noRouteAfterFirstPoll = stack.counters.ipv4.sendNoRoute
        #expect(noRouteAfterFirstPoll >= 1)
        for _ in 0..<10 {
            now = now + .seconds(1)
            stack.poll(now: now)
        }
        // The unroutable RST was tried once, not once per poll.
        #expect(stack.counters.ipv4.sendNoRoute == noRouteAfterFirstPoll)
        #expect(tcp.statistics.resetsDropped == 1)
        let sent = device.takeTransmitted()
        if let deadline = stack.nextDeadline { #expect(deadline > now, "the stack is not due at once") }
        // The neighbour's RST needs an ARP request first, and that request left.
        let arpRequests = sent.filter { $0.count >= 42 && $0[12] == 0x08 && $0[13] == 0x06 && $0[21] == 1 }
        #expect(!arpRequests.isEmpty, "the ARP request for 10.0.2.2 leaves")
        #expect(arpRequests.allSatisfy { Array($0[38..<42]) == [10, 0, 2, 2] })
    }
}

/// Found by `stack` (its "every frame leaves from an address the stack holds" invariant).
///
/// A connection to 127.0.0.1 is accepted by a listener on the loopback address, with our interface address as
/// the peer. When the interface address then changes (a new DHCP lease, or `setInterface`), the peer address
/// is no longer ours, and `NetworkStack.transmitIPv4` used to route that connection's segments to the network
/// (to whichever host answered ARP for the old address) with source 127.0.0.1, which RFC 1122 §3.2.1.3
/// forbids outside a host. Now a packet with a 127/8 source whose destination does not loop back is refused
/// and counted as `sendNoRoute`.
@Suite("Fuzz regressions: loopback source on the wire")
struct LoopbackSourceRegressionTests {
    @Test("a loopback connection whose peer address stopped being ours sends nothing from 127.0.0.1 to the wire")
    func loopbackSourceLeaks() throws {
        let mac = MACAddress(0x02, 0, 0, 0, 0, 1)
        let device = SimulatedDevice(macAddress: mac)
        let first = IPv4Address(10, 0, 2, 15)
        let stack = NetworkStack(
            device: device,
            addressing: .static(IPv4InterfaceConfiguration(address: first, prefixLength: 24,
                                                            gateway: IPv4Address(10, 0, 2, 2))),
            entropy: SeededEntropy(seed: 4))
        let tcp = TCPEngine(localAddress: first, entropy: SeededEntropy(seed: 5))
        try stack.register(tcp)
        let listener = try tcp.listen(port: 80, backlog: 4)
        var now = Instant(nanoseconds: 1_000_000_000)
        stack.poll(now: now)
        let client = try tcp.connect(to: IPv4Address(127, 0, 0, 1), port: 80, now: now)
        var server: TCPConnectionHandle? = nil
        for _ in 0..<10 where server == nil {
            now = now + .milliseconds(1)
            stack.poll(now: now)
            server = try tcp.accept(listener)
        }
        let accepted = try #require(server, "the loopback handshake completes")
        #expect(try tcp.endpoints(of: accepted).localAddress == IPv4Address(127, 0, 0, 1))
        #expect(try tcp.endpoints(of: accepted).remoteAddress == first)
        #expect(tcp.readiness(of: client).contains(.connected))
        _ = device.takeTransmitted()

        // The interface moves to another address, and another host now answers ARP for the old one; then the
        // server side closes.
        let second = IPv4Address(10, 0, 2, 98)
        stack.setInterface(IPv4InterfaceConfiguration(address: second, prefixLength: 24,
                                                      gateway: IPv4Address(10, 0, 2, 2)))
        try tcp.close(accepted)
        let neighbour = MACAddress(0x52, 0x54, 0, 0x12, 0x34, 0x56)
        var arp = [UInt8](repeating: 0, count: 14 + ARPPacket.length)
        arp.withUnsafeMutableBytes { b in
            EthernetHeader(destination: mac, source: neighbour, etherType: EtherType.arp).emit(into: b)
            ARPRepr(operation: .reply, senderHardwareAddress: neighbour, senderProtocolAddress: first,
                    targetHardwareAddress: mac, targetProtocolAddress: second)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: b[14...]))
        }
        for _ in 0..<3 {
            now = now + .milliseconds(1)
            stack.poll(now: now)
            device.inject(arp)
        }
        stack.poll(now: now + .milliseconds(1))
        let loopbackSources = device.takeTransmitted().filter { frame in
            frame.count >= 34 && frame[12] == 0x08 && frame[13] == 0x00 && frame[26] == 127
        }
        #expect(loopbackSources.isEmpty, "\(loopbackSources.count) frames from 127/8 on the wire")
        #expect(stack.counters.ipv4.sendNoRoute >= 1, "the FIN to the old address was refused")
    }
}
