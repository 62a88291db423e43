import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// Random and mutated bytes fed to every parser and to whole stacks: nothing may trap. (A trap would crash
/// the test process, so reaching the end is the assertion; a few counters are checked for plausibility.)
@Suite struct ParserFuzzTests {
    /// Random bytes, or a valid fixture with a few bytes flipped, truncated or extended.
    static func sample(_ rng: SeededEntropy, fixtures: [[UInt8]]) -> [UInt8] {
        let r = rng.next64()
        if r % 3 == 0 || fixtures.isEmpty {
            let n = Int(rng.next64() % 700)
            return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
        }
        var b = fixtures[Int(rng.next64() % UInt64(fixtures.count))]
        let flips = 1 + Int(rng.next64() % 6)
        for _ in 0..<flips where !b.isEmpty {
            b[Int(rng.next64() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next64())
        }
        switch rng.next64() % 4 {
        case 0: b = Array(b.prefix(Int(rng.next64() % UInt64(b.count + 1))))
        case 1: b += (0..<Int(rng.next64() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
        default: break
        }
        return b
    }

    @Test func everyParserSurvivesRandomInput() {
        let rng = SeededEntropy(seed: 0xBADC0DE)
        let ipFixture = S.bytes("4500002c1c46400040010a890a0000010a0000020800a279123400076162636465666768696a6b6c6d6e6f70")
        let udpFixture = S.bytes("14e9003500113dfb68656c6c6f20756470")
        let arpFixture = S.bytes("0001 0800 06 04 0001 525400123456 0a00020f 000000000000 0a000202")
        let dnsFixture = DNSWireTests.response
        let dhcpFixture = DHCPWireTests.offer
        let icmpError = S.bytes("0303fcfc00000000" + "4500002c1c46400040110a890a0000010a000002" + "9c4027100014abcd")
        let fixtures = [ipFixture, udpFixture, arpFixture, dnsFixture, dhcpFixture, icmpError,
                        S.bytes("ffffffffffff5254001234560806") + arpFixture]
        var parsed = 0
        for _ in 0..<20_000 {
            let bytes = Self.sample(rng, fixtures: fixtures)
            bytes.withUnsafeBytes { b in
                if let f = try? EthernetFrame(validating: b) {
                    parsed += 1
                    _ = (f.destination, f.source, f.etherType, f.payload.count)
                }
                if let a = try? ARPPacket(validating: b) {
                    parsed += 1
                    _ = ARPRepr(a)
                }
                if let p = try? IPv4Packet(validating: b, verifyChecksum: false) {
                    parsed += 1
                    _ = (p.typeOfService, p.identification, p.dontFragment, p.moreFragments, p.fragmentOffset,
                         p.timeToLive, p.protocolNumber, p.headerChecksum, p.source, p.destination, p.options.count,
                         p.payload.count, p.header.count, ICMPv4Message.quote(of: p).count)
                }
                if let m = try? ICMPv4Message(validating: b, verifyChecksum: false) {
                    parsed += 1
                    _ = (m.type, m.code, m.identifier, m.sequenceNumber, m.nextHopMTU, m.data.count, m.quotedPacket)
                }
                if let u = try? UDPDatagram(validating: b, source: IPv4Address(192, 168, 1, 10),
                                            destination: IPv4Address(192, 168, 1, 1)) {
                    parsed += 1
                    _ = (u.sourcePort, u.destinationPort, u.length, u.checksum, u.payload.count)
                }
                if let d = try? DHCPMessage(validating: b) {
                    parsed += 1
                    _ = (d.hops, d.seconds, d.flags, d.clientAddress, d.yourAddress, d.serverAddress, d.relayAddress,
                         d.clientHardwareAddress, try? d.parseOptions())
                    var count = 0
                    try? d.forEachOption { _, data in count += data.count }
                }
                if let m = try? DNSMessage(validating: b) {
                    parsed += 1
                    _ = try? m.parseResponse()
                    _ = (m.opcode, m.authorityCount, m.additionalCount)
                    for _ in 0..<3 { _ = try? m.readName(at: Int(rng.next64() % UInt64(b.count + 4))) }
                }
            }
            // DHCP options and DNS names from arbitrary text never trap either.
            let text = String(decoding: bytes.prefix(300).map { $0 % 3 == 0 ? UInt8(ascii: ".") : 0x61 + $0 % 26 },
                              as: UTF8.self)
            if let name = try? DNSName(text) {
                #expect(name.wire.count <= DNSName.maximumLength)
                _ = name.description
            }
        }
        #expect(parsed > 5_000)
    }

    @Test func dhcpWriterFuzz() {
        let rng = SeededEntropy(seed: 11)
        for _ in 0..<2_000 {
            let size = 241 + Int(rng.next64() % 400)
            _ = S.build(size) { buffer in
                var w = DHCPMessageWriter(buffer: buffer, op: 1, transactionID: 1, hardwareAddress: S.macA)
                for _ in 0..<Int(rng.next64() % 20) {
                    let n = Int(rng.next64() % 300)
                    w.append(UInt8(truncatingIfNeeded: rng.next64()), bytes: Array(repeating: 7, count: n))
                }
                let length = w.finish()
                #expect(length <= size)
            }
        }
    }

    /// Whole stacks (static and DHCP-configured) receive random frames with valid Ethernet and IPv4 framing
    /// and hostile contents: ARP, ICMP, UDP to sockets, DHCP and DNS ports, fragments, unknown protocols.
    static let frameCount = 15_000

    @Test func stacksSurviveHostileFrames() throws {
        let rng = SeededEntropy(seed: 0x5EED)
        let ours = IPv4Address(10, 0, 0, 2)
        let staticDevice = SimulatedDevice(macAddress: S.macB)
        let staticStack = NetworkStack(device: staticDevice,
                                       addressing: .static(IPv4InterfaceConfiguration(address: ours, prefixLength: 24,
                                                                                      gateway: IPv4Address(10, 0, 0, 1),
                                                                                      dnsServers: [IPv4Address(10, 0, 0, 1)])),
                                       entropy: SeededEntropy(seed: 1))
        let dhcpDevice = SimulatedDevice(macAddress: S.macB)
        let dhcpStack = NetworkStack(device: dhcpDevice, addressing: .dhcp, entropy: SeededEntropy(seed: 2))
        staticStack.poll(now: .zero)
        dhcpStack.poll(now: .zero)
        _ = try staticStack.udpBind(port: 7)
        let query = try staticStack.resolve("example.com")
        let dnsPort = try staticStack.dnsClient!.resolver.localPort(query)
        var time: UInt64 = 0
        for i in 0..<Self.frameCount {
            let kind = rng.next64() % 8
            let body = (0..<Int(rng.next64() % 600)).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
            var frame: [UInt8]
            let source = IPv4Address(10, 0, 0, UInt8(1 + rng.next64() % 5))
            switch kind {
            case 0:
                frame = S.bytes("ffffffffffff525400abcdef0806") + body
            case 1, 2:
                // UDP with a zero checksum (so the body is not rejected by the checksum) to an interesting port.
                let ports: [UInt16] = [7, 67, 68, 53, dnsPort, UInt16(truncatingIfNeeded: rng.next64())]
                let port = ports[Int(rng.next64() % UInt64(ports.count))]
                var udp = S.udp(from: source, 53, to: ours, port, payload: body)
                udp[6] = 0; udp[7] = 0
                if rng.next64() % 4 == 0 { udp[4] = UInt8(truncatingIfNeeded: rng.next64()) }
                frame = S.ipv4Frame(from: S.macA, to: S.macB, source: source, destination: ours, protocolNumber: 17, payload: udp)
            case 3:
                // ICMP with a valid checksum and random contents.
                var icmp = [UInt8](repeating: 0, count: 8) + body
                icmp[0] = UInt8(rng.next64() % 20)
                let sum = icmp.withUnsafeBytes { InternetChecksum.of($0) }
                icmp[2] = UInt8(sum >> 8); icmp[3] = UInt8(sum & 0xFF)
                frame = S.ipv4Frame(from: S.macA, to: S.macB, source: source, destination: ours, protocolNumber: 1, payload: icmp)
            case 4:
                // Random fragments of random datagrams.
                let offset = Int(rng.next64() % 8200) * 8
                let more = rng.next64() % 2 == 0
                let payload = more ? Array(body.prefix(body.count / 8 * 8)) : body
                frame = S.ipv4Frame(from: S.macA, to: S.macB, source: source, destination: ours, protocolNumber: 17,
                                    payload: payload, identification: UInt16(rng.next64() % 4), moreFragments: more,
                                    fragmentOffset: min(offset, 65528))
            case 5:
                frame = S.ipv4Frame(from: S.macA, to: .broadcast, source: source, destination: .broadcast,
                                    protocolNumber: UInt8(truncatingIfNeeded: rng.next64()), payload: body)
            case 6:
                frame = Self.sample(rng, fixtures: [S.ipv4Frame(from: S.macA, to: S.macB, source: source, destination: ours,
                                                                protocolNumber: 17, payload: body)])
            default:
                frame = S.bytes("525400abcdef5254001234560800") + body
            }
            staticDevice.inject(frame)
            dhcpDevice.inject(frame)
            if i % 16 == 0 {
                time += 50_000_000
                staticStack.poll(now: Instant(nanoseconds: time))
                dhcpStack.poll(now: Instant(nanoseconds: time))
                _ = staticDevice.takeTransmitted()
                _ = dhcpDevice.takeTransmitted()
            }
        }
        staticStack.poll(now: Instant(nanoseconds: time + 1))
        dhcpStack.poll(now: Instant(nanoseconds: time + 1))
        let c = staticStack.counters
        #expect(c.ethernet.framesReceived == UInt64(Self.frameCount))
        #expect(c.ipv4.received > 0 && c.udp.received > 0 && c.icmp.received > 0 && c.reassembly.fragmentsReceived > 0)
        #expect(staticStack.reassembler.bufferedBytes <= staticStack.configuration.reassembly.memoryLimit)
        #expect(dhcpStack.counters.ethernet.framesReceived == UInt64(Self.frameCount))
    }

    /// The DNS resolver given hostile answers that carry the right id, port and source.
    @Test func resolverSurvivesHostileAnswers() throws {
        let rng = SeededEntropy(seed: 99)
        let server = IPv4Address(10, 0, 0, 53)
        var resolver = DNSResolver(entropy: SeededEntropy(seed: 1))
        var outcomes = 0
        for round in 0..<3_000 {
            let name = try DNSName("example.com")
            let handle = try resolver.start(name: name, servers: [server], localPort: 5000, now: .zero)
            var id: UInt16 = 0
            resolver.poll(now: .zero) { _, _, query in id = query.load(as: UInt16.self).bigEndian }
            var answer = Self.sample(rng, fixtures: [DNSWireTests.response])
            if answer.count >= 2 { answer[0] = UInt8(id >> 8); answer[1] = UInt8(id & 0xFF) }
            if answer.count >= 3 && round % 2 == 0 { answer[2] |= 0x80 }
            _ = answer.withUnsafeBytes {
                resolver.receive(payload: $0, source: server, sourcePort: 53, localPort: 5000, now: .zero)
            }
            if try resolver.status(handle) != .pending { outcomes += 1 }
            resolver.cancel(handle)
        }
        #expect(outcomes > 100)
    }
}
