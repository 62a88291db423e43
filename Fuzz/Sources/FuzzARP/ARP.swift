import FuzzSupport
import Interfaces
import TCPStack

// Target `arp`: `ARPPacket(validating:)` on arbitrary bytes (RFC 826, Ethernet/IPv4 only).
//
// Checked: acceptance agrees with a reference model (28 bytes, htype 1, ptype 0x0800, hlen 6, plen 4, op 1 or
// 2); accessors match the bytes; `ARPRepr` round-trips through `emit` to the same 28 bytes; trailing bytes
// (Ethernet padding) are ignored.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, arp) }


func arp(_ bytes: UnsafeRawBufferPointer) {
    func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) }
    let modelAccepts = bytes.count >= 28 && u16(0) == 1 && u16(2) == 0x0800 && bytes[4] == 6 && bytes[5] == 4
        && (u16(6) == 1 || u16(6) == 2)
    do {
        let packet = try ARPPacket(validating: bytes)
        require(modelAccepts, "accepted a packet the model refuses: \(hex(bytes))")
        require(packet.operation.rawValue == u16(6), "operation accessor")
        require(packet.senderHardwareAddress == MACAddress(bytes: bytes, offset: 8), "sha")
        require(packet.senderProtocolAddress == IPv4Address(bytes: bytes, offset: 14), "spa")
        require(packet.targetHardwareAddress == MACAddress(bytes: bytes, offset: 18), "tha")
        require(packet.targetProtocolAddress == IPv4Address(bytes: bytes, offset: 24), "tpa")
        let repr = ARPRepr(packet)
        var out = [UInt8](repeating: 0xEE, count: 28)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        require(sameBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<28]), out), "ARPRepr round trip")
        let again = out.withUnsafeBytes { try? ARPPacket(validating: $0) }
        require(again.map { ARPRepr($0) == repr } ?? false, "re-parse of the emitted packet")
        _ = packet.operation.description
    } catch {
        require(!modelAccepts, "refused a valid packet (\(error)): \(hex(bytes))")
        switch error {
        case .truncated(let needed, let available):
            require(bytes.count < 28 && needed == 28 && available == bytes.count, "truncation report")
        case .unsupported:
            require(bytes.count >= 28, "unsupported for a short packet")
        default:
            invariantFailed("unexpected error \(error)")
        }
    }
}

func seeds() -> [Seed] {
    let peer = MACAddress(0x52, 0x54, 0, 0x12, 0x34, 0x56)
    let us = MACAddress(0x02, 0, 0, 0, 0, 1)
    let request = ARPRepr(operation: .request, senderHardwareAddress: peer, senderProtocolAddress: IPv4Address(10, 0, 2, 2),
                          targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address(10, 0, 2, 15))
    let reply = ARPRepr(operation: .reply, senderHardwareAddress: us, senderProtocolAddress: IPv4Address(10, 0, 2, 15),
                        targetHardwareAddress: peer, targetProtocolAddress: IPv4Address(10, 0, 2, 2))
    var padded = Packets.arp(reply)
    padded += [UInt8](repeating: 0, count: 18)
    var rarp = Packets.arp(request)
    rarp[7] = 3
    var ipv6 = Packets.arp(request)
    ipv6[2] = 0x86
    ipv6[3] = 0xDD
    return [
        Seed("request", Packets.arp(request)),
        Seed("reply-padded", padded),
        Seed("announcement", Packets.arp(ARPRepr.announcement(mac: us, address: IPv4Address(10, 0, 2, 15)))),
        Seed("rarp-opcode", rarp),
        Seed("other-protocol", ipv6),
        Seed("short", Array(Packets.arp(request).prefix(27))),
    ]
}
