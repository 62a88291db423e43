import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// A small DHCP server for tests, running on its own stack (static 10.0.2.2/24) and UDP port 67.
private final class TestDHCPServer: SimulationNode {
    struct Seen {
        var time: Instant
        var type: DHCPMessageType
        var transactionID: UInt32
        var clientAddress: IPv4Address
        var requested: IPv4Address?
        var serverIdentifier: IPv4Address?
        var ipDestination: IPv4Address
        var ipSource: IPv4Address
        var seconds: UInt16
        var broadcastFlag: Bool
    }

    let stack: NetworkStack<SimulatedDevice>
    let socket: UDPHandle
    let address = IPv4Address(10, 0, 2, 2)
    var offer = IPv4Address(10, 0, 2, 15)
    var leaseSeconds: UInt32 = 3600
    var renewalSeconds: UInt32? = nil
    var rebindingSeconds: UInt32? = nil
    var dnsServers = [IPv4Address(10, 0, 2, 3)]
    /// Answer nothing at all.
    var silent = false
    /// Ignore requests sent to our unicast address (RENEWING).
    var ignoreUnicast = false
    /// NAK this many REQUESTs before ACKing.
    var naksToSend = 0
    /// Use a wrong transaction id in the next reply.
    var corruptNextTransactionID = false
    private(set) var seen: [Seen] = []

    init(network: SimulatedNetwork) {
        let device = SimulatedDevice(macAddress: S.macC)
        network.attach(device)
        stack = NetworkStack(device: device, addressing: .static(IPv4InterfaceConfiguration(address: address, prefixLength: 24)),
                             entropy: SeededEntropy(seed: 1234))
        socket = try! stack.udpBind(port: DHCPMessage.serverPort)
        network.addNode(self)
    }

    var nextDeadline: Instant? { stack.nextDeadline }

    func poll(now: Instant) {
        stack.poll(now: now)
        while let (info, data) = try! stack.udpReceive(socket) {
            data.withUnsafeBytes { handle($0, info: info, now: now) }
        }
    }

    private func handle(_ bytes: UnsafeRawBufferPointer, info: UDPReceiveInfo, now: Instant) {
        guard let message = try? DHCPMessage(validating: bytes), message.op == DHCPMessage.bootRequest,
              let options = try? message.parseOptions(), let type = options.messageType else { return }
        seen.append(Seen(time: now, type: type, transactionID: message.transactionID, clientAddress: message.clientAddress,
                         requested: options.requestedAddress, serverIdentifier: options.serverIdentifier,
                         ipDestination: info.destination, ipSource: info.source, seconds: message.seconds,
                         broadcastFlag: message.broadcastFlag))
        if silent { return }
        if ignoreUnicast && info.destination == address { return }
        switch type {
        case .discover: reply(.offer, to: message, yourAddress: offer)
        case .request:
            if let server = options.serverIdentifier, server != address { return }
            if naksToSend > 0 {
                naksToSend -= 1
                reply(.nak, to: message, yourAddress: .any)
            } else {
                let granted = message.clientAddress != .any ? message.clientAddress : (options.requestedAddress ?? offer)
                reply(.ack, to: message, yourAddress: granted)
            }
        default: break
        }
    }

    private func reply(_ type: DHCPMessageType, to request: DHCPMessage, yourAddress: IPv4Address) {
        var xid = request.transactionID
        if corruptNextTransactionID { xid &+= 1; corruptNextTransactionID = false }
        let ciaddr = request.clientAddress
        let bytes = S.build(576) { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootReply, transactionID: xid,
                                      broadcast: request.broadcastFlag, yourAddress: yourAddress,
                                      serverAddress: address, hardwareAddress: request.clientHardwareAddress)
            w.append(messageType: type)
            w.append(DHCPOptionCode.serverIdentifier, address: address)
            if type != .nak {
                w.append(DHCPOptionCode.leaseTime, seconds: leaseSeconds)
                if let t1 = renewalSeconds { w.append(DHCPOptionCode.renewalTime, seconds: t1) }
                if let t2 = rebindingSeconds { w.append(DHCPOptionCode.rebindingTime, seconds: t2) }
                w.append(DHCPOptionCode.subnetMask, address: IPv4Address(255, 255, 255, 0))
                w.append(DHCPOptionCode.router, addresses: [address])
                w.append(DHCPOptionCode.domainNameServer, addresses: dnsServers)
            }
            _ = w.finish()
        }
        let destination = ciaddr != .any && type != .nak ? ciaddr : IPv4Address.broadcast
        _ = try? stack.udpSend(socket, to: destination, port: DHCPMessage.clientPort, payload: bytes)
    }
}

private struct DHCPWorld {
    let clock = ManualClock()
    let net: SimulatedNetwork
    let server: TestDHCPServer
    let client: NetworkStack<SimulatedDevice>

    init(client configuration: DHCPClientConfiguration = DHCPClientConfiguration(), seed: UInt64 = 21,
         setUp: (TestDHCPServer) -> Void = { _ in }) {
        net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: seed))
        server = TestDHCPServer(network: net)
        setUp(server)
        client = net.addHost(mac: S.macA, addressing: .dhcp(configuration), entropy: SeededEntropy(seed: seed &+ 1))
    }

    func run(for d: Duration, until stop: () -> Bool = { false }) -> Bool {
        net.run(until: clock.now + d, stop: stop)
    }

    func seconds(_ s: Int64) -> Instant { Instant.zero + .seconds(s) }
}

@Suite struct DHCPClientTests {
    @Test func fullExchangeConfiguresTheInterface() throws {
        let w = DHCPWorld()
        #expect(w.client.dhcpState == .initial)
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
        let config = try #require(w.client.interface)
        #expect(config.address == IPv4Address(10, 0, 2, 15))
        #expect(config.network.prefixLength == 24)
        #expect(config.gateway == IPv4Address(10, 0, 2, 2))
        #expect(config.dnsServers == [IPv4Address(10, 0, 2, 3)])
        let lease = try #require(w.client.dhcpLease)
        #expect(lease.server == IPv4Address(10, 0, 2, 2) && lease.leaseSeconds == 3600)
        #expect(lease.renewAt == lease.acquired + .seconds(1800))
        #expect(lease.rebindAt == lease.acquired + .seconds(3150))
        #expect(lease.expiresAt == lease.acquired + .seconds(3600))
        // DISCOVER then REQUEST (selecting: requested address and server id, from 0.0.0.0, broadcast), one xid.
        let types = w.server.seen.map { $0.type }
        #expect(types == [.discover, .request])
        let request = w.server.seen[1]
        #expect(request.requested == IPv4Address(10, 0, 2, 15) && request.serverIdentifier == IPv4Address(10, 0, 2, 2))
        #expect(request.ipSource == .any && request.ipDestination == .broadcast && request.broadcastFlag)
        #expect(request.transactionID == w.server.seen[0].transactionID)
        #expect(w.client.counters.arp.announcementsSent == 1)
        #expect(w.client.counters.dhcp.offersReceived == 1 && w.client.counters.dhcp.acksReceived == 1)
        // The configured address works: ping the server.
        try w.client.sendEchoRequest(to: IPv4Address(10, 0, 2, 2), identifier: 5, sequenceNumber: 1)
        #expect(w.run(for: .seconds(1)) { w.client.receiveEchoReply() != nil })
    }

    @Test func renewsAtT1ByUnicast() throws {
        let w = DHCPWorld { $0.leaseSeconds = 100 }
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
        let generation = w.client.configurationGeneration
        let acquired = try #require(w.client.dhcpLease?.acquired)
        #expect(w.client.nextDeadline == acquired + .seconds(50))
        _ = w.run(for: .seconds(55))
        let renewal = try #require(w.server.seen.last)
        #expect(renewal.type == .request)
        #expect(renewal.ipDestination == IPv4Address(10, 0, 2, 2), "RENEWING unicasts to the server")
        #expect(renewal.ipSource == IPv4Address(10, 0, 2, 15) && renewal.clientAddress == IPv4Address(10, 0, 2, 15))
        #expect(renewal.requested == nil && renewal.serverIdentifier == nil)
        #expect(w.client.dhcpState == .bound)
        #expect(w.client.configurationGeneration == generation, "a renewal of the same address changes nothing")
        #expect(try #require(w.client.dhcpLease).acquired >= acquired + .seconds(50))
    }

    @Test func rebindsByBroadcastWhenTheServerIgnoresRenewals() throws {
        let w = DHCPWorld { $0.leaseSeconds = 1000 }
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
        w.server.ignoreUnicast = true
        let acquired = try #require(w.client.dhcpLease?.acquired)
        _ = w.run(for: .seconds(600)) { w.client.dhcpState == .renewing }
        #expect(w.client.dhcpState == .renewing)
        // Rebinding starts at T2 = 875 s with a broadcast, which the server answers.
        #expect(w.run(for: .seconds(400)) { w.server.seen.last?.ipDestination == .broadcast && w.client.dhcpState == .bound })
        let rebind = try #require(w.server.seen.last)
        #expect(rebind.time >= acquired + .seconds(875))
        #expect(rebind.clientAddress == IPv4Address(10, 0, 2, 15))
        // RENEWING retransmitted at half the time to T2, at least 60 s apart (RFC 2131 §4.4.5).
        let renewals = w.server.seen.filter { $0.type == .request && $0.ipDestination == IPv4Address(10, 0, 2, 2) }
        #expect(renewals.count >= 2)
        // (Measured at the server: the first renewal also waited for ARP, so allow a millisecond.)
        for (x, y) in zip(renewals, renewals.dropFirst()) { #expect(y.time - x.time >= .seconds(60) - .milliseconds(1)) }
        #expect(w.client.interface?.address == IPv4Address(10, 0, 2, 15))
    }

    @Test func leaseExpiryRemovesTheAddressAndRestarts() throws {
        let w = DHCPWorld { $0.leaseSeconds = 200 }
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
        let acquired = try #require(w.client.dhcpLease?.acquired)
        w.server.silent = true
        #expect(w.run(for: .seconds(300)) { w.client.interface == nil })
        #expect(w.clock.now >= acquired + .seconds(200) && w.clock.now < acquired + .seconds(201))
        #expect(w.client.counters.dhcp.leasesLost == 1)
        let before = w.server.seen.count
        _ = w.run(for: .seconds(2))
        #expect(w.server.seen.dropFirst(before).first?.type == .discover, "starts over with a DISCOVER")
        #expect(w.client.dhcpState == .selecting)
    }

    @Test func nakRestartsTheExchange() throws {
        let w = DHCPWorld { $0.naksToSend = 1 }
        #expect(w.run(for: .seconds(30)) { w.client.dhcpState == .bound })
        #expect(w.server.seen.map { $0.type } == [.discover, .request, .discover, .request])
        #expect(w.client.counters.dhcp.naksReceived == 1)
        #expect(w.server.seen[2].transactionID != w.server.seen[0].transactionID, "a new transaction after the NAK")
        #expect(w.server.seen[2].time - w.server.seen[1].time >= .seconds(2), "restart delay")
    }

    @Test func retransmitsWithExponentialBackoff() throws {
        let w = DHCPWorld { $0.silent = true }
        _ = w.run(for: .seconds(200))
        let times = w.server.seen.map { $0.time }
        #expect(w.server.seen.allSatisfy { $0.type == .discover })
        #expect(Set(w.server.seen.map { $0.transactionID }).count == 1)
        let gaps = zip(times, times.dropFirst()).map { Double(($1 - $0).nanosecondsClamped) / 1e9 }
        let expected: [Double] = [4, 8, 16, 32, 64]
        #expect(gaps.count >= expected.count)
        for (gap, nominal) in zip(gaps, expected) { #expect(abs(gap - nominal) <= 1.0, "gap \(gap) vs \(nominal)") }
        for gap in gaps.dropFirst(expected.count) { #expect(abs(gap - 64) <= 1.0) }
        // The secs field grows with the time since the first DISCOVER.
        #expect(w.server.seen.last!.seconds >= 100)
    }

    @Test func ignoresRepliesForOtherTransactions() throws {
        let w = DHCPWorld { $0.corruptNextTransactionID = true }
        #expect(w.run(for: .seconds(30)) { w.client.dhcpState == .bound })
        #expect(w.client.counters.dhcp.ignored == 1)
        #expect(w.server.seen.map { $0.type } == [.discover, .discover, .request], "the bad OFFER was ignored; the retransmission got a good one")
    }

    @Test func releaseGivesTheAddressBack() throws {
        let w = DHCPWorld()
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
        w.client.releaseDHCPLease()
        #expect(w.client.interface == nil)
        #expect(w.run(for: .seconds(1)) { w.server.seen.last?.type == .release })
        #expect(w.client.nextDeadline == nil, "idle until restarted")
        w.client.restartDHCP()
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
    }

    /// Servers that ignore the BROADCAST flag unicast their replies to the offered address and the client's MAC
    /// (RFC 2131 §4.1); an unconfigured stack accepts those for the DHCP client only.
    @Test func acceptsUnicastRepliesBeforeConfigured() throws {
        let w = DHCPWorld { $0.silent = true }
        _ = w.run(for: .seconds(1))
        let discover = try #require(w.server.seen.first)
        let offered = IPv4Address(10, 0, 2, 77), server = IPv4Address(10, 0, 2, 2)
        func reply(_ type: DHCPMessageType, xid: UInt32) -> [UInt8] {
            let dhcp = S.build(300) { buffer in
                var m = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootReply, transactionID: xid,
                                          yourAddress: offered, serverAddress: server, hardwareAddress: S.macA)
                m.append(messageType: type)
                m.append(DHCPOptionCode.serverIdentifier, address: server)
                m.append(DHCPOptionCode.leaseTime, seconds: 600)
                m.append(DHCPOptionCode.subnetMask, address: IPv4Address(255, 255, 255, 0))
                _ = m.finish()
            }
            return S.ipv4Frame(from: S.macC, to: S.macA, source: server, destination: offered, protocolNumber: 17,
                               payload: S.udp(from: server, 67, to: offered, 68, payload: dhcp))
        }
        // Other unicast traffic to the offered address is not accepted yet.
        w.client.device.inject(S.ipv4Frame(from: S.macC, to: S.macA, source: server, destination: offered,
                                           protocolNumber: 1, payload: S.echo(identifier: 1, sequence: 1, data: [])))
        w.client.device.inject(reply(.offer, xid: discover.transactionID))
        _ = w.run(for: .milliseconds(10))
        #expect(w.client.dhcpState == .requesting)
        #expect(w.client.counters.ipv4.notForUs == 1)
        w.client.device.inject(reply(.ack, xid: discover.transactionID))
        _ = w.run(for: .milliseconds(10))
        #expect(w.client.dhcpState == .bound)
        #expect(w.client.interface?.address == offered)
        #expect(w.client.interface?.gateway == nil)
    }

    @Test func unitLeaseTimersAndMasks() {
        #expect(DHCPClient.prefixLength(of: IPv4Address(255, 255, 255, 0)) == 24)
        #expect(DHCPClient.prefixLength(of: IPv4Address(255, 255, 255, 255)) == 32)
        #expect(DHCPClient.prefixLength(of: IPv4Address(0, 0, 0, 0)) == 0)
        #expect(DHCPClient.prefixLength(of: IPv4Address(255, 0, 255, 0)) == nil)
        // Server-supplied T1/T2 are used when consistent, replaced by the defaults otherwise.
        let w = DHCPWorld { $0.leaseSeconds = 1000; $0.renewalSeconds = 100; $0.rebindingSeconds = 200 }
        #expect(w.run(for: .seconds(10)) { w.client.dhcpState == .bound })
        let lease = w.client.dhcpLease!
        #expect(lease.renewAt == lease.acquired + .seconds(100) && lease.rebindAt == lease.acquired + .seconds(200))
        let bad = DHCPWorld { $0.leaseSeconds = 1000; $0.renewalSeconds = 900; $0.rebindingSeconds = 800 }
        #expect(bad.run(for: .seconds(10)) { bad.client.dhcpState == .bound })
        let l2 = bad.client.dhcpLease!
        #expect(l2.renewAt == l2.acquired + .seconds(500) && l2.rebindAt == l2.acquired + .seconds(875))
        // An infinite lease has no timers.
        let forever = DHCPWorld { $0.leaseSeconds = .max }
        #expect(forever.run(for: .seconds(10)) { forever.client.dhcpState == .bound })
        #expect(forever.client.dhcpLease?.expiresAt == nil && forever.client.nextDeadline == nil)
    }
}
