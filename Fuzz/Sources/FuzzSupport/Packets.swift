import Interfaces
import TCPStack

/// Packet builders for harnesses and seeds. They use the stack's own emitters, so what they produce is what the
/// stack would send; harnesses then mutate or reinterpret it.
public enum Packets {
    /// An Ethernet II frame.
    public static func ethernet(destination: MACAddress, source: MACAddress, etherType: UInt16,
                                payload: [UInt8]) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: EthernetFrame.headerLength + payload.count)
        frame.withUnsafeMutableBytes { b in
            EthernetHeader(destination: destination, source: source, etherType: etherType).emit(into: b)
        }
        frame.replaceSubrange(EthernetFrame.headerLength..., with: payload)
        return frame
    }

    /// An IPv4 packet (20-byte header, checksum filled in) around `payload`.
    public static func ipv4(source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8, payload: [UInt8],
                            timeToLive: UInt8 = 64, identification: UInt16 = 0, dontFragment: Bool = false,
                            moreFragments: Bool = false, fragmentOffset: Int = 0) -> [UInt8] {
        let payload = Array(payload.prefix(IPv4Header.maximumPayloadLength))
        let header = IPv4Header(source: source, destination: destination, protocolNumber: protocolNumber,
                                payloadLength: payload.count, timeToLive: timeToLive, identification: identification,
                                dontFragment: dontFragment, moreFragments: moreFragments,
                                fragmentOffset: (fragmentOffset & 0xFFF8) & 0xFFFF)
        var packet = [UInt8](repeating: 0, count: IPv4Packet.minimumHeaderLength + payload.count)
        packet.withUnsafeMutableBytes { header.emit(into: $0) }
        packet.replaceSubrange(IPv4Packet.minimumHeaderLength..., with: payload)
        return packet
    }

    /// A TCP segment (header, options, payload) with its checksum over the IPv4 pseudo-header.
    public static func tcp(source: IPv4Address, destination: IPv4Address, header: TCPHeader,
                           payload: [UInt8]) -> [UInt8] {
        var segment = [UInt8](repeating: 0, count: header.length + payload.count)
        segment.withUnsafeMutableBytes { b in
            header.emit(into: b)
            TCPHeader.fillChecksum(b, source: source, destination: destination)
        }
        if !payload.isEmpty {
            segment.replaceSubrange(header.length..., with: payload)
            segment.withUnsafeMutableBytes { TCPHeader.fillChecksum($0, source: source, destination: destination) }
        }
        return segment
    }

    /// A UDP datagram with its checksum.
    public static func udp(source: IPv4Address, destination: IPv4Address, sourcePort: UInt16,
                           destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        var datagram = [UInt8](repeating: 0, count: UDPDatagram.headerLength + payload.count)
        datagram.replaceSubrange(UDPDatagram.headerLength..., with: payload)
        datagram.withUnsafeMutableBytes { b in
            UDPDatagram.emitHeader(into: b, sourcePort: sourcePort, destinationPort: destinationPort,
                                   source: source, destination: destination)
        }
        return datagram
    }

    /// An ICMP echo request or reply.
    public static func icmpEcho(reply: Bool, identifier: UInt16, sequenceNumber: UInt16, payload: [UInt8]) -> [UInt8] {
        var message = [UInt8](repeating: 0, count: ICMPv4Message.echoLength(payloadLength: payload.count))
        message.withUnsafeMutableBytes { b in
            payload.withUnsafeBytes { p in
                ICMPv4Message.emitEcho(into: b, reply: reply, identifier: identifier, sequenceNumber: sequenceNumber,
                                       payload: p)
            }
        }
        return message
    }

    /// An ICMP error message quoting `quote` (an IPv4 header and the start of its payload).
    public static func icmpError(type: UInt8, code: UInt8, restOfHeader: UInt32 = 0, quote: [UInt8]) -> [UInt8] {
        var message = [UInt8](repeating: 0, count: ICMPv4Message.headerLength + quote.count)
        message.withUnsafeMutableBytes { b in
            quote.withUnsafeBytes { q in
                ICMPv4Message.emitError(into: b, type: type, code: code, restOfHeader: restOfHeader, quote: q)
            }
        }
        return message
    }

    /// A 28-byte ARP packet.
    public static func arp(_ repr: ARPRepr) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: ARPPacket.length)
        packet.withUnsafeMutableBytes { repr.emit(into: $0) }
        return packet
    }

    /// A DHCP server message (BOOTREPLY) of `type` offering or granting `yourAddress`, with the usual options.
    public static func dhcpReply(type: DHCPMessageType, transactionID: UInt32, client: MACAddress,
                                 yourAddress: IPv4Address, server: IPv4Address, prefixLength: Int = 24,
                                 router: IPv4Address? = nil, dnsServers: [IPv4Address] = [],
                                 leaseSeconds: UInt32? = 3600, renewal: UInt32? = nil,
                                 rebinding: UInt32? = nil) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 576)
        let length = buffer.withUnsafeMutableBytes { b -> Int in
            var w = DHCPMessageWriter(buffer: b, op: DHCPMessage.bootReply, transactionID: transactionID,
                                      yourAddress: yourAddress, serverAddress: server, hardwareAddress: client)
            w.append(messageType: type)
            w.append(DHCPOptionCode.serverIdentifier, address: server)
            w.append(DHCPOptionCode.subnetMask, address: IPv4Network(address: yourAddress,
                                                                      prefixLength: prefixLength).mask)
            if let router { w.append(DHCPOptionCode.router, addresses: [router]) }
            if !dnsServers.isEmpty { w.append(DHCPOptionCode.domainNameServer, addresses: dnsServers) }
            if let leaseSeconds { w.append(DHCPOptionCode.leaseTime, seconds: leaseSeconds) }
            if let renewal { w.append(DHCPOptionCode.renewalTime, seconds: renewal) }
            if let rebinding { w.append(DHCPOptionCode.rebindingTime, seconds: rebinding) }
            return w.finish()
        }
        return Array(buffer.prefix(length))
    }

    /// A DNS response to a query for `name` with the given A records (compressed owner names), written by hand
    /// (the stack has no response emitter).
    public static func dnsResponse(id: UInt16, name: String, addresses: [(IPv4Address, UInt32)],
                                   responseCode: UInt8 = 0, cname: String? = nil) -> [UInt8] {
        var out: [UInt8] = []
        func put16(_ v: UInt16) { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xFF)) }
        func put32(_ v: UInt32) { put16(UInt16(v >> 16)); put16(UInt16(v & 0xFFFF)) }
        let wire = (try? DNSName(name))?.wire ?? [0]
        put16(id)
        out.append(0x81)                          // QR, RD
        out.append(0x80 | (responseCode & 0x0F))  // RA, RCODE
        put16(1)
        put16(UInt16(addresses.count + (cname == nil ? 0 : 1)))
        put16(0)
        put16(0)
        out.append(contentsOf: wire)
        put16(DNSRecordType.a)
        put16(DNSRecordType.classIN)
        var owner: [UInt8] = [0xC0, 12]           // pointer to the question name
        if let cname, let target = try? DNSName(cname) {
            out.append(contentsOf: owner)
            put16(DNSRecordType.cname)
            put16(DNSRecordType.classIN)
            put32(300)
            put16(UInt16(target.wire.count))
            let at = out.count
            out.append(contentsOf: target.wire)
            owner = [0xC0 | UInt8(at >> 8), UInt8(at & 0xFF)]
        }
        for (address, ttl) in addresses {
            out.append(contentsOf: owner)
            put16(DNSRecordType.a)
            put16(DNSRecordType.classIN)
            put32(ttl)
            put16(4)
            put32(address.value)
        }
        return out
    }

    /// A DNS query, as the resolver sends it.
    public static func dnsQuery(id: UInt16, name: String) -> [UInt8] {
        guard let n = try? DNSName(name) else { return [] }
        var out = [UInt8](repeating: 0, count: DNSMessage.queryLength(for: n))
        out.withUnsafeMutableBytes { DNSMessage.emitQuery(into: $0, id: id, name: n) }
        return out
    }
}

/// Repairs of raw frames, so that mutated inputs get past checksums and length checks and reach the code behind
/// them. Each repair only rewrites length and checksum fields.
public enum FrameRepair {
    /// Sets the IPv4 total length to the bytes present (capped at 65535) and recomputes the header checksum,
    /// for the packet at `offset` in `bytes`. Leaves packets too short for a header, or with a bad version or
    /// header length, alone.
    public static func fixIPv4(_ bytes: inout [UInt8], at offset: Int) {
        guard bytes.count >= offset + 20, bytes[offset] >> 4 == 4 else { return }
        let ihl = Int(bytes[offset] & 0x0F) * 4
        guard ihl >= 20, offset + ihl <= bytes.count else { return }
        let total = min(bytes.count - offset, 65535)
        bytes[offset + 2] = UInt8(total >> 8)
        bytes[offset + 3] = UInt8(total & 0xFF)
        bytes[offset + 10] = 0
        bytes[offset + 11] = 0
        let sum = bytes.withUnsafeBytes { InternetChecksum.of(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + ihl)])) }
        bytes[offset + 10] = UInt8(sum >> 8)
        bytes[offset + 11] = UInt8(sum & 0xFF)
    }

    /// Recomputes the TCP, UDP (length field too) or ICMP checksum of the unfragmented IPv4 packet at `offset`.
    public static func fixTransport(_ bytes: inout [UInt8], at offset: Int) {
        guard bytes.count >= offset + 20, bytes[offset] >> 4 == 4 else { return }
        let ihl = Int(bytes[offset] & 0x0F) * 4
        let total = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        guard ihl >= 20, total >= ihl, offset + total <= bytes.count else { return }
        let flags = Int(bytes[offset + 6]) << 8 | Int(bytes[offset + 7])
        guard flags & 0x3FFF == 0 else { return }  // a fragment: the transport checksum covers the whole datagram
        let start = offset + ihl
        let end = offset + total
        let length = end - start
        let source = bytes.withUnsafeBytes { IPv4Address(bytes: $0, offset: offset + 12) }
        let destination = bytes.withUnsafeBytes { IPv4Address(bytes: $0, offset: offset + 16) }
        let proto = bytes[offset + 9]
        func store(_ at: Int, _ v: UInt16) {
            bytes[at] = UInt8(v >> 8)
            bytes[at + 1] = UInt8(v & 0xFF)
        }
        switch proto {
        case IPProtocolNumber.tcp where length >= 20:
            store(start + 16, 0)
            let sum = bytes.withUnsafeBytes {
                TCPHeader.checksum(of: UnsafeRawBufferPointer(rebasing: $0[start..<end]), source: source,
                                   destination: destination)
            }
            store(start + 16, sum)
        case IPProtocolNumber.udp where length >= 8:
            store(start + 4, UInt16(length))
            store(start + 6, 0)
            var sum = IPv4Header.pseudoHeaderChecksum(source: source, destination: destination,
                                                      protocolNumber: IPProtocolNumber.udp, length: length)
            bytes.withUnsafeBytes { sum.add(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
            let v = sum.value
            store(start + 6, v == 0 ? 0xFFFF : v)
        case IPProtocolNumber.icmp where length >= 8:
            store(start + 2, 0)
            let sum = bytes.withUnsafeBytes { InternetChecksum.of(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
            store(start + 2, sum)
        default:
            break
        }
    }
}
