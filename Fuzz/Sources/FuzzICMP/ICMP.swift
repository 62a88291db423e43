import FuzzSupport
import Interfaces
import TCPStack

// Target `icmp`: `ICMPv4Message(validating:)` on arbitrary bytes (RFC 792), with the quoted packet of error
// messages, and the echo and error emitters.
//
// Checked: acceptance agrees with a model (8 bytes, checksum); accessors match the bytes; `quotedPacket` is
// present exactly for error types with a plausible IPv4 header and reads the right fields; echo and error
// messages re-emit to the same bytes (checksum compared by validity: 0x0000 and 0xFFFF both verify);
// `quote(of:)` takes the header and at most 8 payload bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, icmp) }


func icmp(_ bytes: UnsafeRawBufferPointer) {
    let checksumOK = InternetChecksum.of(bytes) == 0
    for verify in [false, true] {
        do {
            let message = try ICMPv4Message(validating: bytes, verifyChecksum: verify)
            require(bytes.count >= 8 && (!verify || checksumOK), "accepted an invalid message")
            check(message, bytes, checksumOK: checksumOK)
        } catch {
            switch error {
            case .truncated(let needed, let available):
                require(bytes.count < 8 && needed == 8 && available == bytes.count, "truncation report")
            case .badChecksum:
                require(verify && bytes.count >= 8 && !checksumOK, "badChecksum on a good message")
            default:
                invariantFailed("unexpected error \(error)")
            }
        }
    }
}

func check(_ message: ICMPv4Message, _ bytes: UnsafeRawBufferPointer, checksumOK: Bool) {
    let type = bytes[0]
    require(message.type == type && message.code == bytes[1], "type/code")
    require(message.identifier == UInt16(bytes[4]) << 8 | UInt16(bytes[5]), "identifier")
    require(message.sequenceNumber == UInt16(bytes[6]) << 8 | UInt16(bytes[7]), "sequence")
    require(message.data.count == bytes.count - 8, "data view")
    let data = message.data
    // The quote model: error types only; version 4, IHL >= 5 and inside the quote.
    let isError = type == 3 || type == 4 || type == 5 || type == 11 || type == 12
    require(ICMPv4Type.isError(type) == isError, "isError(\(type))")
    let ihl = data.count > 0 ? Int(data[0] & 0x0F) * 4 : 0
    let plausible = data.count >= 20 && data[0] >> 4 == 4 && ihl >= 20 && ihl <= data.count
    if let quoted = message.quotedPacket {
        require(isError && plausible, "quotedPacket for a non-error or implausible quote")
        require(quoted.source == IPv4Address(bytes: data, offset: 12), "quoted source")
        require(quoted.destination == IPv4Address(bytes: data, offset: 16), "quoted destination")
        require(quoted.protocolNumber == data[9], "quoted protocol")
        if data.count >= ihl + 4 {
            require(quoted.sourcePort == UInt16(data[ihl]) << 8 | UInt16(data[ihl + 1]), "quoted source port")
            require(quoted.destinationPort == UInt16(data[ihl + 2]) << 8 | UInt16(data[ihl + 3]), "quoted port")
        } else {
            require(quoted.sourcePort == nil && quoted.destinationPort == nil, "ports from a short quote")
        }
    } else {
        require(!(isError && plausible), "no quotedPacket for a plausible error quote")
    }
    // Re-emit and compare all but the checksum; the emitted checksum must verify.
    var out = [UInt8](repeating: 0xEE, count: bytes.count)
    out.withUnsafeMutableBytes { buffer in
        if (type == 0 || type == 8) && bytes[1] == 0 {
            ICMPv4Message.emitEcho(into: buffer, reply: type == 0, identifier: message.identifier,
                                   sequenceNumber: message.sequenceNumber, payload: data)
        } else {
            let rest = UInt32(bytes[4]) << 24 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 8 | UInt32(bytes[7])
            ICMPv4Message.emitError(into: buffer, type: type, code: bytes[1], restOfHeader: rest, quote: data)
        }
    }
    require(out.withUnsafeBytes { InternetChecksum.of($0) } == 0, "emitted checksum does not verify")
    for i in 0..<bytes.count where i != 2 && i != 3 {
        require(out[i] == bytes[i], "re-emitted byte \(i) differs")
    }
    if checksumOK {
        let same = out[2] == bytes[2] && out[3] == bytes[3]
        let zeroForms = (out[2] == 0 && out[3] == 0 && bytes[2] == 0xFF && bytes[3] == 0xFF)
            || (out[2] == 0xFF && out[3] == 0xFF && bytes[2] == 0 && bytes[3] == 0)
        require(same || zeroForms, "checksum differs beyond the two forms of zero")
    }
    // Quoting: a packet in the data quotes as its header plus at most 8 bytes.
    if let packet = try? IPv4Packet(validating: data, verifyChecksum: false) {
        let quote = ICMPv4Message.quote(of: packet)
        require(quote.count == min(packet.totalLength, packet.headerLength + 8), "quote length")
        require(quote.baseAddress == data.baseAddress, "quote is not a prefix view")
        require(ICMPv4Message.errorLength(quoting: quote) == 8 + quote.count, "errorLength")
        // A two-piece error emit puts the same bytes where a one-piece emit does.
        var one = [UInt8](repeating: 0, count: 8 + quote.count)
        var two = one
        one.withUnsafeMutableBytes { ICMPv4Message.emitError(into: $0, type: 3, code: 3, quote: quote) }
        two.withUnsafeMutableBytes {
            ICMPv4Message.emitError(into: $0, type: 3, code: 3, quoteHeader: packet.header, quotePayload: packet.payload)
        }
        require(one == two, "one-piece and two-piece error quotes differ")
    }
}

func seeds() -> [Seed] {
    let udp = Packets.udp(source: IPv4Address(10, 0, 2, 15), destination: IPv4Address(10, 0, 2, 2), sourcePort: 5353,
                          destinationPort: 9, payload: [1, 2, 3, 4])
    let original = Packets.ipv4(source: IPv4Address(10, 0, 2, 15), destination: IPv4Address(10, 0, 2, 2),
                                protocolNumber: IPProtocolNumber.udp, payload: udp)
    let quote = Array(original.prefix(28))
    var badEcho = Packets.icmpEcho(reply: false, identifier: 1, sequenceNumber: 2, payload: [9, 9, 9])
    badEcho[3] ^= 1
    return [
        Seed("echo-request", Packets.icmpEcho(reply: false, identifier: 0x1234, sequenceNumber: 1,
                                              payload: Array("abcdefghijklmnop".utf8))),
        Seed("echo-reply", Packets.icmpEcho(reply: true, identifier: 0x1234, sequenceNumber: 2, payload: [])),
        Seed("port-unreachable", Packets.icmpError(type: 3, code: 3, quote: quote)),
        Seed("frag-needed", Packets.icmpError(type: 3, code: 4, restOfHeader: 576, quote: quote)),
        Seed("time-exceeded-short", Packets.icmpError(type: 11, code: 0, quote: Array(quote.prefix(22)))),
        Seed("parameter-problem", Packets.icmpError(type: 12, code: 0, restOfHeader: 0x0800_0000, quote: quote)),
        Seed("bad-checksum", badEcho),
        Seed("timestamp", [13, 0, 0xF2, 0xFF, 0, 1, 0, 1] + [UInt8](repeating: 0, count: 12)),
    ]
}
