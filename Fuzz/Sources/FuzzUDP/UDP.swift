import FuzzSupport
import Interfaces
import TCPStack

// Target `udp`: `UDPDatagram(validating:source:destination:)` on arbitrary bytes (RFC 768).
//
// Input: 4 bytes source address, 4 bytes destination address, then the datagram.
// Checked: acceptance agrees with a model (8-byte header, 8 <= length <= buffer, checksum over the
// pseudo-header unless the field is 0), with and without addresses; accessors; the datagram re-emits with
// `emitHeader` to the same bytes and a checksum that verifies.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, udp) }


func udp(_ all: UnsafeRawBufferPointer) {
    var input = FuzzInput(all)
    let source = IPv4Address(input.u32())
    let destination = IPv4Address(input.u32())
    let bytes = input.rest()
    let n = bytes.count
    let length = n >= 8 ? Int(bytes[4]) << 8 | Int(bytes[5]) : 0
    let structurallyValid = n >= 8 && length >= 8 && length <= n
    let checksumField = n >= 8 ? UInt16(bytes[6]) << 8 | UInt16(bytes[7]) : 0
    var checksumOK = true
    if structurallyValid && checksumField != 0 {
        var sum = IPv4Header.pseudoHeaderChecksum(source: source, destination: destination,
                                                  protocolNumber: IPProtocolNumber.udp, length: length)
        sum.add(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
        checksumOK = sum.value == 0
    }
    for withAddresses in [false, true] {
        do {
            let datagram = withAddresses
                ? try UDPDatagram(validating: bytes, source: source, destination: destination)
                : try UDPDatagram(validating: bytes)
            require(structurallyValid && (!withAddresses || checksumOK), "accepted an invalid datagram: \(hex(bytes))")
            require(datagram.length == length && datagram.bytes.count == length, "length")
            require(datagram.payload.count == length - 8, "payload view")
            require(datagram.sourcePort == UInt16(bytes[0]) << 8 | UInt16(bytes[1]), "source port")
            require(datagram.destinationPort == UInt16(bytes[2]) << 8 | UInt16(bytes[3]), "destination port")
            require(datagram.checksum == checksumField, "checksum accessor")
            if withAddresses { roundTrip(datagram, source: source, destination: destination) }
        } catch {
            require(!structurallyValid || (withAddresses && !checksumOK), "refused a valid datagram (\(error))")
            switch error {
            case .truncated, .badLength: require(!structurallyValid, "\(error) for a well-formed datagram")
            case .badChecksum: require(withAddresses && !checksumOK, "badChecksum")
            default: invariantFailed("unexpected error \(error)")
            }
        }
    }
}

func roundTrip(_ datagram: UDPDatagram, source: IPv4Address, destination: IPv4Address) {
    var out = [UInt8](datagram.bytes)
    out.withUnsafeMutableBytes {
        UDPDatagram.emitHeader(into: $0, sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort,
                               source: source, destination: destination)
    }
    for i in 0..<6 { require(out[i] == datagram.bytes[i], "re-emitted header byte \(i) differs") }
    let again = out.withUnsafeBytes { try? UDPDatagram(validating: $0, source: source, destination: destination) }
    require(again != nil, "re-emitted datagram does not verify")
    require(out[6] != 0 || out[7] != 0, "emitted a zero checksum")
    if datagram.checksum != 0 && datagram.checksum != 0xFFFF {
        require(UInt16(out[6]) << 8 | UInt16(out[7]) == datagram.checksum, "checksum differs")
    }
}

func seeds() -> [Seed] {
    let a = IPv4Address(10, 0, 2, 15)
    let b = IPv4Address(10, 0, 2, 3)
    func seed(_ name: String, _ datagram: [UInt8]) -> Seed {
        var w = FuzzInputWriter()
        w.u32(b.value)
        w.u32(a.value)
        w.raw(datagram)
        return Seed(name, w.bytes)
    }
    let dns = Packets.udp(source: b, destination: a, sourcePort: 53, destinationPort: 40000,
                          payload: Packets.dnsResponse(id: 7, name: "example.com", addresses: [(IPv4Address(93, 184, 216, 34), 60)]))
    var noChecksum = Packets.udp(source: b, destination: a, sourcePort: 7, destinationPort: 7, payload: [1, 2, 3])
    noChecksum[6] = 0
    noChecksum[7] = 0
    var padded = Packets.udp(source: b, destination: a, sourcePort: 67, destinationPort: 68, payload: [])
    padded += [0, 0, 0, 0]
    var badLength = Packets.udp(source: b, destination: a, sourcePort: 1, destinationPort: 2, payload: [5, 5])
    badLength[5] = 40
    return [
        seed("dns", dns),
        seed("no-checksum", noChecksum),
        seed("padded-empty", padded),
        seed("bad-length", badLength),
        seed("short", [0, 53, 0, 53, 0]),
    ]
}
