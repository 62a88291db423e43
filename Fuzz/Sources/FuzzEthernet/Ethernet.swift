import FuzzSupport
import Interfaces
import TCPStack

// Target `ethernet`: `EthernetFrame(validating:)` on arbitrary bytes.
//
// Checked: the outcome agrees with a reference model of RFC 894 framing as this stack implements it (14-byte
// header, VLAN tags refused, 802.3 length values refused); a valid frame's accessors match the bytes; the
// header round-trips through `EthernetHeader.emit`; the payload is a view, not a copy.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, ethernet) }


func ethernet(_ bytes: UnsafeRawBufferPointer) {
    let type: UInt16? = bytes.count >= 14 ? UInt16(bytes[12]) << 8 | UInt16(bytes[13]) : nil
    do {
        let frame = try EthernetFrame(validating: bytes)
        guard let type else { invariantFailed("accepted a \(bytes.count)-byte frame") }
        require(type >= 0x0600 && type != EtherType.vlan && type != EtherType.qinq, "accepted EtherType \(type)")
        require(frame.etherType == type, "etherType accessor")
        require(frame.bytes.count == bytes.count, "frame view length")
        require(frame.payload.count == bytes.count - 14, "payload length")
        if frame.payload.count > 0 {
            require(frame.payload.baseAddress == bytes.baseAddress! + 14, "payload is not a view at offset 14")
        }
        require(frame.destination == MACAddress(bytes: bytes, offset: 0), "destination accessor")
        require(frame.source == MACAddress(bytes: bytes, offset: 6), "source accessor")
        var header = [UInt8](repeating: 0, count: 14)
        header.withUnsafeMutableBytes { EthernetHeader(frame).emit(into: $0) }
        require(sameBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<14]), header), "header round trip")
    } catch {
        switch error {
        case .truncated(let needed, let available):
            require(type == nil && needed == 14 && available == bytes.count, "wrong truncation report \(error)")
        case .vlanTagged:
            require(type == EtherType.vlan || type == EtherType.qinq, "vlanTagged for type \(String(describing: type))")
        case .unsupported:
            require(type != nil && type! < 0x0600, "unsupported for type \(String(describing: type))")
        default:
            invariantFailed("unexpected error \(error)")
        }
    }
    // The multicast mapping of RFC 1112 §6.4 for an address taken from the input.
    if bytes.count >= 4 {
        let group = IPv4Address(bytes: bytes, offset: 0)
        let mac = MACAddress(multicastGroup: group)
        require(mac.octets.0 == 0x01 && mac.octets.1 == 0x00 && mac.octets.2 == 0x5E && mac.octets.3 & 0x80 == 0,
                "multicast MAC prefix")
        require(UInt32(mac.octets.3) << 16 | UInt32(mac.octets.4) << 8 | UInt32(mac.octets.5)
                == group.value & 0x7F_FFFF, "multicast MAC low 23 bits")
        require(mac.isMulticast, "group MAC without the group bit")
    }
}

func seeds() -> [Seed] {
    let us = MACAddress(0x02, 0, 0, 0, 0, 1)
    let peer = MACAddress(0x52, 0x54, 0, 0x12, 0x34, 0x56)
    let ip = Packets.ipv4(source: IPv4Address(10, 0, 2, 2), destination: IPv4Address(10, 0, 2, 15),
                          protocolNumber: IPProtocolNumber.udp, payload: [1, 2, 3, 4, 5, 6, 7, 8])
    return [
        Seed("ipv4", Packets.ethernet(destination: us, source: peer, etherType: EtherType.ipv4, payload: ip)),
        Seed("arp-broadcast", Packets.ethernet(destination: .broadcast, source: peer, etherType: EtherType.arp,
                                               payload: [UInt8](repeating: 0, count: 28))),
        Seed("ipv6", Packets.ethernet(destination: us, source: peer, etherType: EtherType.ipv6, payload: [0x60])),
        Seed("vlan", Packets.ethernet(destination: us, source: peer, etherType: EtherType.vlan, payload: [0, 1, 8, 0])),
        Seed("qinq", Packets.ethernet(destination: us, source: peer, etherType: EtherType.qinq, payload: [0, 1])),
        Seed("8023-length", Packets.ethernet(destination: us, source: peer, etherType: 0x05DC, payload: [0xAA, 0xAA])),
        Seed("header-only", Packets.ethernet(destination: us, source: peer, etherType: EtherType.ipv4, payload: [])),
        Seed("short", [0x02, 0, 0, 0, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08]),
    ]
}
