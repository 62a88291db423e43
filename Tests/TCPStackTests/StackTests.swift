import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// One stack over a `SimulatedDevice`, driven frame by frame.
private final class Harness {
    let device: SimulatedDevice
    let stack: NetworkStack<SimulatedDevice>
    let ours = IPv4Address(10, 0, 0, 2)
    let peer = IPv4Address(10, 0, 0, 1)
    let gateway = IPv4Address(10, 0, 0, 254)
    var time = 0

    init(configuration: NetworkStackConfiguration = NetworkStackConfiguration(), gateway: Bool = true, mtu: Int = 1500) {
        device = SimulatedDevice(macAddress: S.macB, mtu: mtu)
        let config = IPv4InterfaceConfiguration(address: ours, prefixLength: 24, gateway: gateway ? self.gateway : nil,
                                                dnsServers: [])
        stack = NetworkStack(device: device, addressing: .static(config), entropy: SeededEntropy(seed: 42),
                             configuration: configuration)
        poll()
        _ = device.takeTransmitted()   // the gratuitous ARP
    }

    var now: Instant { S.instant(ms: time) }

    func poll(advance ms: Int = 0) {
        time += ms
        stack.poll(now: now)
    }

    func inject(_ frame: [UInt8]) {
        device.inject(frame)
        poll()
    }

    func sent() -> [DecodedFrame] { device.takeTransmitted().compactMap { DecodedFrame($0) } }

    /// Teaches the stack the peer's MAC through an ARP request addressed to it.
    func learnPeer(_ address: IPv4Address? = nil, mac: MACAddress = S.macA) {
        inject(S.arpFrame(ARPRepr(operation: .request, senderHardwareAddress: mac, senderProtocolAddress: address ?? peer,
                                  targetHardwareAddress: .zero, targetProtocolAddress: ours), to: .broadcast))
        _ = sent()
    }

    func ipFrame(from source: IPv4Address? = nil, to destination: IPv4Address? = nil, protocolNumber: UInt8,
                 payload: [UInt8], mac: MACAddress? = nil) -> [UInt8] {
        S.ipv4Frame(from: S.macA, to: mac ?? S.macB, source: source ?? peer, destination: destination ?? ours,
                    protocolNumber: protocolNumber, payload: payload)
    }

    func udpFrame(from source: IPv4Address? = nil, sourcePort: UInt16 = 5000, to destination: IPv4Address? = nil,
                  port destinationPort: UInt16, payload: [UInt8], mac: MACAddress? = nil) -> [UInt8] {
        let s = source ?? peer, d = destination ?? ours
        return ipFrame(from: s, to: d, protocolNumber: 17,
                       payload: S.udp(from: s, sourcePort, to: d, destinationPort, payload: payload), mac: mac)
    }
}

/// A transport handler that records what it gets and answers on demand.
private final class RecordingHandler: IPv4TransportHandler {
    let protocolNumber: UInt8
    var received: [(IPv4Address, IPv4Address, [UInt8])] = []
    var pendingReply: (IPv4Address, IPv4Address, [UInt8])? = nil
    var polls = 0
    var deadline: Instant? = nil
    var replyAccepted: Bool? = nil

    init(protocolNumber: UInt8) { self.protocolNumber = protocolNumber }

    func receive(_ payload: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address, now: Instant,
                 send: IPv4Send) {
        received.append((source, destination, Array(payload)))
        // Answer at once from inside receive, as TCP does with ACKs.
        let answer = Array(payload.reversed())
        replyAccepted = send(destination, source, answer.count) { buffer in
            for (i, b) in answer.enumerated() { buffer[i] = b }
        }
    }

    func poll(now: Instant, send: IPv4Send) {
        polls += 1
        if let (s, d, bytes) = pendingReply {
            pendingReply = nil
            _ = send(s, d, bytes.count) { buffer in for (i, b) in bytes.enumerated() { buffer[i] = b } }
        }
    }

    var nextDeadline: Instant? { deadline }
}

@Suite struct StackARPTests {
    @Test func staticConfigurationAnnouncesAddress() {
        let device = SimulatedDevice(macAddress: S.macB)
        let stack = NetworkStack(device: device, addressing: .static(IPv4InterfaceConfiguration(address: IPv4Address(10, 0, 0, 2), prefixLength: 24)),
                                 entropy: SeededEntropy(seed: 1))
        #expect(stack.interface == nil)
        #expect(stack.nextDeadline == .zero, "poll at once before the first poll")
        stack.poll(now: .zero)
        #expect(stack.address == IPv4Address(10, 0, 0, 2))
        #expect(stack.configurationGeneration == 1)
        let frames = device.takeTransmitted().compactMap { DecodedFrame($0) }
        #expect(frames.count == 1)
        #expect(frames.first?.destinationMAC == .broadcast)
        #expect(frames.first?.arp == ARPRepr.announcement(mac: S.macB, address: IPv4Address(10, 0, 0, 2)))
        #expect(stack.counters.arp.announcementsSent == 1)
    }

    @Test func answersRequestsForUsAndLearnsTheAsker() throws {
        let h = Harness()
        h.inject(S.arpFrame(ARPRepr(operation: .request, senderHardwareAddress: S.macA, senderProtocolAddress: h.peer,
                                    targetHardwareAddress: .zero, targetProtocolAddress: h.ours), to: .broadcast))
        let reply = try #require(h.sent().first)
        #expect(reply.destinationMAC == S.macA)
        #expect(reply.arp == ARPRepr(operation: .reply, senderHardwareAddress: S.macB, senderProtocolAddress: h.ours,
                                     targetHardwareAddress: S.macA, targetProtocolAddress: h.peer))
        // The asker was learned: a datagram to it goes out without an ARP request.
        let socket = try h.stack.udpBind()
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [1, 2, 3])
        let out = h.sent()
        #expect(out.count == 1 && out.first?.destinationMAC == S.macA && out.first?.udp?.payload == [1, 2, 3])
        #expect(h.stack.counters.arp.requestsReceived == 1 && h.stack.counters.arp.repliesSent == 1)
    }

    @Test func ignoresRequestsForOthersAndDoesNotLearn() throws {
        let h = Harness()
        h.inject(S.arpFrame(ARPRepr(operation: .request, senderHardwareAddress: S.macA, senderProtocolAddress: h.peer,
                                    targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address(10, 0, 0, 77)),
                            to: .broadcast))
        #expect(h.sent().isEmpty)
        let socket = try h.stack.udpBind()
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [1])
        let out = h.sent()
        #expect(out.count == 1)
        #expect(out.first?.arp?.operation == .request && out.first?.arp?.targetProtocolAddress == h.peer)
    }

    @Test func queuesUntilReplyThenFlushes() throws {
        let h = Harness()
        let socket = try h.stack.udpBind(port: 4000)
        for i in 0..<3 { try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [UInt8(i)]) }
        let requests = h.sent()
        #expect(requests.count == 1, "one request for three queued datagrams")
        #expect(requests.first?.arp?.senderProtocolAddress == h.ours)
        #expect(h.stack.nextDeadline == S.instant(ms: 1000))
        h.inject(S.arpFrame(ARPRepr(operation: .reply, senderHardwareAddress: S.macA, senderProtocolAddress: h.peer,
                                    targetHardwareAddress: S.macB, targetProtocolAddress: h.ours), to: S.macB))
        let flushed = h.sent()
        #expect(flushed.map { $0.udp?.payload ?? [] } == [[0], [1], [2]])
        #expect(flushed.allSatisfy { $0.destinationMAC == S.macA && $0.udp?.sourcePort == 4000 })
        #expect(h.stack.nextDeadline == nil)
    }

    @Test func givesUpAfterRetriesAndCountsDrops() throws {
        let h = Harness()
        let socket = try h.stack.udpBind()
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [1])
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [2])
        var requests = h.sent().count
        for _ in 0..<10 {
            h.poll(advance: 500)
            requests += h.sent().filter { $0.arp?.operation == .request }.count
        }
        #expect(requests == 3)
        let c = h.stack.counters.arp
        #expect(c.resolutionFailures == 1 && c.packetsDroppedUnresolved == 2 && c.requestsSent == 3)
        #expect(h.stack.nextDeadline == nil)
    }

    @Test func queueFullReportsWouldBlock() throws {
        var config = NetworkStackConfiguration()
        config.arp.maximumQueuedPerDestination = 2
        let h = Harness(configuration: config)
        let socket = try h.stack.udpBind()
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [1])
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [2])
        #expect(throws: UDPError.wouldBlock) { try h.stack.udpSend(socket, to: h.peer, port: 9, payload: [3]) }
        #expect(h.stack.counters.arp.queueDrops == 1)
    }

    @Test func offLinkGoesThroughGatewayOrFailsWithoutOne() throws {
        let h = Harness()
        let socket = try h.stack.udpBind()
        try h.stack.udpSend(socket, to: IPv4Address(8, 8, 8, 8), port: 53, payload: [1])
        #expect(h.sent().first?.arp?.targetProtocolAddress == h.gateway)
        h.inject(S.arpFrame(ARPRepr(operation: .reply, senderHardwareAddress: S.macC, senderProtocolAddress: h.gateway,
                                    targetHardwareAddress: S.macB, targetProtocolAddress: h.ours), to: S.macB))
        let out = h.sent()
        #expect(out.first?.destinationMAC == S.macC && out.first?.ipDestination == IPv4Address(8, 8, 8, 8))
        #expect(out.first?.ttl == 64)

        let isolated = Harness(gateway: false)
        let s2 = try isolated.stack.udpBind()
        #expect(throws: UDPError.noRoute(IPv4Address(8, 8, 8, 8))) {
            try isolated.stack.udpSend(s2, to: IPv4Address(8, 8, 8, 8), port: 53, payload: [1])
        }
        // Broadcasts need no route and no ARP.
        try isolated.stack.udpSend(s2, to: .broadcast, port: 9, payload: [1])
        try isolated.stack.udpSend(s2, to: IPv4Address(10, 0, 0, 255), port: 9, payload: [2])
        #expect(isolated.sent().map { $0.destinationMAC } == [.broadcast, .broadcast])
    }

    @Test func addressConflictCountedAndNotLearned() {
        let h = Harness()
        h.inject(S.arpFrame(ARPRepr.announcement(mac: S.macC, address: h.ours), to: .broadcast))
        #expect(h.stack.counters.arp.addressConflicts == 1)
        #expect(h.sent().isEmpty)
    }
}

/// A device over a `SimulatedDevice` that records the order of batch boundaries, receives and transmissions.
private final class BatchRecordingDevice: NetworkDevice {
    let inner = SimulatedDevice(macAddress: S.macB)
    var events = ""
    var macAddress: MACAddress { inner.macAddress }
    var mtu: Int { inner.mtu }
    var isLinkUp: Bool { inner.isLinkUp }
    var statistics: NetworkStatistics { inner.statistics }
    func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        let got = inner.receive(body)
        if got { events += "r" }
        return got
    }
    func transmit(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        events += "t"
        return inner.transmit(length: length, fill)
    }
    func beginBatch() { events += "[" }
    func endBatch() { events += "]" }
}

@Suite struct StackBatchTests {
    @Test func aPollIsOneDeviceBatchAroundEveryReceiveAndTransmission() throws {
        let device = BatchRecordingDevice()
        let ours = IPv4Address(10, 0, 0, 2), peer = IPv4Address(10, 0, 0, 1)
        let stack = NetworkStack(device: device, addressing: .static(IPv4InterfaceConfiguration(address: ours, prefixLength: 24)),
                                 entropy: SeededEntropy(seed: 7))
        stack.poll(now: S.instant(ms: 0))
        #expect(device.events == "[t]")  // the gratuitous ARP, inside the first poll's batch
        device.events = ""
        _ = device.inner.takeTransmitted()
        // The peer's ARP request teaches the stack its MAC, then three echo requests arrive in one burst.
        _ = device.inner.inject(S.arpFrame(ARPRepr(operation: .request, senderHardwareAddress: S.macA, senderProtocolAddress: peer,
                                                   targetHardwareAddress: .zero, targetProtocolAddress: ours), to: .broadcast))
        for sequence: UInt16 in 1...3 {
            _ = device.inner.inject(S.ipv4Frame(from: S.macA, to: S.macB, source: peer, destination: ours, protocolNumber: 1,
                                                payload: S.echo(identifier: 9, sequence: sequence, data: [1, 2, 3])))
        }
        stack.poll(now: S.instant(ms: 1))
        #expect(device.events == "[rtrtrtrt]")  // ARP reply and three echo replies, all inside one batch
        #expect(device.inner.takeTransmitted().count == 4)
        device.events = ""
        stack.poll(now: S.instant(ms: 2))
        #expect(device.events == "[]")  // an idle poll opens and closes an empty batch
    }
}

@Suite struct StackIPv4Tests {
    @Test func answersEcho() throws {
        let h = Harness()
        h.learnPeer()
        let data = Array("ping payload".utf8)
        h.inject(h.ipFrame(protocolNumber: 1, payload: S.echo(identifier: 7, sequence: 3, data: data)))
        let reply = try #require(h.sent().first)
        #expect(reply.ipSource == h.ours && reply.ipDestination == h.peer && reply.destinationMAC == S.macA)
        let icmp = try #require(reply.icmp)
        #expect(icmp.type == 0 && icmp.identifier == 7 && icmp.sequence == 3 && icmp.data == data)
        #expect(h.stack.counters.icmp.echoRequestsReceived == 1 && h.stack.counters.icmp.echoRepliesSent == 1)
    }

    @Test func echoToBroadcastIgnoredByDefault() {
        let h = Harness()
        h.learnPeer()
        h.inject(h.ipFrame(to: .broadcast, protocolNumber: 1, payload: S.echo(identifier: 1, sequence: 1, data: []),
                           mac: .broadcast))
        #expect(h.sent().isEmpty)
        #expect(h.stack.counters.icmp.broadcastEchoIgnored == 1)
    }

    @Test func portUnreachableIsRateLimited() throws {
        var config = NetworkStackConfiguration()
        config.icmpErrorBurst = 5
        config.icmpErrorInterval = .milliseconds(100)
        let h = Harness(configuration: config)
        h.learnPeer()
        let frame = h.udpFrame(port: 9999, payload: Array(repeating: 0x55, count: 20))
        for _ in 0..<12 { h.device.inject(frame) }
        h.poll()
        let errors = h.sent()
        #expect(errors.count == 5)
        let first = try #require(errors.first?.icmp)
        #expect(first.type == 3 && first.code == 3)
        // The quote: the original IP header and the first 8 bytes of its payload (the UDP header).
        #expect(first.data == Array(frame[14..<(14 + 28)]))
        #expect(h.stack.counters.icmp.errorsSent == 5 && h.stack.counters.icmp.errorsRateLimited == 7)
        #expect(h.stack.counters.udp.noSocket == 12)
        h.device.inject(frame)
        h.poll(advance: 100)
        #expect(h.sent().count == 1, "one token earned per interval")
    }

    @Test func noErrorsForBroadcastOrICMPErrors() {
        let h = Harness()
        h.learnPeer()
        h.inject(h.udpFrame(to: .broadcast, port: 9999, payload: [1], mac: .broadcast))
        h.inject(h.udpFrame(to: IPv4Address(10, 0, 0, 255), port: 9999, payload: [1], mac: .broadcast))
        // An ICMP error message to us about something: counted, never answered.
        let quoted = Array(h.udpFrame(from: h.ours, to: h.peer, port: 53, payload: [1])[14..<42])
        let error = S.build(8 + quoted.count) { b in
            quoted.withUnsafeBytes { q in ICMPv4Message.emitError(into: b, type: 3, code: 3, quote: q) }
        }
        h.inject(h.ipFrame(protocolNumber: 1, payload: error))
        #expect(h.sent().isEmpty)
        #expect(h.stack.counters.icmp.errorsReceived == 1)
        #expect(h.stack.counters.udp.noSocket == 2)
    }

    @Test func dropsAndCountsBadInput() {
        let h = Harness()
        h.learnPeer()
        var badSum = h.udpFrame(port: 7, payload: [1]); badSum[14 + 10] ^= 0xFF
        h.inject(badSum)
        var badUDP = h.udpFrame(port: 7, payload: [1, 2]); badUDP[14 + 20 + 6] ^= 0x01
        h.inject(badUDP)
        h.inject(h.udpFrame(to: IPv4Address(10, 0, 0, 99), port: 7, payload: [1]))                   // not our IP
        h.inject(h.udpFrame(port: 7, payload: [1], mac: S.macC))                                    // not our MAC
        h.inject(h.udpFrame(from: IPv4Address(224, 0, 0, 1), port: 7, payload: [1]))               // martian source
        var vlan = h.udpFrame(port: 7, payload: [1]); vlan[12] = 0x81; vlan[13] = 0
        h.inject(vlan)
        var ipv6 = h.udpFrame(port: 7, payload: [1]); ipv6[12] = 0x86; ipv6[13] = 0xDD
        h.inject(ipv6)
        h.inject([1, 2, 3])
        h.inject(Array(h.udpFrame(port: 7, payload: [1]).prefix(30)))                              // truncated IP
        var badICMP = h.ipFrame(protocolNumber: 1, payload: S.echo(identifier: 1, sequence: 1, data: [9]))
        badICMP[14 + 20 + 2] ^= 0xFF
        h.inject(badICMP)
        #expect(h.sent().isEmpty)
        let c = h.stack.counters
        #expect(c.ipv4.badChecksum == 1)
        #expect(c.udp.badChecksum == 1)
        #expect(c.ipv4.notForUs == 1)
        #expect(c.ethernet.notForUs == 1)
        #expect(c.ipv4.badSource == 1)
        #expect(c.ethernet.vlanTagged == 1)
        #expect(c.ethernet.unknownType == 1)
        #expect(c.ethernet.malformed == 1)
        #expect(c.ipv4.malformed == 1)
        #expect(c.icmp.badChecksum == 1)
    }

    @Test func refusesOversizedSends() throws {
        let h = Harness(mtu: 576)
        let socket = try h.stack.udpBind()
        #expect(throws: UDPError.messageTooLong(549)) {
            try h.stack.udpSend(socket, to: h.peer, port: 9, payload: Array(repeating: 0, count: 549))
        }
        h.learnPeer()
        try h.stack.udpSend(socket, to: h.peer, port: 9, payload: Array(repeating: 0, count: 548))
        #expect(h.sent().first?.ipPacket.count == 576)
        #expect(throws: IPv4SendError.tooLong(557)) {
            try h.stack.sendEchoRequest(to: h.peer, identifier: 1, sequenceNumber: 1, payload: Array(repeating: 0, count: 549))
        }
    }

    @Test func reassemblesFragmentedDatagramIntoSocket() throws {
        let h = Harness()
        let socket = try h.stack.udpBind(port: 7000)
        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0) }
        let udp = S.udp(from: h.peer, 1234, to: h.ours, 7000, payload: payload)
        // Three fragments, delivered last-first.
        let cuts = [(0, 1480), (1480, 2960), (2960, udp.count)]
        for (start, end) in cuts.reversed() {
            h.device.inject(S.ipv4Frame(from: S.macA, to: S.macB, source: h.peer, destination: h.ours, protocolNumber: 17,
                                        payload: Array(udp[start..<end]), identification: 99,
                                        moreFragments: end < udp.count, fragmentOffset: start))
        }
        h.poll()
        let got = try #require(try h.stack.udpReceive(socket))
        #expect(got.payload == payload && got.info.source == h.peer && got.info.sourcePort == 1234)
        #expect(h.stack.counters.reassembly.datagramsReassembled == 1)
    }

    @Test func reassemblyTimeoutSendsTimeExceeded() throws {
        let h = Harness()
        h.learnPeer()
        let udp = S.udp(from: h.peer, 1234, to: h.ours, 7000, payload: Array(repeating: 1, count: 100))
        h.inject(S.ipv4Frame(from: S.macA, to: S.macB, source: h.peer, destination: h.ours, protocolNumber: 17,
                             payload: Array(udp[0..<48]), identification: 5, moreFragments: true, fragmentOffset: 0))
        #expect(h.stack.nextDeadline == S.instant(ms: 30_000))
        h.poll(advance: 30_000)
        let icmp = try #require(h.sent().first?.icmp)
        #expect(icmp.type == 11 && icmp.code == 1)
        #expect(Array(icmp.data[20..<28]) == Array(udp[0..<8]))
    }
}

@Suite struct StackLoopbackTests {
    @Test func udpAndPingToOurselves() throws {
        let h = Harness()
        let server = try h.stack.udpBind(port: 7)
        let client = try h.stack.udpBind()
        try h.stack.udpSend(client, to: h.ours, port: 7, payload: [1, 2, 3])
        try h.stack.udpSend(client, to: IPv4Address(127, 0, 0, 1), port: 7, payload: [4])
        #expect(h.stack.nextDeadline == h.now, "looped-back packets are handled at the next poll")
        h.poll()
        let first = try #require(try h.stack.udpReceive(server))
        #expect(first.payload == [1, 2, 3] && first.info.source == h.ours)
        #expect(try h.stack.udpReceive(server)?.info.destination == IPv4Address(127, 0, 0, 1))
        try h.stack.sendEchoRequest(to: h.ours, identifier: 3, sequenceNumber: 4, payload: [9])
        h.poll()   // the request
        h.poll()   // the reply it caused
        #expect(h.stack.receiveEchoReply()?.payload == [9])
        #expect(h.sent().isEmpty, "nothing reached the wire")
        #expect(h.stack.counters.ipv4.loopedBack == 4)
    }

    @Test func loopbackQueueIsBounded() throws {
        var config = NetworkStackConfiguration()
        config.loopbackQueueLength = 2
        let h = Harness(configuration: config)
        let socket = try h.stack.udpBind(port: 7)
        try h.stack.udpSend(socket, to: h.ours, port: 7, payload: [1])
        try h.stack.udpSend(socket, to: h.ours, port: 7, payload: [2])
        #expect(throws: UDPError.wouldBlock) { try h.stack.udpSend(socket, to: h.ours, port: 7, payload: [3]) }
        h.poll()
        #expect(try h.stack.udpPendingDatagrams(socket) == 2)
    }
}

@Suite struct StackTransportTests {
    @Test func registrationRules() throws {
        let h = Harness()
        try h.stack.register(RecordingHandler(protocolNumber: 6))
        #expect(throws: NetworkStackError.protocolInUse(6)) { try h.stack.register(RecordingHandler(protocolNumber: 6)) }
        #expect(throws: NetworkStackError.reservedProtocol(17)) { try h.stack.register(RecordingHandler(protocolNumber: 17)) }
        #expect(throws: NetworkStackError.reservedProtocol(1)) { try h.stack.register(RecordingHandler(protocolNumber: 1)) }
        h.stack.unregister(protocolNumber: 6)
        try h.stack.register(RecordingHandler(protocolNumber: 6))
    }

    @Test func handlerReceivesAndAnswersAndIsPolled() throws {
        let h = Harness()
        let tcp = RecordingHandler(protocolNumber: 6)
        try h.stack.register(tcp)
        h.learnPeer()
        h.inject(h.ipFrame(protocolNumber: 6, payload: [1, 2, 3, 4]))
        #expect(tcp.received.count == 1)
        #expect(tcp.received.first?.0 == h.peer && tcp.received.first?.1 == h.ours && tcp.received.first?.2 == [1, 2, 3, 4])
        #expect(tcp.replyAccepted == true)
        let answer = try #require(h.sent().first)
        #expect(answer.ipProtocol == 6 && answer.payload == [4, 3, 2, 1] && answer.ipDestination == h.peer)
        // Broadcasts never reach the handler.
        h.inject(h.ipFrame(to: .broadcast, protocolNumber: 6, payload: [9], mac: .broadcast))
        #expect(tcp.received.count == 1)
        // Poll-time output and deadlines.
        let polls = tcp.polls
        tcp.pendingReply = (h.ours, h.peer, [7, 7])
        h.poll()
        #expect(tcp.polls == polls + 1)
        #expect(h.sent().first?.payload == [7, 7])
        tcp.deadline = S.instant(ms: 12_345)
        #expect(h.stack.nextDeadline == S.instant(ms: 12_345))
    }

    @Test func unknownProtocolGetsProtocolUnreachable() throws {
        let h = Harness()
        h.learnPeer()
        h.inject(h.ipFrame(protocolNumber: 132, payload: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
        let icmp = try #require(h.sent().first?.icmp)
        #expect(icmp.type == 3 && icmp.code == 2)
        #expect(h.stack.counters.ipv4.unknownProtocol == 1)
    }

    @Test func handlerSendFailsForOversizedPacket() throws {
        let h = Harness()
        let handler = RecordingHandler(protocolNumber: 6)
        try h.stack.register(handler)
        h.learnPeer()
        handler.pendingReply = (h.ours, h.peer, Array(repeating: 0, count: 1481))
        h.poll()
        #expect(h.sent().isEmpty)
        #expect(h.stack.counters.ipv4.sendTooLong == 1)
    }
}

@Suite struct StackUDPTests {
    @Test func bindRules() throws {
        var config = NetworkStackConfiguration()
        config.udp.maximumSockets = 3
        let h = Harness(configuration: config)
        let a = try h.stack.udpBind(port: 53)
        #expect(throws: UDPError.portInUse(53)) { try h.stack.udpBind(port: 53) }
        #expect(throws: UDPError.invalidPort) { try h.stack.udpBind(port: 0) }
        let b = try h.stack.udpBind()
        let c = try h.stack.udpBind()
        #expect(try h.stack.udpLocalPort(b) != h.stack.udpLocalPort(c))
        #expect(try h.stack.udpLocalPort(b) >= 49152)
        #expect(throws: UDPError.tooManySockets) { try h.stack.udpBind() }
        try h.stack.udpClose(a)
        #expect(throws: UDPError.invalidHandle) { try h.stack.udpClose(a) }
        #expect(throws: UDPError.invalidHandle) { try h.stack.udpSend(a, to: h.peer, port: 1, payload: [1]) }
        let d = try h.stack.udpBind(port: 53)
        #expect(d != a, "the slot is reused with a new generation")
        #expect(throws: UDPError.invalidHandle) { try h.stack.udpReceive(a) }
    }

    @Test func receiveQueueIsBounded() throws {
        var config = NetworkStackConfiguration()
        config.udp.receiveQueueDatagrams = 4
        let h = Harness(configuration: config)
        let socket = try h.stack.udpBind(port: 7)
        for i in 0..<6 { h.device.inject(h.udpFrame(port: 7, payload: [UInt8(i)])) }
        h.poll()
        #expect(try h.stack.udpPendingDatagrams(socket) == 4)
        #expect(try h.stack.udpDrops(socket) == 2)
        #expect(h.stack.counters.udp.queueFull == 2)
        var buffer = [UInt8](repeating: 0, count: 16)
        var got: [UInt8] = []
        while let info = try buffer.withUnsafeMutableBytes({ try h.stack.udpReceive(socket, into: $0) }) {
            #expect(info.length == 1 && info.copied == 1 && info.destination == h.ours)
            got.append(buffer[0])
        }
        #expect(got == [0, 1, 2, 3])
    }

    @Test func zeroChecksumAndBroadcastDelivered() throws {
        let h = Harness()
        let socket = try h.stack.udpBind(port: 7)
        var frame = h.udpFrame(port: 7, payload: [42])
        frame[14 + 20 + 6] = 0; frame[14 + 20 + 7] = 0
        h.inject(frame)
        h.inject(h.udpFrame(to: .broadcast, port: 7, payload: [43], mac: .broadcast))
        #expect(try h.stack.udpReceive(socket)?.payload == [42])
        let b = try #require(try h.stack.udpReceive(socket))
        #expect(b.payload == [43] && b.info.destination == .broadcast)
    }

    @Test func notConfiguredBeforeDHCP() throws {
        let device = SimulatedDevice(macAddress: S.macB)
        let stack = NetworkStack(device: device, addressing: .dhcp, entropy: SeededEntropy(seed: 1))
        let socket = try stack.udpBind()
        #expect(throws: UDPError.notConfigured) { try stack.udpSend(socket, to: IPv4Address(10, 0, 0, 1), port: 9, payload: [1]) }
        #expect(throws: UDPError.portInUse(68)) { try stack.udpBind(port: 68) }
        #expect(throws: IPv4SendError.notConfigured) { try stack.sendEchoRequest(to: IPv4Address(1, 1, 1, 1), identifier: 1, sequenceNumber: 1) }
        #expect(throws: DNSError.notConfigured) { try stack.resolve("example.com") }
    }
}
