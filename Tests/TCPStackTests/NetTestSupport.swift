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
