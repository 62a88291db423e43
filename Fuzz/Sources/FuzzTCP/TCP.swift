import FuzzSupport
import Interfaces
import TCPStack

// Target `tcp`: the TCP header and options parser (RFC 9293 §3.1, §3.2; RFC 7323; RFC 2018) on arbitrary bytes.
//
// Input: 4 bytes source address, 4 bytes destination address, then the segment.
// Checked: `TCPSegmentView(checking:)` agrees with a model of the data offset rules; accessors and views match
// the bytes; `verifyChecksum` agrees with the checksum computed here; `TCPOptions.parse` agrees with a
// reference decoder, both on the segment's option bytes and on the whole input; a parsed header re-emits (when
// its options fit the 40-byte option space) and re-parses to the same value with a checksum that verifies;
// sequence-number arithmetic is consistent modulo 2^32.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, tcp) }


func tcp(_ all: UnsafeRawBufferPointer) {
    var input = FuzzInput(all)
    let source = IPv4Address(input.u32())
    let destination = IPv4Address(input.u32())
    let bytes = input.rest()
    checkOptions(bytes)
    sequenceNumbers(all)
    let n = bytes.count
    let words = n >= 13 ? Int(bytes[12] >> 4) : 0
    let valid = n >= 20 && words >= 5 && words * 4 <= n
    let view: TCPSegmentView
    do {
        view = try TCPSegmentView(checking: bytes)
    } catch {
        require(!valid, "refused a valid segment (\(error))")
        switch error {
        case .truncatedHeader(let length): require(n < 20 && length == n, "truncatedHeader report")
        case .badDataOffset(let w, let length): require(n >= 20 && w == words && length == n, "badDataOffset report")
        default: invariantFailed("unexpected error \(error)")
        }
        return
    }
    require(valid, "accepted an invalid segment: \(hex(bytes))")
    require(view.headerLength == words * 4, "header length")
    require(view.optionBytes.count == words * 4 - 20 && view.payload.count == n - words * 4, "views")
    require(view.sourcePort == UInt16(bytes[0]) << 8 | UInt16(bytes[1]), "source port")
    require(view.sequenceNumber.rawValue == u32(bytes, 4) && view.acknowledgmentNumber.rawValue == u32(bytes, 8), "seq/ack")
    require(view.flags.rawValue == bytes[13], "flags")
    _ = view.flags.description
    var sum = IPv4Header.pseudoHeaderChecksum(source: source, destination: destination, protocolNumber: 6, length: n)
    sum.add(bytes)
    require(view.verifyChecksum(source: source, destination: destination) == (sum.value == 0), "checksum verdict")
    let header: TCPHeader
    do {
        header = try TCPHeader(parsing: view)
    } catch {
        return  // checkOptions has judged the option bytes already
    }
    require(header.sequenceNumber == view.sequenceNumber && header.window == view.window
            && header.urgentPointer == view.urgentPointer, "header fields")
    guard header.options.encodedLength <= 40 else { return }  // `emit` only promises 40 bytes for what TCP sends
    var out = [UInt8](repeating: 0xEE, count: header.length + view.payload.count)
    out.withUnsafeMutableBytes { buffer in
        header.emit(into: buffer)
        if view.payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[header.length...]).copyMemory(from: view.payload)
        }
        TCPHeader.fillChecksum(buffer, source: source, destination: destination)
    }
    require(out.count >= 20 && header.length % 4 == 0, "emitted length \(header.length)")
    out.withUnsafeBytes { raw in
        guard let again = try? TCPSegmentView(checking: raw) else { invariantFailed("emitted header does not parse") }
        require(again.headerLength == header.length, "emitted data offset")
        require(again.verifyChecksum(source: source, destination: destination), "emitted checksum")
        guard let reparsed = try? TCPHeader(parsing: again) else { invariantFailed("emitted options do not parse") }
        require(reparsed == header, "header round trip: \(hex(raw))")
        require(sameBytes(again.payload, view.payload), "payload round trip")
    }
}

func u32(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}

/// A reference decoder for the option rules `TCPOptions.parse` documents; nil when the bytes must be refused.
func referenceOptions(_ b: UnsafeRawBufferPointer) -> TCPOptions? {
    var o = TCPOptions()
    var i = 0
    while i < b.count {
        let kind = b[i]
        if kind == 0 { break }
        if kind == 1 { i += 1; continue }
        if i + 1 >= b.count { return nil }
        let len = Int(b[i + 1])
        if len < 2 || i + len > b.count { return nil }
        switch kind {
        case 2:
            if len != 4 { return nil }
            o.maximumSegmentSize = UInt16(b[i + 2]) << 8 | UInt16(b[i + 3])
        case 3:
            if len != 3 { return nil }
            o.windowScale = b[i + 2] > 14 ? 14 : b[i + 2]
        case 4:
            if len != 2 { return nil }
            o.sackPermitted = true
        case 5:
            if len < 10 || (len - 2) % 8 != 0 { return nil }
            var list = TCPSackBlockList()
            for k in 0..<min((len - 2) / 8, TCPSackBlockList.capacity) {
                list.append(TCPSackBlock(start: TCPSeqNumber(u32(b, i + 2 + 8 * k)),
                                         end: TCPSeqNumber(u32(b, i + 6 + 8 * k))))
            }
            o.sackBlocks = list
        case 8:
            if len != 10 { return nil }
            o.timestamp = TCPTimestampOption(value: u32(b, i + 2), echoReply: u32(b, i + 6))
        default:
            break
        }
        i += len
    }
    return o
}

func checkOptions(_ b: UnsafeRawBufferPointer) {
    let expected = referenceOptions(b)
    do {
        let parsed = try TCPOptions.parse(b)
        require(expected == parsed, "options differ from the reference decoder: \(hex(b)): \(String(describing: parsed)) vs \(String(describing: expected))")
        require(parsed.sackBlocks.count <= TCPSackBlockList.capacity, "too many SACK blocks")
        if let ws = parsed.windowScale { require(ws <= 14, "window scale \(ws)") }
        for k in 0..<parsed.sackBlocks.count { _ = parsed.sackBlocks[k].description }
        _ = parsed.sackBlocks[7]  // documented: out of range reads an empty block, no trap
    } catch {
        require(expected == nil, "refused options the reference decoder accepts (\(error)): \(hex(b))")
        _ = error.description
    }
}

/// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
func sequenceNumbers(_ all: UnsafeRawBufferPointer) {
    var input = FuzzInput(all)
    let a = TCPSeqNumber(input.u32())
    let b = TCPSeqNumber(input.u32())
    let distance = b - a
    require(a + distance == b, "a + (b - a) != b")
    require((a < b) == (distance > 0 && distance != Int(Int32.min)) || distance == Int(Int32.min), "< vs -")
    require(!(a < b && b < a) || distance == Int(Int32.min), "< not antisymmetric")
    require((a < b) || (b < a) || a == b || distance == Int(Int32.min), "< not total within 2^31")
    require(TCPSeqNumber.later(a, b) == (a < b ? b : a), "later")
    require(a.isIn(a, a + 1) && !a.isIn(a, a), "isIn at the edges")
    if a != b { require(a.isIn(a, b) && !b.isIn(a, b), "isIn half-open") }
}

func seeds() -> [Seed] {
    let a = IPv4Address(10, 0, 2, 2)
    let b = IPv4Address(10, 0, 2, 15)
    func seed(_ name: String, _ segment: [UInt8]) -> Seed {
        var w = FuzzInputWriter()
        w.u32(a.value)
        w.u32(b.value)
        w.raw(segment)
        return Seed(name, w.bytes)
    }
    var synOptions = TCPOptions()
    synOptions.maximumSegmentSize = 1460
    synOptions.windowScale = 7
    synOptions.sackPermitted = true
    synOptions.timestamp = TCPTimestampOption(value: 12345, echoReply: 0)
    let syn = TCPHeader(sourcePort: 40000, destinationPort: 80, sequenceNumber: TCPSeqNumber(1000), flags: [.syn],
                        window: 65535, options: synOptions)
    var sackOptions = TCPOptions()
    sackOptions.timestamp = TCPTimestampOption(value: 99, echoReply: 77)
    sackOptions.sackBlocks.append(TCPSackBlock(start: TCPSeqNumber(2000), end: TCPSeqNumber(3000)))
    sackOptions.sackBlocks.append(TCPSackBlock(start: TCPSeqNumber(4000), end: TCPSeqNumber(5000)))
    let ack = TCPHeader(sourcePort: 40000, destinationPort: 80, sequenceNumber: TCPSeqNumber(1001),
                        acknowledgmentNumber: TCPSeqNumber(7), flags: [.ack, .psh], window: 512, options: sackOptions)
    let plain = TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: TCPSeqNumber(0xFFFF_FFF0),
                          acknowledgmentNumber: TCPSeqNumber(5), flags: [.fin, .ack, .urg], window: 0, urgentPointer: 3)
    var odd = Packets.tcp(source: a, destination: b, header: plain, payload: [])
    odd[12] = 0xF0  // data offset 15 words, past the end
    var unknownOption = Packets.tcp(source: a, destination: b, header: plain, payload: [])
    unknownOption[12] = 0x70
    unknownOption += [30, 6, 1, 2, 3, 4, 1, 0]  // an unknown kind 30 of length 6, NOP, EOL
    var badLength = Packets.tcp(source: a, destination: b, header: plain, payload: [])
    badLength[12] = 0x60
    badLength += [2, 3, 5, 0xB4]  // MSS with length 3
    return [
        seed("syn", Packets.tcp(source: a, destination: b, header: syn, payload: [])),
        seed("ack-sack-data", Packets.tcp(source: a, destination: b, header: ack, payload: Array("GET / HTTP/1.1\r\n".utf8))),
        seed("fin-urg", Packets.tcp(source: a, destination: b, header: plain, payload: [0x41])),
        seed("bad-offset", odd),
        seed("unknown-option", unknownOption),
        seed("bad-option-length", badLength),
        seed("short", [0, 80, 0, 80, 0, 0]),
    ]
}
