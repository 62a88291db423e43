import Interfaces
@testable import TCPStack

/// Helpers shared by the lower-layer tests (namespaced so they cannot clash with other test files).
enum NetTestSupport {
    /// Bytes from a hex string; spaces are ignored.
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var pending: UInt8? = nil
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: continue
            }
            if let p = pending { out.append(p << 4 | v); pending = nil } else { pending = v }
        }
        precondition(pending == nil, "odd number of hex digits")
        return out
    }

    /// A buffer of `length` bytes written by `body`.
    static func build(_ length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        out.withUnsafeMutableBytes { body($0) }
        return out
    }

    static let macA = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
    static let macB = MACAddress(0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF)
    static let macC = MACAddress(0x52, 0x54, 0x00, 0x00, 0x00, 0x0C)

    /// An Ethernet frame carrying an IPv4 packet with the given payload.
    static func ipv4Frame(from srcMAC: MACAddress, to dstMAC: MACAddress, source: IPv4Address,
                          destination: IPv4Address, protocolNumber: UInt8, payload: [UInt8],
                          identification: UInt16 = 1, moreFragments: Bool = false, fragmentOffset: Int = 0,
                          ttl: UInt8 = 64) -> [UInt8] {
        build(14 + 20 + payload.count) { b in
            EthernetHeader(destination: dstMAC, source: srcMAC, etherType: EtherType.ipv4).emit(into: b)
            IPv4Header(source: source, destination: destination, protocolNumber: protocolNumber,
                       payloadLength: payload.count, timeToLive: ttl, identification: identification,
                       moreFragments: moreFragments, fragmentOffset: fragmentOffset)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: b[14...]))
            for (i, v) in payload.enumerated() { b[34 + i] = v }
        }
    }

    /// A UDP datagram (header and payload) with a correct checksum.
    static func udp(from source: IPv4Address, _ sourcePort: UInt16, to destination: IPv4Address,
                    _ destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        build(8 + payload.count) { b in
            for (i, v) in payload.enumerated() { b[8 + i] = v }
            UDPDatagram.emitHeader(into: b, sourcePort: sourcePort, destinationPort: destinationPort,
                                   source: source, destination: destination)
        }
    }
}

/// A transmitted frame decoded for assertions.
struct DecodedFrame {
    var destinationMAC: MACAddress
    var sourceMAC: MACAddress
    var etherType: UInt16
    var arp: ARPRepr?
    var ipSource: IPv4Address?
    var ipDestination: IPv4Address?
    var ipProtocol: UInt8?
    var ttl: UInt8?
    /// The IPv4 payload.
    var payload: [UInt8] = []
    /// The whole IPv4 packet.
    var ipPacket: [UInt8] = []

    init?(_ frame: [UInt8]) {
        guard let decoded: DecodedFrame = frame.withUnsafeBytes({ bytes in
            guard let f = try? EthernetFrame(validating: bytes) else { return nil }
            var d = DecodedFrame(destinationMAC: f.destination, sourceMAC: f.source, etherType: f.etherType)
            if f.etherType == EtherType.arp, let a = try? ARPPacket(validating: f.payload) { d.arp = ARPRepr(a) }
            if f.etherType == EtherType.ipv4, let p = try? IPv4Packet(validating: f.payload) {
                d.ipSource = p.source
                d.ipDestination = p.destination
                d.ipProtocol = p.protocolNumber
                d.ttl = p.timeToLive
                d.payload = Array(p.payload)
                d.ipPacket = Array(p.bytes)
            }
            return d
        }) else { return nil }
        self = decoded
    }

    private init(destinationMAC: MACAddress, sourceMAC: MACAddress, etherType: UInt16) {
        self.destinationMAC = destinationMAC
        self.sourceMAC = sourceMAC
        self.etherType = etherType
    }

    /// The UDP datagram in the payload, if any: (source port, destination port, payload).
    var udp: (sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8])? {
        guard ipProtocol == IPProtocolNumber.udp, let s = ipSource, let d = ipDestination else { return nil }
        return payload.withUnsafeBytes { bytes in
            guard let u = try? UDPDatagram(validating: bytes, source: s, destination: d) else { return nil }
            return (u.sourcePort, u.destinationPort, Array(u.payload))
        }
    }

    /// The ICMP message in the payload, if any: (type, code, identifier, sequence, data).
    var icmp: (type: UInt8, code: UInt8, identifier: UInt16, sequence: UInt16, data: [UInt8])? {
        guard ipProtocol == IPProtocolNumber.icmp else { return nil }
        return payload.withUnsafeBytes { bytes in
            guard let m = try? ICMPv4Message(validating: bytes) else { return nil }
            return (m.type, m.code, m.identifier, m.sequenceNumber, Array(m.data))
        }
    }
}

extension NetTestSupport {
    /// An Ethernet frame carrying an ARP packet.
    static func arpFrame(_ repr: ARPRepr, to dstMAC: MACAddress) -> [UInt8] {
        build(14 + 28) { b in
            EthernetHeader(destination: dstMAC, source: repr.senderHardwareAddress, etherType: EtherType.arp).emit(into: b)
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: b[14...]))
        }
    }

    /// An ICMP echo message.
    static func echo(reply: Bool = false, identifier: UInt16, sequence: UInt16, data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { d in
            build(8 + d.count) {
                ICMPv4Message.emitEcho(into: $0, reply: reply, identifier: identifier, sequenceNumber: sequence, payload: d)
            }
        }
    }

    static func instant(ms: Int) -> Instant { Instant(nanoseconds: UInt64(ms) * 1_000_000) }
}
