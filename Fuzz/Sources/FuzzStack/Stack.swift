import FuzzSupport
import Interfaces
import TCPStack

// Target `stack`: a whole `NetworkStack` (Ethernet, ARP, IPv4 with reassembly, ICMP, UDP, DHCP, DNS, and a
// `TCPEngine` registered as a transport) over a `SimulatedDevice`, fed arbitrary frames and application calls.
//
// Input: byte 0 selects the configuration (static or DHCP addressing, with or without a gateway, MTU, small
// limits); the rest is a list of operations (see `step`). Frames come raw, or raw with repairs (our MAC, our
// address, valid IPv4 header and transport checksums, the current DHCP transaction id or DNS query id patched
// in), or built from templates, so that fuzzed bytes get past the checksums into every protocol handler.
//
// Checked after every step: every frame the stack transmits is well formed (Ethernet from our MAC, ARP, IPv4
// with a correct header checksum and exact length within the MTU, no options, no fragments, TCP/UDP/ICMP
// checksums), sent from an address the stack holds (or 0.0.0.0 by the DHCP client); echo replies, UDP
// datagrams and DNS results handed to the application are plausible; the configuration follows the DHCP lease;
// and the stack does not stay due: after polls at one instant, `nextDeadline` is nil or later than `now`.
// Findings are reproduced in Tests/TCPStackTests/FuzzRegressionTests.swift.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, stackHarness) }


let ourMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x01)
let gatewayMAC = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
let ourAddress = IPv4Address(10, 0, 2, 15)
let gateway = IPv4Address(10, 0, 2, 2)
let dnsServer = IPv4Address(10, 0, 2, 3)
let farAway = IPv4Address(93, 184, 216, 34)

final class StackHarness {
    let device: SimulatedDevice
    let stack: NetworkStack<SimulatedDevice>
    let tcp: TCPEngine
    let hasGateway: Bool
    var now = Instant(nanoseconds: 1_000_000_000)
    var hold = false
    /// `setInterface` was called: the configuration no longer has to follow the DHCP lease.
    var overridden = false
    var udp: UDPHandle?
    var listener: TCPListenerHandle?
    var connections: [TCPConnectionHandle] = []
    var queries: [DNSQueryHandle] = []
    /// Addresses the stack has held (its source addresses must be among them).
    var addresses: Set<IPv4Address> = [.any]
    /// The last DHCP transaction id and DNS query (id, source port) seen on the wire.
    var dhcpXID: UInt32 = 0
    var dnsQuery: (id: UInt16, port: UInt16, name: [UInt8])?
    /// The last UDP datagram we sent (for ICMP errors quoting it).
    var lastSentUDP: [UInt8] = []
    var lastSentTCP: TCPHeader?

    init(mode: UInt8) {
        let mtu = mode & 4 != 0 ? 576 : 1500
        device = SimulatedDevice(macAddress: ourMAC, mtu: mtu, receiveQueueLimit: 64, transmitQueueLimit: 64)
        var configuration = NetworkStackConfiguration()
        configuration.answersBroadcastEcho = mode & 8 != 0
        if mode & 16 != 0 {
            configuration.arp.capacity = 2
            configuration.reassembly.maximumDatagrams = 2
            configuration.reassembly.memoryLimit = 4096
            configuration.udp.receiveQueueDatagrams = 2
            configuration.loopbackQueueLength = 2
            configuration.icmpErrorBurst = 2
            configuration.maximumFramesPerPoll = 4
            configuration.echoReplyQueueLength = 2
        }
        hasGateway = mode & 2 == 0
        let addressing: IPv4Addressing
        if mode & 1 != 0 {
            var dhcp = DHCPClientConfiguration()
            dhcp.jitter = .zero
            dhcp.requestBroadcastReplies = mode & 32 != 0
            addressing = .dhcp(dhcp)
        } else {
            addressing = .static(IPv4InterfaceConfiguration(address: ourAddress, prefixLength: 24,
                                                            gateway: hasGateway ? gateway : nil,
                                                            dnsServers: [dnsServer]))
        }
        stack = NetworkStack(device: device, addressing: addressing, entropy: SeededEntropy(seed: UInt64(mode)),
                             configuration: configuration)
        var tcpConfiguration = TCPConfiguration()
        tcpConfiguration.sendBufferSize = 4096
        tcpConfiguration.receiveBufferSize = 4096
        tcpConfiguration.maximumConnections = 8
        tcpConfiguration.synQueueLimit = 4
        tcp = TCPEngine(localAddress: .any, configuration: tcpConfiguration, entropy: SeededEntropy(seed: 99))
        do { try stack.register(tcp) } catch { invariantFailed("register: \(error)") }
        listener = try? tcp.listen(port: 80, backlog: 4)
        udp = try? stack.udpBind(port: 7)
    }

    // MARK: Driving

    func poll() {
        pollOnce()
        // Frames still queued, or packets looped back to ourselves, make the stack due at `now` again; a few
        // more polls at the same instant must settle it.
        var polls = 0
        while let d = stack.nextDeadline, d <= now, polls < 40 {
            polls += 1
            pollOnce()
        }
        if let d = stack.nextDeadline, d <= now {
            trace("due: \(String(describing: stack.interface)) counters \(stack.counters) tcp \(tcp.statistics)")
        }
        if let d = stack.nextDeadline {
            require(d > now, "stack still due at \(now) (deadline \(d)) after \(polls + 1) polls")
        }
        application()
    }

    func pollOnce() {
        if let a = stack.address {
            addresses.insert(a)
            tcp.localAddress = a
        }
        stack.poll(now: now)
        if let a = stack.address { addresses.insert(a) }
        if !hold { drain() }
        // The configuration follows the lease.
        if let lease = stack.dhcpLease, stack.dhcpState == .bound, !overridden {
            require(stack.address == lease.network.address, "address \(String(describing: stack.address)) vs lease")
        }
    }

    /// Takes and checks every transmitted frame.
    func drain() {
        for frame in device.takeTransmitted() {
            let seen = Audit.frame(frame, mac: ourMAC, mtu: device.mtu)
            trace("  sent type \(seen.etherType) \(String(describing: seen.source)) -> \(String(describing: seen.destination)) proto \(String(describing: seen.protocolNumber)) tcp \(seen.tcp.map { "\($0.flags) \($0.sourcePort)->\($0.destinationPort)" } ?? "-")")
            if let source = seen.source {
                require(addresses.contains(source) || source == stack.address,
                        "sent from \(source), an address the stack never held")
            }
            if seen.udpSourcePort == DHCPMessage.clientPort, seen.udpPayload.count >= 240 {
                dhcpXID = UInt32(seen.udpPayload[4]) << 24 | UInt32(seen.udpPayload[5]) << 16
                    | UInt32(seen.udpPayload[6]) << 8 | UInt32(seen.udpPayload[7])
            }
            if seen.udpDestinationPort == DNSMessage.port, seen.udpPayload.count > 12, let port = seen.udpSourcePort {
                dnsQuery = (UInt16(seen.udpPayload[0]) << 8 | UInt16(seen.udpPayload[1]), port,
                            Array(seen.udpPayload[12...]))
            }
            if seen.protocolNumber == IPProtocolNumber.udp, seen.etherType == EtherType.ipv4 {
                lastSentUDP = Array(frame[EthernetFrame.headerLength...])
            }
            if let h = seen.tcp { lastSentTCP = h }
        }
    }

    /// What the application would do after each poll: echo UDP, take replies, accept and read TCP.
    func application() {
        if let udp {
            var taken = 0
            while taken < 4, let (info, payload) = try? stack.udpReceive(udp) {
                taken += 1
                require(info.length == payload.count && info.copied == payload.count && !info.isTruncated, "UDP info")
                require(info.length <= device.mtu - 28, "UDP datagram of \(info.length) bytes")
                // Echo, except to ourselves (that would loop forever through the loopback queue).
                if info.source != stack.address && !info.source.isLoopback {
                    _ = try? stack.udpSend(udp, to: info.source, port: info.sourcePort, payload: payload)
                }
            }
        }
        while let reply = stack.receiveEchoReply() {
            require(reply.payload.count <= device.mtu - 28, "echo reply payload")
        }
        for q in queries {
            if let result = try? stack.resolution(of: q) {
                require(!result.isEmpty && result.count <= DNSResponse.maximumAddresses, "\(result.count) addresses")
            }
            _ = try? stack.status(of: q)
        }
        if let listener {
            while let c = try? tcp.accept(listener) { connections.append(c) }
        }
        for c in connections {
            var data: [UInt8] = []
            _ = try? tcp.receive(c, appendingTo: &data, maximum: 2048)
            if !data.isEmpty { _ = try? tcp.send(c, data) }
        }
        while let event = tcp.nextEvent() { _ = event }
    }

    func inject(_ frame: [UInt8]) {
        device.inject(frame)
    }

    // MARK: Frames

    /// A raw frame with the repairs `flags` asks for.
    func repaired(_ bytes: [UInt8], flags: UInt8) -> [UInt8] {
        var f = bytes
        guard f.count >= 14 else { return f }
        if flags & 1 != 0 {
            f.withUnsafeMutableBytes { b in
                (flags & 2 != 0 ? MACAddress.broadcast : ourMAC).write(to: b, at: 0)
                gatewayMAC.write(to: b, at: 6)
            }
        }
        if flags & 4 != 0 { f[12] = 0x08; f[13] = flags & 8 != 0 ? 0x06 : 0x00 }
        let ip = 14
        guard f.count >= ip + 20, f[12] == 0x08, f[13] == 0x00 else { return f }
        if flags & 32 != 0 {
            let destination = flags & 2 != 0 ? IPv4Address.broadcast : (stack.address ?? ourAddress)
            f.withUnsafeMutableBytes { destination.write(to: $0, at: ip + 16) }
        }
        if flags & 128 != 0 { patchApplication(&f, ip: ip) }
        if flags & 16 != 0 { FrameRepair.fixIPv4(&f, at: ip) }
        if flags & 64 != 0 { FrameRepair.fixTransport(&f, at: ip) }
        return f
    }

    /// Patches the DHCP transaction id and client address, or the DNS id and port, into a UDP payload.
    func patchApplication(_ f: inout [UInt8], ip: Int) {
        guard f[ip] >> 4 == 4, f[ip + 9] == IPProtocolNumber.udp else { return }
        let ihl = Int(f[ip] & 0x0F) * 4
        let udp = ip + ihl
        guard f.count >= udp + 8 else { return }
        let payload = udp + 8
        let destinationPort = UInt16(f[udp + 2]) << 8 | UInt16(f[udp + 3])
        if destinationPort == DHCPMessage.clientPort || f[udp + 1] == 67 {
            f[udp] = 0; f[udp + 1] = 67; f[udp + 2] = 0; f[udp + 3] = 68
            guard f.count >= payload + 240 else { return }
            f[payload] = 2
            for k in 0..<4 { f[payload + 4 + k] = UInt8(truncatingIfNeeded: dhcpXID >> (24 - 8 * UInt32(k))) }
            f.withUnsafeMutableBytes { ourMAC.write(to: $0, at: payload + 28) }
            f[payload + 236] = 99; f[payload + 237] = 130; f[payload + 238] = 83; f[payload + 239] = 99
        } else if let q = dnsQuery {
            f[udp] = 0; f[udp + 1] = 53
            f[udp + 2] = UInt8(q.port >> 8); f[udp + 3] = UInt8(q.port & 0xFF)
            f.withUnsafeMutableBytes { dnsServer.write(to: $0, at: ip + 12) }
            guard f.count >= payload + 12 else { return }
            f[payload] = UInt8(q.id >> 8); f[payload + 1] = UInt8(q.id & 0xFF)
        }
    }

    /// A frame from the gateway to us carrying an IPv4 packet.
    func ipFrame(_ proto: UInt8, _ payload: [UInt8], source: IPv4Address = gateway, destination: IPv4Address? = nil,
                 identification: UInt16 = 0, moreFragments: Bool = false, fragmentOffset: Int = 0) -> [UInt8] {
        let packet = Packets.ipv4(source: source, destination: destination ?? stack.address ?? ourAddress,
                                  protocolNumber: proto, payload: payload, identification: identification,
                                  moreFragments: moreFragments, fragmentOffset: fragmentOffset)
        return Packets.ethernet(destination: ourMAC, source: gatewayMAC, etherType: EtherType.ipv4, payload: packet)
    }

    /// A frame built from a template (`kind`) with fields from the input.
    func template(_ kind: UInt8, _ input: inout FuzzInput) -> [UInt8] {
        let us = stack.address ?? ourAddress
        switch kind % 10 {
        case 0:  // ARP request for us, or a reply from the gateway
            let op: ARPOperation = input.bool() ? .request : .reply
            let sender = input.bool() ? gateway : IPv4Address(10, 0, 2, input.u8())
            let arp = ARPRepr(operation: op, senderHardwareAddress: gatewayMAC, senderProtocolAddress: sender,
                              targetHardwareAddress: op == .reply ? ourMAC : .zero, targetProtocolAddress: us)
            return Packets.ethernet(destination: op == .request ? .broadcast : ourMAC, source: gatewayMAC,
                                    etherType: EtherType.arp, payload: Packets.arp(arp))
        case 1:  // ICMP echo request (maybe to the broadcast address)
            let broadcast = input.bool()
            let echo = Packets.icmpEcho(reply: input.bool(), identifier: input.u16(), sequenceNumber: input.u16(),
                                        payload: Array(input.bytes(Int(input.u8()))))
            return ipFrame(IPProtocolNumber.icmp, echo, destination: broadcast ? .broadcast : us)
        case 2:  // UDP to the echo port or elsewhere
            let port: UInt16 = input.bool() ? 7 : input.u16()
            let payload = Array(input.bytes(Int(input.u16() % 1600)))
            return ipFrame(IPProtocolNumber.udp, Packets.udp(source: gateway, destination: us, sourcePort: input.u16() | 1,
                                                             destinationPort: port, payload: payload))
        case 3:  // TCP segment to port 80 or a closed port, from the gateway or a far-away host
            var options = TCPOptions()
            if input.bool() { options.maximumSegmentSize = input.u16() }
            let header = TCPHeader(sourcePort: 40000 + UInt16(input.u8() % 4), destinationPort: input.bool() ? 80 : 81,
                                   sequenceNumber: TCPSeqNumber(input.u32()), acknowledgmentNumber: TCPSeqNumber(input.u32()),
                                   flags: TCPFlags(rawValue: input.u8()), window: input.u16(), options: options)
            let source = input.bool() ? gateway : farAway
            let segment = Packets.tcp(source: source, destination: us, header: header,
                                      payload: Array(input.bytes(Int(input.u8()))))
            return ipFrame(IPProtocolNumber.tcp, segment, source: source)
        case 4:  // DHCP offer / ack / nak with the current transaction id
            let type = DHCPMessageType(rawValue: input.u8() % 8 + 1)!
            let offered = input.bool() ? ourAddress : IPv4Address(10, 0, 2, input.u8())
            let lease: UInt32 = [3600, 0, 1, 0xFFFF_FFFF, 60][Int(input.u8()) % 5]
            let reply = Packets.dhcpReply(type: type, transactionID: dhcpXID, client: ourMAC, yourAddress: offered,
                                          server: gateway, prefixLength: Int(input.u8() % 33), router: gateway,
                                          dnsServers: [dnsServer], leaseSeconds: lease)
            let udp = Packets.udp(source: gateway, destination: .broadcast, sourcePort: 67, destinationPort: 68,
                                  payload: reply)
            let packet = Packets.ipv4(source: gateway, destination: .broadcast, protocolNumber: IPProtocolNumber.udp,
                                      payload: udp)
            return Packets.ethernet(destination: .broadcast, source: gatewayMAC, etherType: EtherType.ipv4,
                                    payload: packet)
        case 5:  // DNS answer to the last query
            guard let q = dnsQuery else { return [] }
            var response = Packets.dnsResponse(id: q.id, name: "example.com", addresses: [
                (IPv4Address(input.u32()), input.u32()), (farAway, 60),
            ], responseCode: input.u8() % 6)
            // Put the question actually asked in place of example.com's.
            let questionEnd = 12 + ((try? DNSName("example.com"))?.wire.count ?? 13) + 4
            if q.name.count >= 5 && response.count >= questionEnd {
                response.replaceSubrange(12..<questionEnd, with: q.name)
            }
            let udp = Packets.udp(source: dnsServer, destination: us, sourcePort: 53, destinationPort: q.port,
                                  payload: response)
            return ipFrame(IPProtocolNumber.udp, udp, source: dnsServer)
        case 6:  // a fragment of a UDP datagram
            let identification = UInt16(input.u8() % 3)
            let offset = Int(input.u8()) * 8
            let more = input.bool()
            let data = Array(input.bytes(Int(input.u8()) * 8 + (more ? 0 : Int(input.u8() % 8))))
            return ipFrame(IPProtocolNumber.udp, data, identification: identification, moreFragments: more,
                           fragmentOffset: offset)
        case 7:  // an ICMP error quoting a datagram we sent
            guard lastSentUDP.count >= 28 else { return [] }
            let type: UInt8 = [3, 11, 12, 4][Int(input.u8()) % 4]
            let error = Packets.icmpError(type: type, code: input.u8() % 5, restOfHeader: UInt32(input.u16()),
                                          quote: Array(lastSentUDP.prefix(28)))
            return ipFrame(IPProtocolNumber.icmp, error)
        case 8:  // an unknown protocol, or a packet to somebody else
            return ipFrame(input.u8(), Array(input.bytes(Int(input.u8()))),
                           destination: input.bool() ? IPv4Address(10, 0, 2, 99) : nil)
        default:  // a TCP answer to the last segment we sent
            guard let last = lastSentTCP else { return [] }
            let flags = TCPFlags(rawValue: input.u8())
            let header = TCPHeader(sourcePort: last.destinationPort, destinationPort: last.sourcePort,
                                   sequenceNumber: last.acknowledgmentNumber + Int(Int8(bitPattern: input.u8())),
                                   acknowledgmentNumber: last.sequenceNumber + 1 + Int(input.u8()), flags: flags,
                                   window: 8192)
            let segment = Packets.tcp(source: gateway, destination: us, header: header,
                                      payload: Array(input.bytes(Int(input.u8()))))
            return ipFrame(IPProtocolNumber.tcp, segment)
        }
    }
}

let durations: [Duration] = [.milliseconds(1), .milliseconds(100), .seconds(1), .seconds(3), .seconds(30),
                             .seconds(61), .seconds(1801), .seconds(4000)]

func stackHarness(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let h = StackHarness(mode: input.u8())
    h.poll()
    if h.stack.address != nil {
        h.queries.append(contentsOf: [try? h.stack.resolve("example.com")].compactMap { $0 })
        _ = try? h.stack.sendEchoRequest(to: gateway, identifier: 1, sequenceNumber: 1, payload: [1, 2, 3])
        h.poll()
    }
    var steps = 0
    while !input.isEmpty && steps < 100 {
        steps += 1
        step(h, &input)
        h.poll()
    }
    for _ in 0..<3 {
        h.now = h.now + .seconds(120)
        h.hold = false
        h.device.isLinkUp = true
        h.poll()
    }
}

/// Operations (`kind = byte % 8`):
///   0-1  a raw frame with repairs: flags byte (bit 0 our MAC / bit 1 broadcast, bit 2 EtherType IPv4 / bit 3
///        ARP, bit 4 IPv4 header repair, bit 5 our address, bit 6 transport checksum, bit 7 DHCP/DNS ids),
///        16-bit length, bytes
///   2-3  a frame from a template (see `StackHarness.template`)
///   4    time passes (one of `durations`, or 16-bit milliseconds)
///   5    an application call: UDP send, ping, resolve, TCP connect or close, DHCP release or restart, a new
///        interface configuration
///   6    the device: link down/up, or frames held in its outbox until it is full
///   7    a burst: the same raw frame injected several times
func step(_ h: StackHarness, _ input: inout FuzzInput) {
    let kind = input.u8() % 8
    trace("op \(kind) at \(h.now) address \(String(describing: h.stack.address)) link \(h.device.isLinkUp) hold \(h.hold)")
    switch kind {
    case 0, 1:
        let flags = input.u8()
        h.inject(h.repaired(Array(input.chunk()), flags: flags))
    case 2, 3:
        let frame = h.template(input.u8(), &input)
        if !frame.isEmpty { h.inject(frame) }
    case 4:
        let b = input.u8()
        h.now = h.now + (b < 8 ? durations[Int(b)] : .milliseconds(Int64(input.u16())))
    case 5:
        let destination = [gateway, farAway, IPv4Address.broadcast, IPv4Address(10, 0, 2, 255), ourAddress,
                           IPv4Address(127, 0, 0, 1), IPv4Address(10, 0, 2, 77), IPv4Address.any][Int(input.u8()) % 8]
        switch input.u8() % 9 {
        case 0:
            if let udp = h.udp { _ = try? h.stack.udpSend(udp, to: destination, port: input.u16(), payload: Array(input.bytes(Int(input.u8())))) }
        case 1:
            _ = try? h.stack.sendEchoRequest(to: destination, identifier: input.u16(), sequenceNumber: input.u16(),
                                             payload: Array(input.bytes(Int(input.u8()))))
        case 2:
            let names = ["example.com", "a.b.c.example.org", "x", "", "bad..name", String(repeating: "l", count: 64)]
            if let q = try? h.stack.resolve(names[Int(input.u8()) % names.count]) { h.queries.append(q) }
        case 3:
            if let q = h.queries.last { h.stack.cancel(q) }
        case 4:
            if let c = try? h.tcp.connect(to: destination, port: 80, now: h.now) { h.connections.append(c) }
        case 5:
            if let c = h.connections.last { try? h.tcp.close(c); h.connections.removeLast() }
        case 6:
            h.stack.releaseDHCPLease()
        case 7:
            h.stack.restartDHCP()
        default:
            h.overridden = true
            let prefix = Int(input.u8() % 33)
            h.stack.setInterface(input.bool() ? nil : IPv4InterfaceConfiguration(
                address: IPv4Address(10, 0, 2, input.u8()), prefixLength: prefix, gateway: h.hasGateway ? gateway : nil,
                dnsServers: [dnsServer]))
        }
    case 6:
        if input.bool() { h.device.isLinkUp.toggle() } else { h.hold.toggle() }
    default:
        let flags = input.u8()
        let frame = h.repaired(Array(input.chunk()), flags: flags)
        for _ in 0..<(Int(input.u8() % 70)) { h.inject(frame) }
    }
}

func seeds() -> [Seed] {
    var seeds: [Seed] = []
    func template(_ w: inout FuzzInputWriter, _ kind: UInt8, _ fields: [UInt8]) { w.u8(2); w.u8(kind); w.raw(fields) }
    func wait(_ w: inout FuzzInputWriter, _ index: UInt8) { w.u8(4); w.u8(index) }
    // Static addressing: ARP, ping, UDP echo, TCP handshake to port 80, DNS answer, fragments, ICMP errors.
    var w = FuzzInputWriter()
    w.u8(0)
    template(&w, 0, [0, 1])                                   // ARP reply from the gateway
    template(&w, 0, [1, 0, 7])                                // ARP request for us from 10.0.2.7
    template(&w, 1, [0, 0, 0x12, 0x34, 0, 1, 4, 1, 2, 3, 4])  // ping
    template(&w, 2, [1, 0, 5, 0x68, 0x65, 0x6C, 0x6C, 0x6F, 0x30, 0x39])  // UDP "hello" to port 7
    template(&w, 3, [1, 0x05, 0xB4, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x02, 0xFF, 0xFF, 1, 0])  // SYN to 80
    template(&w, 9, [0x10, 0, 0, 5, 0x47, 0x45, 0x54, 0x20, 0x2F])  // ACK + data
    template(&w, 5, [93, 184, 216, 34, 0, 0, 0, 60, 0])       // DNS answer
    template(&w, 6, [1, 1, 1, 2])                              // fragment at 8, 16 bytes, more
    template(&w, 6, [1, 0, 0, 1, 0])                           // fragment at 0, 8 bytes, last?
    template(&w, 7, [0, 3, 0, 0])                              // port unreachable for our last UDP
    template(&w, 8, [99, 4, 1, 2, 3, 4, 0])                    // unknown protocol 99
    wait(&w, 3)
    seeds.append(Seed("static-tour", w.bytes))
    // DHCP: offer, ack, renew, nak; then DNS and ARP on the leased address.
    w = FuzzInputWriter()
    w.u8(1)
    template(&w, 4, [1, 1, 0, 24])                             // OFFER
    template(&w, 4, [4, 1, 0, 24])                             // ACK
    wait(&w, 6)
    template(&w, 4, [4, 1, 0, 24])                             // ACK (renewal)
    wait(&w, 7)
    template(&w, 4, [5, 1, 0, 24])                             // NAK
    wait(&w, 2)
    seeds.append(Seed("dhcp-lease", w.bytes))
    // Raw frames with every repair, a burst, link changes, a held outbox, and a far-away TCP peer.
    w = FuzzInputWriter()
    w.u8(16 | 8)
    let udp = Packets.udp(source: gateway, destination: ourAddress, sourcePort: 9, destinationPort: 7, payload: [1, 2, 3])
    var frame = Packets.ethernet(destination: ourMAC, source: gatewayMAC, etherType: EtherType.ipv4,
                                 payload: Packets.ipv4(source: gateway, destination: ourAddress,
                                                       protocolNumber: IPProtocolNumber.udp, payload: udp))
    frame[30] = 0  // break the destination and checksums; the repairs fix them
    frame[24] ^= 0xFF
    w.u8(0); w.u8(1 | 4 | 16 | 32 | 64); w.chunk(frame)
    w.u8(7); w.u8(1 | 2 | 4 | 16 | 32 | 64); w.chunk(frame); w.u8(20)
    w.u8(6); w.u8(0)                                           // hold the outbox
    template(&w, 1, [1, 0, 0, 1, 0, 1, 0])                     // broadcast ping
    w.u8(6); w.u8(1)                                           // link down
    template(&w, 3, [0, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0x02, 0x20, 0, 0, 0])  // SYN from far away
    w.u8(6); w.u8(1)
    w.u8(6); w.u8(0)
    w.u8(5); w.u8(1); w.u8(4)                                  // connect to a far-away host
    wait(&w, 2)
    seeds.append(Seed("repairs-burst-link", w.bytes))
    return seeds
}
