import FuzzSupport
import Interfaces
import TCPStack

// Target `dns`: the DNS message parser (RFC 1035 §4.1) with name decompression (§4.1.4) on arbitrary bytes,
// and the name encoder.
//
// Input: byte 0 selects what else to do with the bytes (bit 0: also encode them as dotted text); the rest is
// the message.
//
// Checked: the header accessors; `readName` at every offset either fails with a typed error or returns a name
// that keeps the `DNSName` invariants (labels of 1...63 bytes, at most 255 bytes, root-terminated) and an end
// offset inside the message; `parseResponse` returns at most 16 addresses and agrees with a reference walk of
// the question and answer sections; names made from text keep the invariants, print back to the same name when
// printable, and survive a query round trip through `emitQuery` and the parser.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, dns) }


func dns(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let mode = input.u8()
    let body = input.rest()
    checkMessage(body)
    if mode & 1 != 0 { checkText(String(decoding: body.prefix(300), as: UTF8.self)) }
}

/// The `DNSName` invariants.
func checkName(_ name: DNSName) {
    let w = name.wire
    require(w.count >= 1 && w.count <= DNSName.maximumLength, "name of \(w.count) bytes")
    var i = 0
    var labels = 0
    while w[i] != 0 {
        let n = Int(w[i])
        require(n <= DNSName.maximumLabelLength, "label of \(n) bytes")
        i += 1 + n
        labels += 1
        require(i < w.count, "label runs past the name")
    }
    require(i == w.count - 1, "bytes after the root label")
    require(name.labelCount == labels, "labelCount")
    _ = name.description
}

/// A reference reader: the same rules as `readName` documents (pointers strictly backwards of every position
/// read so far, label types 01/10 refused, 255-byte limit).
func referenceName(_ b: UnsafeRawBufferPointer, _ offset: Int) -> (wire: [UInt8], next: Int)? {
    var out: [UInt8] = []
    var pos = offset
    var lowest = offset
    var next: Int? = nil
    while true {
        guard pos < b.count else { return nil }
        let len = Int(b[pos])
        if len == 0 {
            out.append(0)
            return (out, next ?? pos + 1)
        } else if len < 64 {
            guard pos + 1 + len <= b.count, out.count + len + 2 <= 255 else { return nil }
            out.append(UInt8(len))
            out += b[(pos + 1)...(pos + len)]
            pos += 1 + len
        } else if len >= 0xC0 {
            guard pos + 1 < b.count else { return nil }
            let target = (len & 0x3F) << 8 | Int(b[pos + 1])
            guard target < lowest else { return nil }
            if next == nil { next = pos + 2 }
            lowest = target
            pos = target
        } else {
            return nil
        }
    }
}

func checkMessage(_ b: UnsafeRawBufferPointer) {
    let message: DNSMessage
    do {
        message = try DNSMessage(validating: b)
    } catch {
        require(b.count < 12, "refused a message with a full header (\(error))")
        return
    }
    require(message.id == UInt16(b[0]) << 8 | UInt16(b[1]), "id")
    require(message.isResponse == (b[2] & 0x80 != 0) && message.opcode == (b[2] >> 3) & 0xF, "flags")
    require(message.responseCode == b[3] & 0xF && message.questionCount == Int(b[4]) << 8 | Int(b[5]), "counts")
    _ = (message.isAuthoritative, message.isTruncated, message.recursionDesired, message.recursionAvailable,
         message.answerCount, message.authorityCount, message.additionalCount)
    // Every offset of the first 96 bytes, and a few past them.
    var offsets = Array(0..<min(b.count + 1, 96))
    if b.count > 96 { offsets += [b.count / 2, b.count - 1, b.count] }
    for offset in offsets {
        let expected = referenceName(b, offset)
        do {
            let (name, next) = try message.readName(at: offset)
            guard let expected else { invariantFailed("readName accepted at \(offset): \(hex(b))") }
            require(name.wire == expected.wire && next == expected.next, "readName differs at \(offset)")
            require(next > offset && next <= b.count, "next offset \(next) for a name at \(offset)")
            checkName(name)
        } catch {
            require(expected == nil, "readName refused a valid name at \(offset) (\(error))")
        }
    }
    // The response parser against a reference walk.
    let expected = referenceResponse(b)
    do {
        let response = try message.parseResponse()
        guard let expected else { invariantFailed("parseResponse accepted a malformed message") }
        require(response.addresses == expected.addresses, "addresses differ")
        require(response.questionName?.wire == expected.question, "question differs")
        require(response.id == message.id && response.responseCode == message.responseCode, "header fields")
        if let q = response.questionName { checkName(q) }
    } catch {
        require(expected == nil, "parseResponse refused a valid message (\(error))")
    }
}

/// The question and answer sections walked by hand: (first question's name, A records) or nil when malformed.
func referenceResponse(_ b: UnsafeRawBufferPointer) -> (question: [UInt8]?, addresses: [DNSAddressRecord])? {
    func u16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
    var offset = 12
    var question: [UInt8]? = nil
    for _ in 0..<u16(4) {
        guard let (wire, next) = referenceName(b, offset), next + 4 <= b.count else { return nil }
        if question == nil { question = wire }
        offset = next + 4
    }
    var addresses: [DNSAddressRecord] = []
    for _ in 0..<u16(6) {
        guard let (_, next) = referenceName(b, offset), next + 10 <= b.count else { return nil }
        let length = u16(next + 8)
        guard next + 10 + length <= b.count else { return nil }
        if u16(next) == 1 && u16(next + 2) == 1 {
            guard length == 4 else { return nil }
            if addresses.count < DNSResponse.maximumAddresses {
                let ttl = UInt32(u16(next + 4)) << 16 | UInt32(u16(next + 6))
                addresses.append(DNSAddressRecord(address: IPv4Address(bytes: b, offset: next + 10),
                                                  ttl: ttl >= 0x8000_0000 ? 0 : ttl))
            }
        }
        offset = next + 10 + length
    }
    return (question, addresses)
}

/// Names from dotted text.
func checkText(_ text: String) {
    guard let name = try? DNSName(text) else { return }
    checkName(name)
    require(name.wire.count > 1 || text.utf8.elementsEqual(".".utf8), "a non-root name from \"\(text)\" is empty")
    // Printable names print back to themselves.
    var printable = true
    var i = 0
    while name.wire[i] != 0 {
        let n = Int(name.wire[i])
        for c in name.wire[(i + 1)...(i + n)] where !(c > 0x20 && c < 0x7F && c != 0x2E && c != 0x5C) { printable = false }
        i += 1 + n
    }
    if printable && name.wire.count > 1 {
        require((try? DNSName(name.description)) == name, "description \"\(name.description)\" does not re-encode")
    }
    // A query for the name parses back to it.
    var query = [UInt8](repeating: 0, count: DNSMessage.queryLength(for: name))
    query.withUnsafeMutableBytes { DNSMessage.emitQuery(into: $0, id: 0xBEEF, name: name) }
    query.withUnsafeBytes { raw in
        guard let m = try? DNSMessage(validating: raw), let r = try? m.parseResponse() else {
            invariantFailed("query for \(name) does not parse")
        }
        require(m.id == 0xBEEF && !m.isResponse && m.recursionDesired && m.questionCount == 1, "query header")
        require(r.questionName == name && r.questionType == DNSRecordType.a, "query question")
    }
}

func seeds() -> [Seed] {
    func seed(_ name: String, _ mode: UInt8, _ body: [UInt8]) -> Seed { Seed(name, [mode] + body) }
    let a = [(IPv4Address(93, 184, 216, 34), UInt32(3600)), (IPv4Address(93, 184, 216, 35), UInt32(0x8000_0001))]
    var loop = Packets.dnsResponse(id: 1, name: "a.example", addresses: a)
    loop += [0xC0, UInt8(loop.count)]  // a pointer to itself at the end
    var forward = Packets.dnsResponse(id: 2, name: "b.example", addresses: [])
    forward[12] = 0xC0
    forward[13] = 40                   // the question name points forward
    var badA = Packets.dnsResponse(id: 3, name: "c.example", addresses: a)
    badA[badA.count - 5] = 5           // RDLENGTH 5 for an A record
    var reserved = Packets.dnsResponse(id: 4, name: "d.example", addresses: [])
    reserved[12] = 0x41                // label type 01
    return [
        seed("response", 0, Packets.dnsResponse(id: 0x1234, name: "www.example.com", addresses: a)),
        seed("cname", 0, Packets.dnsResponse(id: 0x1235, name: "alias.example.org", addresses: a,
                                             cname: "target.example.net")),
        seed("nxdomain", 0, Packets.dnsResponse(id: 0x1236, name: "nothing.example", addresses: [], responseCode: 3)),
        seed("query", 0, Packets.dnsQuery(id: 9, name: "example.com")),
        seed("pointer-loop", 0, loop),
        seed("pointer-forward", 0, forward),
        seed("bad-rdlength", 0, badA),
        seed("reserved-label", 0, reserved),
        seed("text-name", 1, Array("Www.Example.COM.".utf8)),
        seed("text-long-label", 1, Array((String(repeating: "x", count: 63) + "." + String(repeating: "y", count: 64)).utf8)),
        seed("text-escapes", 1, Array("a\\.b.c d.\u{1}".utf8)),
    ]
}
