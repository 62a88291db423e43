import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// Runs `body` with the parse result of `bytes`, so views never outlive their buffer.
@discardableResult
private func parse<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
    try bytes.withUnsafeBytes { try body($0) }
}

@Suite struct EthernetWireTests {
    let arpRequestFrame = S.bytes(
        "ffffffffffff 525400123456 0806"
            + "0001 0800 06 04 0001 525400123456 0a00020f 000000000000 0a000202")

    @Test func parsesHeaderAndPayload() throws {
        try parse(arpRequestFrame) { b in
            let f = try EthernetFrame(validating: b)
            #expect(f.destination == .broadcast)
            #expect(f.source == S.macA)
            #expect(f.etherType == EtherType.arp)
            #expect(f.payload.count == 28)
        }
    }

    @Test func rejectsShortVLANAndLengthFrames() {
        parse(Array(arpRequestFrame.prefix(13))) { b in
            #expect(throws: WireFormatError.truncated(needed: 14, available: 13)) { try EthernetFrame(validating: b) }
        }
        var vlan = arpRequestFrame
        vlan[12] = 0x81; vlan[13] = 0x00
        parse(vlan) { b in #expect(throws: WireFormatError.vlanTagged) { try EthernetFrame(validating: b) } }
        var qinq = arpRequestFrame
        qinq[12] = 0x88; qinq[13] = 0xA8
        parse(qinq) { b in #expect(throws: WireFormatError.vlanTagged) { try EthernetFrame(validating: b) } }
        var llc = arpRequestFrame
        llc[12] = 0x00; llc[13] = 0x2E
        parse(llc) { b in #expect(throws: WireFormatError.unsupported) { try EthernetFrame(validating: b) } }
    }

    @Test func emitRoundTrips() throws {
        let header = EthernetHeader(destination: S.macB, source: S.macA, etherType: EtherType.ipv4)
        let out = S.build(14) { header.emit(into: $0) }
        #expect(out == S.bytes("525400abcdef 525400123456 0800"))
        try parse(out) { (b: UnsafeRawBufferPointer) throws in #expect(EthernetHeader(try EthernetFrame(validating: b)) == header) }
    }

    @Test func multicastMapping() {
        #expect(MACAddress(multicastGroup: IPv4Address(224, 0, 0, 251)) == MACAddress(1, 0, 0x5E, 0, 0, 251))
        #expect(MACAddress(multicastGroup: IPv4Address(239, 255, 1, 2)) == MACAddress(1, 0, 0x5E, 0x7F, 1, 2))
    }

    @Test func arpRequestFixture() throws {
        try parse(Array(arpRequestFrame[14...])) { b in
            let p = try ARPPacket(validating: b)
            #expect(p.operation == .request)
            #expect(p.senderHardwareAddress == S.macA)
            #expect(p.senderProtocolAddress == IPv4Address(10, 0, 2, 15))
            #expect(p.targetHardwareAddress == .zero)
            #expect(p.targetProtocolAddress == IPv4Address(10, 0, 2, 2))
            let repr = ARPRepr(p)
            let again = S.build(28) { repr.emit(into: $0) }
            #expect(again == Array(arpRequestFrame[14...]))
        }
    }

    @Test func arpRejectsOtherHardwareProtocolsAndOpcodes() {
        let good = Array(arpRequestFrame[14...])
        for (index, value) in [(1, UInt8(6)), (2, UInt8(0x86)), (4, UInt8(8)), (5, UInt8(16)), (7, UInt8(3))] {
            var bad = good
            bad[index] = value
            parse(bad) { b in #expect(throws: WireFormatError.unsupported) { try ARPPacket(validating: b) } }
        }
        parse(Array(good.prefix(27))) { b in
            #expect(throws: WireFormatError.truncated(needed: 28, available: 27)) { try ARPPacket(validating: b) }
        }
        // Ethernet padding after the packet is ignored.
        parse(good + [UInt8](repeating: 0, count: 18)) { b in #expect((try? ARPPacket(validating: b)) != nil) }
    }

    @Test func gratuitousAnnouncement() {
        let a = ARPRepr.announcement(mac: S.macA, address: IPv4Address(10, 0, 0, 5))
        #expect(a.operation == .request)
        #expect(a.senderProtocolAddress == a.targetProtocolAddress)
        #expect(a.targetHardwareAddress == .zero)
    }
}

@Suite struct IPv4WireTests {
    // An ICMP echo request 10.0.0.1 -> 10.0.0.2, checksums computed independently (Python).
    let packet = S.bytes(
        "4500002c1c46400040010a890a0000010a000002"
            + "0800a279123400076162636465666768696a6b6c6d6e6f70")

    @Test func parsesFixture() throws {
        try parse(packet) { b in
            let p = try IPv4Packet(validating: b)
            #expect(p.headerLength == 20)
            #expect(p.totalLength == 44)
            #expect(p.identification == 0x1C46)
            #expect(p.dontFragment)
            #expect(!p.moreFragments)
            #expect(p.fragmentOffset == 0)
            #expect(!p.isFragment)
            #expect(p.timeToLive == 64)
            #expect(p.protocolNumber == IPProtocolNumber.icmp)
            #expect(p.headerChecksum == 0x0A89)
            #expect(p.source == IPv4Address(10, 0, 0, 1))
            #expect(p.destination == IPv4Address(10, 0, 0, 2))
            #expect(p.payload.count == 24)
            #expect(p.options.count == 0)
        }
    }

    @Test func ignoresTrailingPadding() throws {
        try parse(packet + [0, 0, 0, 0, 0, 0]) { b in
            let p = try IPv4Packet(validating: b)
            #expect(p.bytes.count == 44)
            #expect(p.payload.count == 24)
        }
    }

    @Test func rejectsBadFields() {
        parse(Array(packet.prefix(19))) { b in
            #expect(throws: WireFormatError.truncated(needed: 20, available: 19)) { try IPv4Packet(validating: b) }
        }
        var v6 = packet; v6[0] = 0x65
        parse(v6) { b in #expect(throws: WireFormatError.badVersion(6)) { try IPv4Packet(validating: b) } }
        var ihl4 = packet; ihl4[0] = 0x44
        parse(ihl4) { b in #expect(throws: WireFormatError.badHeaderLength(16)) { try IPv4Packet(validating: b) } }
        var ihl15 = packet; ihl15[0] = 0x4F
        parse(ihl15) { b in
            #expect(throws: WireFormatError.truncated(needed: 60, available: 44)) { try IPv4Packet(validating: b) }
        }
        var long = packet; long[3] = 0x2D
        parse(long) { b in
            #expect(throws: WireFormatError.truncated(needed: 45, available: 44)) { try IPv4Packet(validating: b) }
        }
        var short = packet; short[2] = 0; short[3] = 19
        parse(short) { b in #expect(throws: WireFormatError.badLength(19)) { try IPv4Packet(validating: b) } }
        var sum = packet; sum[11] ^= 1
        parse(sum) { b in
            #expect(throws: WireFormatError.badChecksum) { try IPv4Packet(validating: b) }
            #expect((try? IPv4Packet(validating: b, verifyChecksum: false)) != nil)
        }
    }

    @Test func skipsOptions() throws {
        // Header with one 4-byte option (NOP NOP NOP EOL), IHL 6.
        let payload: [UInt8] = [1, 2, 3]
        var bytes = S.build(24 + payload.count) { b in
            b[0] = 0x46; b[2] = 0; b[3] = UInt8(24 + payload.count); b[8] = 5; b[9] = 17
            IPv4Address(1, 2, 3, 4).write(to: b, at: 12); IPv4Address(5, 6, 7, 8).write(to: b, at: 16)
            b[20] = 1; b[21] = 1; b[22] = 1; b[23] = 0
            b[24] = 1; b[25] = 2; b[26] = 3
        }
        let c = bytes.withUnsafeBytes { InternetChecksum.of(UnsafeRawBufferPointer(rebasing: $0[0..<24])) }
        bytes[10] = UInt8(c >> 8); bytes[11] = UInt8(c & 0xFF)
        try parse(bytes) { b in
            let p = try IPv4Packet(validating: b)
            #expect(p.headerLength == 24)
            #expect(p.options.count == 4)
            #expect(Array(p.payload) == payload)
        }
    }

    @Test func emitMatchesFixtureAndRoundTrips() throws {
        let header = IPv4Header(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2),
                                protocolNumber: 1, payloadLength: 24, identification: 0x1C46, dontFragment: true)
        let out = S.build(20) { header.emit(into: $0) }
        #expect(out == Array(packet.prefix(20)))
        let frag = IPv4Header(source: IPv4Address(1, 1, 1, 1), destination: IPv4Address(2, 2, 2, 2),
                              protocolNumber: 17, payloadLength: 8, timeToLive: 3, identification: 9,
                              moreFragments: true, fragmentOffset: 1480)
        try parse(S.build(28) { frag.emit(into: $0) }) { b in
            let p = try IPv4Packet(validating: b)
            #expect(p.moreFragments && p.fragmentOffset == 1480 && p.timeToLive == 3 && p.identification == 9)
            #expect(p.isFragment && !p.dontFragment)
        }
    }
}

@Suite struct IPv4AddressTextTests {
    @Test func parsesDottedQuads() {
        #expect(IPv4Address("10.0.2.15") == IPv4Address(10, 0, 2, 15))
        #expect(IPv4Address("0.0.0.0") == .any)
        #expect(IPv4Address("255.255.255.255") == .broadcast)
        #expect(IPv4Address("192.168.100.001") == IPv4Address(192, 168, 100, 1))
    }

    @Test func rejectsEverythingElse() {
        for text in ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "a.b.c.d",
                     "1.2.3.1000", "-1.2.3.4", "1.2.3.４"] {
            #expect(IPv4Address(text) == nil, "\(text)")
        }
    }

    @Test func describesAsDottedQuadsAndRoundTrips() {
        #expect(IPv4Address(10, 0, 2, 15).description == "10.0.2.15")
        #expect(IPv4Address.any.description == "0.0.0.0")
        #expect(IPv4Address.broadcast.description == "255.255.255.255")
        #expect(IPv4Address(1, 20, 100, 9).description == "1.20.100.9")
        for value: UInt32 in [0x0102_0304, 0xC0A8_0A64, 0x7F00_0001, 0x0A09_6300] {
            #expect(IPv4Address(IPv4Address(value).description) == IPv4Address(value))
        }
    }
}

@Suite struct ICMPWireTests {
    let echo = S.bytes("0800a279123400076162636465666768696a6b6c6d6e6f70")

    @Test func parsesEcho() throws {
        try parse(echo) { b in
            let m = try ICMPv4Message(validating: b)
            #expect(m.type == ICMPv4Type.echoRequest && m.code == 0)
            #expect(m.identifier == 0x1234 && m.sequenceNumber == 7)
            #expect(Array(m.data) == Array("abcdefghijklmnop".utf8))
            #expect(m.quotedPacket == nil)
        }
    }

    @Test func rejectsBadChecksumAndShort() {
        var bad = echo; bad[9] ^= 0x40
        parse(bad) { b in #expect(throws: WireFormatError.badChecksum) { try ICMPv4Message(validating: b) } }
        parse(Array(echo.prefix(7))) { b in
            #expect(throws: WireFormatError.truncated(needed: 8, available: 7)) { try ICMPv4Message(validating: b) }
        }
    }

    @Test func emitsEchoReplyWithValidChecksum() throws {
        let data = Array("abcdefghijklmnop".utf8)
        let out = data.withUnsafeBytes { d in
            S.build(8 + d.count) { ICMPv4Message.emitEcho(into: $0, reply: false, identifier: 0x1234, sequenceNumber: 7, payload: d) }
        }
        #expect(out == echo)
        let reply = data.withUnsafeBytes { d in
            S.build(8 + d.count) { ICMPv4Message.emitEcho(into: $0, reply: true, identifier: 1, sequenceNumber: 2, payload: d) }
        }
        try parse(reply) { b in
            let m = try ICMPv4Message(validating: b)
            #expect(m.type == ICMPv4Type.echoReply && m.identifier == 1 && m.sequenceNumber == 2)
        }
    }

    @Test func portUnreachableQuotesHeaderPlusEightBytes() throws {
        let src = IPv4Address(10, 0, 0, 1), dst = IPv4Address(10, 0, 0, 2)
        let udp = S.udp(from: src, 40000, to: dst, 9999, payload: Array(repeating: 0xAA, count: 30))
        let frame = S.ipv4Frame(from: S.macA, to: S.macB, source: src, destination: dst, protocolNumber: 17, payload: udp)
        let ipBytes = Array(frame[14...])
        let message: [UInt8] = try parse(ipBytes) { b in
            let p = try IPv4Packet(validating: b)
            let quote = ICMPv4Message.quote(of: p)
            #expect(quote.count == 28)
            return S.build(ICMPv4Message.errorLength(quoting: quote)) {
                ICMPv4Message.emitError(into: $0, type: ICMPv4Type.destinationUnreachable,
                                        code: ICMPv4UnreachableCode.port, quote: quote)
            }
        }
        #expect(message.count == 36)
        #expect(Array(message[8...]) == Array(ipBytes.prefix(28)))
        try parse(message) { b in
            let m = try ICMPv4Message(validating: b)
            #expect(m.type == 3 && m.code == 3)
            let q = try #require(m.quotedPacket)
            #expect(q.source == src && q.destination == dst && q.protocolNumber == 17)
            #expect(q.sourcePort == 40000 && q.destinationPort == 9999)
        }
    }
}

@Suite struct UDPWireTests {
    let src = IPv4Address(192, 168, 1, 10), dst = IPv4Address(192, 168, 1, 1)
    let fixture = S.bytes("14e9003500113dfb68656c6c6f20756470")

    @Test func parsesAndVerifiesChecksum() throws {
        try parse(fixture) { b in
            let d = try UDPDatagram(validating: b, source: src, destination: dst)
            #expect(d.sourcePort == 5353 && d.destinationPort == 53 && d.length == 17)
            #expect(Array(d.payload) == Array("hello udp".utf8))
        }
        // The same bytes under a different pseudo-header fail.
        parse(fixture) { b in
            #expect(throws: WireFormatError.badChecksum) {
                try UDPDatagram(validating: b, source: src, destination: IPv4Address(192, 168, 1, 2))
            }
        }
    }

    @Test func zeroChecksumAccepted() throws {
        var z = fixture; z[6] = 0; z[7] = 0
        try parse(z) { (b: UnsafeRawBufferPointer) throws in #expect(try UDPDatagram(validating: b, source: src, destination: dst).checksum == 0) }
    }

    @Test func lengthChecks() {
        var short = fixture; short[5] = 7
        parse(short) { b in #expect(throws: WireFormatError.badLength(7)) { try UDPDatagram(validating: b) } }
        var long = fixture; long[5] = 18
        parse(long) { b in
            #expect(throws: WireFormatError.truncated(needed: 18, available: 17)) { try UDPDatagram(validating: b) }
        }
        parse(Array(fixture.prefix(7))) { b in
            #expect(throws: WireFormatError.truncated(needed: 8, available: 7)) { try UDPDatagram(validating: b) }
        }
        // Bytes after the length field are not part of the datagram.
        parse(fixture + [1, 2, 3]) { b in #expect((try? UDPDatagram(validating: b, source: src, destination: dst))?.payload.count == 9) }
    }

    @Test func emitMatchesFixture() {
        let out = S.udp(from: src, 5353, to: dst, 53, payload: Array("hello udp".utf8))
        #expect(out == fixture)
    }
}

@Suite struct DHCPWireTests {
    /// A DHCPOFFER (10.0.2.15 from 10.0.2.2, /24, router 10.0.2.2, DNS 10.0.2.3 and 8.8.8.8, one day), built
    /// independently (Python).
    static let offer = S.bytes(
        "02010600deadbeef00008000000000000a00020f0a00020200000000525400123456"
            + String(repeating: "00", count: 10 + 64 + 128)
            + "638253633501020104ffffff0003040a00020206080a0002030808080833040001518036040a0002020000ff")

    @Test func parsesOffer() throws {
        try parse(Self.offer) { b in
            let m = try DHCPMessage(validating: b)
            #expect(m.op == DHCPMessage.bootReply)
            #expect(m.transactionID == 0xDEAD_BEEF)
            #expect(m.broadcastFlag)
            #expect(m.yourAddress == IPv4Address(10, 0, 2, 15))
            #expect(m.serverAddress == IPv4Address(10, 0, 2, 2))
            #expect(m.clientHardwareAddress == S.macA)
            let o = try m.parseOptions()
            #expect(o.messageType == .offer)
            #expect(o.subnetMask == IPv4Address(255, 255, 255, 0))
            #expect(o.routers == [IPv4Address(10, 0, 2, 2)])
            #expect(o.dnsServers == [IPv4Address(10, 0, 2, 3), IPv4Address(8, 8, 8, 8)])
            #expect(o.leaseTime == 86400)
            #expect(o.serverIdentifier == IPv4Address(10, 0, 2, 2))
            #expect(o.renewalTime == nil)
        }
    }

    @Test func rejectsBadCookieShortAndOp() {
        var bad = Self.offer; bad[236] = 0
        parse(bad) { b in #expect(throws: WireFormatError.badMagicCookie) { try DHCPMessage(validating: b) } }
        parse(Array(Self.offer.prefix(239))) { b in
            #expect(throws: WireFormatError.truncated(needed: 240, available: 239)) { try DHCPMessage(validating: b) }
        }
        var op = Self.offer; op[0] = 3
        parse(op) { b in #expect(throws: WireFormatError.badField) { try DHCPMessage(validating: b) } }
    }

    @Test func optionRunningPastEndIsMalformed() throws {
        // Cut the message inside the lease-time option: length byte says 4, only 2 remain.
        let cut = Array(Self.offer.prefix(240 + 3 + 6 + 6 + 10 + 4))
        try parse(cut) { b in
            let m = try DHCPMessage(validating: b)
            #expect(throws: WireFormatError.malformedOption(code: 51)) { try m.parseOptions() }
        }
        // A subnet mask of 3 bytes is malformed.
        var odd = Array(Self.offer.prefix(240))
        odd += [53, 1, 2, 1, 3, 255, 255, 255, 255]
        parse(odd) { b in
            #expect(throws: WireFormatError.malformedOption(code: 1)) { try DHCPMessage(validating: b).parseOptions() }
        }
        // An unknown message type value is malformed.
        var type = Array(Self.offer.prefix(240)) + [53, 1, 99, 255]
        parse(type) { b in
            #expect(throws: WireFormatError.malformedOption(code: 53)) { try DHCPMessage(validating: b).parseOptions() }
        }
        type[242] = 5
        try parse(type) { (b: UnsafeRawBufferPointer) throws in #expect(try DHCPMessage(validating: b).parseOptions().messageType == .ack) }
    }

    @Test func missingEndToleratedAndOverloadHonoured() throws {
        var m = Array(Self.offer.prefix(240)) + [53, 1, 5, 52, 1, 3]
        // file (108..<236) carries the server id, sname (44..<108) the lease time.
        let file: [UInt8] = [54, 4, 10, 9, 8, 7, 255]
        let sname: [UInt8] = [51, 4, 0, 0, 0, 60, 255]
        for (i, v) in file.enumerated() { m[108 + i] = v }
        for (i, v) in sname.enumerated() { m[44 + i] = v }
        try parse(m) { b in
            let o = try DHCPMessage(validating: b).parseOptions()
            #expect(o.messageType == .ack)
            #expect(o.serverIdentifier == IPv4Address(10, 9, 8, 7))
            #expect(o.leaseTime == 60)
        }
    }

    @Test func listsAreBounded() throws {
        var m = Array(Self.offer.prefix(240)) + [6, 64]
        for i in 0..<16 { m += [10, 0, 0, UInt8(i)] }
        m.append(255)
        try parse(m) { (b: UnsafeRawBufferPointer) throws in
            #expect(try DHCPMessage(validating: b).parseOptions().dnsServers.count == DHCPOptions.maximumListLength)
        }
    }

    @Test func writerRoundTrips() throws {
        let out = S.build(576) { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootRequest, transactionID: 42, seconds: 3,
                                      broadcast: true, hardwareAddress: S.macB)
            w.append(messageType: .request)
            w.append(DHCPOptionCode.requestedAddress, address: IPv4Address(10, 0, 2, 15))
            w.append(DHCPOptionCode.serverIdentifier, address: IPv4Address(10, 0, 2, 2))
            w.append(DHCPOptionCode.parameterRequestList, bytes: [1, 3, 6, 51])
            w.append(DHCPOptionCode.router, addresses: [IPv4Address(1, 1, 1, 1), IPv4Address(2, 2, 2, 2)])
            w.append(DHCPOptionCode.maximumMessageSize, value: 1500)
            let n = w.finish()
            #expect(n == 300)
            #expect(!w.overflowed)
        }
        try parse(Array(out.prefix(300))) { b in
            let m = try DHCPMessage(validating: b)
            #expect(m.op == 1 && m.transactionID == 42 && m.seconds == 3 && m.broadcastFlag)
            #expect(m.clientHardwareAddress == S.macB && m.hardwareType == 1 && m.hardwareAddressLength == 6)
            let o = try m.parseOptions()
            #expect(o.messageType == .request)
            #expect(o.requestedAddress == IPv4Address(10, 0, 2, 15))
            #expect(o.serverIdentifier == IPv4Address(10, 0, 2, 2))
            #expect(o.parameterRequestList == [1, 3, 6, 51])
            #expect(o.routers == [IPv4Address(1, 1, 1, 1), IPv4Address(2, 2, 2, 2)])
            #expect(o.maximumMessageSize == 1500)
        }
    }

    @Test func writerNeverOverflows() {
        _ = S.build(250) { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: 1, transactionID: 1, hardwareAddress: S.macA)
            w.append(messageType: .discover)
            w.append(DHCPOptionCode.parameterRequestList, bytes: Array(repeating: 1, count: 20))
            #expect(w.overflowed)
            #expect(w.finish() == 250)
        }
    }
}

@Suite struct DNSWireTests {
    /// A response to "example.com A" with one compressed answer 93.184.216.34, TTL 3600 (built with Python).
    static let response = S.bytes(
        "beef81800001000100000000076578616d706c6503636f6d0000010001c00c0001000100000e1000045db8d822")

    @Test func parsesResponse() throws {
        try parse(Self.response) { b in
            let m = try DNSMessage(validating: b)
            #expect(m.id == 0xBEEF && m.isResponse && m.recursionDesired && m.recursionAvailable)
            #expect(m.responseCode == 0 && !m.isTruncated && m.questionCount == 1 && m.answerCount == 1)
            let r = try m.parseResponse()
            #expect(r.questionName == (try DNSName("example.com")))
            #expect(r.questionType == DNSRecordType.a)
            #expect(r.addresses == [DNSAddressRecord(address: IPv4Address(93, 184, 216, 34), ttl: 3600)])
        }
    }

    @Test func namesEncodeCompareAndPrint() throws {
        let n = try DNSName("www.Example.COM.")
        #expect(n.wire == [3] + Array("www".utf8) + [7] + Array("Example".utf8) + [3] + Array("COM".utf8) + [0])
        #expect(n == (try DNSName("WWW.example.com")))
        #expect(n != (try DNSName("www.example.org")))
        #expect(n.labelCount == 3)
        #expect(n.description == "www.Example.COM")
        #expect(throws: WireFormatError.malformedName) { try DNSName("a..b") }
        #expect(throws: WireFormatError.malformedName) { try DNSName("") }
        #expect(throws: WireFormatError.malformedName) { try DNSName(".") }
        #expect(throws: WireFormatError.malformedName) { try DNSName(String(repeating: "x", count: 64)) }
        #expect((try? DNSName(String(repeating: "x", count: 63))) != nil)
        // 4 labels of 63 = 256 bytes encoded with the root: too long; 3 labels of 63 + one of 61 = 255 fits.
        let l63 = String(repeating: "a", count: 63)
        #expect(throws: WireFormatError.malformedName) { try DNSName("\(l63).\(l63).\(l63).\(l63)") }
        #expect((try? DNSName("\(l63).\(l63).\(l63).\(String(repeating: "b", count: 61))"))?.wire.count == 255)
    }

    @Test func queryEmitRoundTrips() throws {
        let name = try DNSName("example.com")
        let q = S.build(DNSMessage.queryLength(for: name)) { DNSMessage.emitQuery(into: $0, id: 0xBEEF, name: name) }
        #expect(q == S.bytes("beef01000001000000000000076578616d706c6503636f6d0000010001"))
        try parse(q) { b in
            let m = try DNSMessage(validating: b)
            #expect(!m.isResponse && m.recursionDesired && m.questionCount == 1)
            #expect(try m.parseResponse().questionName == name)
        }
    }

    @Test func compressionLoopsAndForwardPointersRejected() {
        // The question name is a pointer to itself.
        var selfLoop = S.bytes("000081800001000000000000c00c00010001")
        parse(selfLoop) { b in #expect(throws: WireFormatError.malformedName) { try DNSMessage(validating: b).parseResponse() } }
        // Answer name: label "a" then a pointer back to that label (a two-step loop).
        selfLoop = S.bytes("00008180000000010000000001 61 c00c 0001000100000000000401020304")
        parse(selfLoop) { b in #expect(throws: WireFormatError.malformedName) { try DNSMessage(validating: b).parseResponse() } }
        // A pointer forward.
        let forward = S.bytes("000081800001000000000000c01000010001 0000")
        parse(forward) { b in #expect(throws: WireFormatError.malformedName) { try DNSMessage(validating: b).parseResponse() } }
        // Reserved label type 01.
        let reserved = S.bytes("0000818000010000000000004100 00010001")
        parse(reserved) { b in #expect(throws: WireFormatError.malformedName) { try DNSMessage(validating: b).parseResponse() } }
    }

    @Test func truncationAndBadLengths() {
        for cut in stride(from: 12, to: Self.response.count, by: 1) {
            parse(Array(Self.response.prefix(cut))) { b in
                #expect(throws: WireFormatError.self) { try DNSMessage(validating: b).parseResponse() }
            }
        }
        parse(Array(Self.response.prefix(11))) { b in
            #expect(throws: WireFormatError.truncated(needed: 12, available: 11)) { try DNSMessage(validating: b) }
        }
        var tc = Self.response; tc[2] |= 0x02
        parse(tc) { b in #expect((try? DNSMessage(validating: b).parseResponse())?.isTruncated == true) }
        // An A record with 5 bytes of data.
        var five = Self.response
        five[five.count - 5] = 5
        five.append(0)
        parse(five) { b in #expect(throws: WireFormatError.badLength(5)) { try DNSMessage(validating: b).parseResponse() } }
    }

    @Test func nameLengthLimitWhileDecompressing() {
        // 5 labels of 63 bytes in one uncompressed name (over 255 bytes).
        var m = S.bytes("000081800001000000000000")
        for _ in 0..<5 { m.append(63); m += Array(repeating: 0x61, count: 63) }
        m += [0, 0, 1, 0, 1]
        parse(m) { b in #expect(throws: WireFormatError.malformedName) { try DNSMessage(validating: b).parseResponse() } }
    }

    @Test func skipsCNAMEAndKeepsARecords() throws {
        // Question www.example.com; answers: CNAME -> example.com (compressed), then A for it.
        var m = S.bytes("12348180000100020000000003777777076578616d706c6503636f6d0000010001")
        m += S.bytes("c00c 0005 0001 0000003c 0002 c010")
        m += S.bytes("c010 0001 0001 0000003c 0004 0a000001")
        try parse(m) { b in
            let r = try DNSMessage(validating: b).parseResponse()
            #expect(r.addresses == [DNSAddressRecord(address: IPv4Address(10, 0, 0, 1), ttl: 60)])
            #expect(r.questionName?.description == "www.example.com")
        }
    }
}
