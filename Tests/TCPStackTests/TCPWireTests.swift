import Interfaces
import Testing
@testable import TCPStack

/// An independent RFC 1071 checksum over pseudo-header + segment, for cross-checking.
private func referenceChecksum(_ segment: [UInt8], source: IPv4Address, destination: IPv4Address) -> UInt16 {
    var words: [UInt32] = []
    for a in [source.value, destination.value] { words.append(a >> 16); words.append(a & 0xffff) }
    words.append(6)
    words.append(UInt32(segment.count))
    var padded = segment
    if padded.count % 2 == 1 { padded.append(0) }
    for i in stride(from: 0, to: padded.count, by: 2) { words.append(UInt32(padded[i]) << 8 | UInt32(padded[i + 1])) }
    var sum: UInt32 = words.reduce(0, +)
    while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
}

/// A SYN laid out the way Linux sends it: MSS, SACK-permitted, timestamps, NOP, window scale.
private let linuxStyleSyn: [UInt8] = [
    0xa1, 0xb2, 0x00, 0x50,             // ports 41394 -> 80
    0x01, 0x02, 0x03, 0x04,             // seq
    0x00, 0x00, 0x00, 0x00,             // ack
    0xa0, 0x02, 0xfa, 0xf0,             // offset 10 words, SYN, window 64240
    0x00, 0x00, 0x00, 0x00,             // checksum (filled in), urgent
    0x02, 0x04, 0x05, 0xb4,             // MSS 1460
    0x04, 0x02,                         // SACK permitted
    0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00,  // TS val=0x11223344 ecr=0
    0x01,                               // NOP
    0x03, 0x03, 0x07,                   // window scale 7
]

private func withChecksum(_ bytes: [UInt8], source: IPv4Address = testHostB,
                          destination: IPv4Address = testHostA) -> [UInt8] {
    var b = bytes
    b[16] = 0
    b[17] = 0
    let c = referenceChecksum(b, source: source, destination: destination)
    b[16] = UInt8(c >> 8)
    b[17] = UInt8(c & 0xff)
    return b
}

private func parse(_ bytes: [UInt8]) -> Result<TCPHeader, TCPParseError> {
    bytes.withUnsafeBytes { raw in
        do throws(TCPParseError) {
            let view = try TCPSegmentView(checking: raw)
            return .success(try TCPHeader(parsing: view))
        } catch {
            return .failure(error)
        }
    }
}

/// A 20-byte header followed by the given option bytes (padded to a word) and data offset set to match.
private func headerWithOptions(_ options: [UInt8]) -> [UInt8] {
    var opts = options
    while opts.count % 4 != 0 { opts.append(0) }
    var bytes: [UInt8] = [0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, UInt8((20 + opts.count) / 4) << 4, 0x10, 0x10, 0x00,
                          0, 0, 0, 0]
    bytes += opts
    return bytes
}

@Suite("TCP wire format")
struct TCPWireTests {
    @Test("a Linux-style SYN fixture parses field by field and its checksum verifies")
    func linuxSynFixture() throws {
        let bytes = withChecksum(linuxStyleSyn)
        let header = try parse(bytes).get()
        #expect(header.sourcePort == 41394)
        #expect(header.destinationPort == 80)
        #expect(header.sequenceNumber == TCPSeqNumber(0x0102_0304))
        #expect(header.flags == .syn)
        #expect(header.window == 64240)
        #expect(header.options.maximumSegmentSize == 1460)
        #expect(header.options.sackPermitted)
        #expect(header.options.timestamp == TCPTimestampOption(value: 0x1122_3344, echoReply: 0))
        #expect(header.options.windowScale == 7)
        #expect(header.options.sackBlocks.isEmpty)
        bytes.withUnsafeBytes { raw in
            let view = try! TCPSegmentView(checking: raw)
            #expect(view.headerLength == 40)
            #expect(view.payload.isEmpty)
            #expect(view.verifyChecksum(source: testHostB, destination: testHostA))
        }
    }

    @Test("emit then parse reproduces every field and option, with a checksum an independent sum accepts")
    func roundTrip() throws {
        var options = TCPOptions()
        options.timestamp = TCPTimestampOption(value: 123_456, echoReply: 654_321)
        options.sackBlocks.append(TCPSackBlock(start: TCPSeqNumber(1000), end: TCPSeqNumber(2000)))
        options.sackBlocks.append(TCPSackBlock(start: TCPSeqNumber(0xFFFF_FF00), end: TCPSeqNumber(0x10)))
        options.sackBlocks.append(TCPSackBlock(start: TCPSeqNumber(5), end: TCPSeqNumber(9)))
        let header = TCPHeader(sourcePort: 1234, destinationPort: 80, sequenceNumber: TCPSeqNumber(0xDEAD_BEEF),
                               acknowledgmentNumber: TCPSeqNumber(42), flags: [.ack, .psh], window: 512,
                               options: options)
        #expect(header.length == 20 + 12 + 4 + 24)
        let payload: [UInt8] = Array("hello, world".utf8)
        let bytes = buildSegment(header, payload: payload, source: testHostA, destination: testHostB)
        #expect(referenceChecksum(bytes, source: testHostA, destination: testHostB) == 0)
        let parsed = try parse(bytes).get()
        #expect(parsed == header)
        bytes.withUnsafeBytes { raw in
            let view = try! TCPSegmentView(checking: raw)
            #expect(Array(view.payload) == payload)
        }

        var syn = TCPOptions()
        syn.maximumSegmentSize = 1460
        syn.windowScale = 14
        syn.sackPermitted = true
        syn.timestamp = TCPTimestampOption(value: 1, echoReply: 0)
        for sack in [false, true] {
            for ts in [false, true] {
                var o = syn
                o.sackPermitted = sack
                if !ts { o.timestamp = nil }
                let h = TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: TCPSeqNumber(7), flags: .syn,
                                  window: 100, options: o)
                #expect(h.length % 4 == 0 && h.length <= 60)
                #expect(try parse(buildSegment(h, source: testHostA, destination: testHostB)).get() == h)
            }
        }
    }

    @Test("a single flipped bit breaks the checksum")
    func checksumDetectsCorruption() {
        var bytes = buildSegment(TCPHeader(sourcePort: 5, destinationPort: 6, sequenceNumber: TCPSeqNumber(1),
                                           flags: .ack), payload: [1, 2, 3], source: testHostA, destination: testHostB)
        bytes[21] ^= 0x04
        bytes.withUnsafeBytes { raw in
            #expect(!(try! TCPSegmentView(checking: raw)).verifyChecksum(source: testHostA, destination: testHostB))
        }
    }

    @Test("truncated headers and bad data offsets are rejected with typed errors")
    func truncatedAndBadOffset() {
        #expect(throws: TCPParseError.truncatedHeader(length: 0)) { try parse([]).get() }
        #expect(throws: TCPParseError.truncatedHeader(length: 19)) { try parse(Array(linuxStyleSyn[0..<19])).get() }
        var small = Array(linuxStyleSyn[0..<20])
        small[12] = 0x40    // 4 words
        #expect(throws: TCPParseError.badDataOffset(words: 4, length: 20)) { try parse(small).get() }
        // Data offset says 40 bytes but only 30 are there.
        #expect(throws: TCPParseError.badDataOffset(words: 10, length: 30)) {
            try parse(Array(linuxStyleSyn[0..<30])).get()
        }
        var fifteen = linuxStyleSyn
        fifteen[12] = 0xF0
        #expect(throws: TCPParseError.badDataOffset(words: 15, length: 40)) { try parse(fifteen).get() }
    }

    @Test("hostile option encodings are rejected without trapping")
    func hostileOptions() {
        #expect(throws: TCPParseError.truncatedOption(kind: 2, offset: 0)) {
            try parse(headerWithOptions([2, 0, 5, 0xb4])).get()          // length 0
        }
        #expect(throws: TCPParseError.truncatedOption(kind: 30, offset: 0)) {
            try parse(headerWithOptions([30, 1, 1, 1])).get()            // length 1
        }
        #expect(throws: TCPParseError.truncatedOption(kind: 8, offset: 0)) {
            try parse(headerWithOptions([8, 10, 0, 0, 0, 0, 0, 0])).get() // runs past the option space
        }
        #expect(throws: TCPParseError.truncatedOption(kind: 2, offset: 3)) {
            try parse(headerWithOptions([1, 1, 1, 2])).get()             // kind without a length byte
        }
        #expect(throws: TCPParseError.badOptionLength(kind: 2, length: 3)) {
            try parse(headerWithOptions([2, 3, 5, 1])).get()
        }
        #expect(throws: TCPParseError.badOptionLength(kind: 3, length: 4)) {
            try parse(headerWithOptions([3, 4, 7, 0])).get()
        }
        #expect(throws: TCPParseError.badOptionLength(kind: 4, length: 3)) {
            try parse(headerWithOptions([4, 3, 0, 1])).get()
        }
        #expect(throws: TCPParseError.badOptionLength(kind: 5, length: 6)) {
            try parse(headerWithOptions([5, 6, 0, 0, 0, 1, 1, 1])).get()
        }
        #expect(throws: TCPParseError.badOptionLength(kind: 5, length: 2)) {
            try parse(headerWithOptions([5, 2, 1, 1])).get()
        }
        #expect(throws: TCPParseError.badOptionLength(kind: 8, length: 8)) {
            try parse(headerWithOptions([8, 8, 0, 0, 0, 0, 0, 0])).get()
        }
    }

    @Test("NOP, EOL, unknown kinds and out-of-range window scale are handled per RFC")
    func lenientOptionCases() throws {
        // Unknown option kind 30 with 4 bytes is skipped; MSS after it is read.
        let unknown = try parse(headerWithOptions([30, 4, 9, 9, 2, 4, 0x02, 0x18])).get()
        #expect(unknown.options.maximumSegmentSize == 536)
        // Everything after End of Option List is ignored, even garbage.
        let eol = try parse(headerWithOptions([1, 0, 2, 0, 0xff, 0xff, 0xff, 0xff])).get()
        #expect(eol.options == TCPOptions())
        // A shift above 14 is treated as 14 (RFC 7323 §2.3).
        let big = try parse(headerWithOptions([3, 3, 200, 1])).get()
        #expect(big.options.windowScale == 14)
        // Four SACK blocks (the most that fit) parse.
        var four: [UInt8] = [5, 34]
        for i in 0..<8 { four += [0, 0, UInt8(i), 0] }
        let sack = try parse(headerWithOptions(four)).get()
        #expect(sack.options.sackBlocks.count == 4)
        #expect(sack.options.sackBlocks[3] == TCPSackBlock(start: TCPSeqNumber(0x600), end: TCPSeqNumber(0x700)))
    }

    @Test("random bytes never trap the parser (seeded fuzz, 20000 cases)")
    func fuzz() {
        let random = TestRandom(seed: 99)
        var accepted = 0
        for _ in 0..<20_000 {
            let length = Int(random.below(80))
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if length > 12 && random.chance(0.7) { bytes[12] = UInt8(5 + random.below(11)) << 4 }
            if case .success(let header) = parse(bytes) {
                accepted += 1
                // Whatever parses and fits the 40-byte option space re-encodes to an equal header.
                if header.length <= 60 {
                    let again = parse(buildSegment(header, source: testHostA, destination: testHostB))
                    #expect((try? again.get()) == header)
                }
            }
        }
        #expect(accepted > 100)
    }

    @Test("sequence numbers compare and subtract modulo 2^32")
    func sequenceArithmetic() {
        let a = TCPSeqNumber(0xFFFF_FFF0)
        let b = a + 0x20
        #expect(b == TCPSeqNumber(0x10))
        #expect(a < b)
        #expect(!(b < a))
        #expect(b - a == 0x20)
        #expect(a - b == -0x20)
        #expect(TCPSeqNumber(5) - 10 == TCPSeqNumber(0xFFFF_FFFB))
        #expect(TCPSeqNumber(0xFFFF_FFFF).isIn(a, b))
        #expect(!TCPSeqNumber(0x10).isIn(a, b))
        #expect(TCPSeqNumber.later(a, b) == b)
        #expect(TCPSeqNumber.earlier(a, b) == a)
        #expect(TCPSeqNumber(0) < TCPSeqNumber(0x7FFF_FFFF))
        #expect(TCPSeqNumber(0x8000_0001) < TCPSeqNumber(0))
    }
}

@Suite("Internet checksum fast path")
struct TCPChecksumTests {
    /// The RFC 1071 definition, one big-endian 16-bit word at a time: the reference model.
    static func reference(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt64 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt64(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    @Test("the 8-byte-wide sum equals the word-by-word definition for every length, offset and split (seeded)")
    func matchesReference() {
        let random = TestRandom(seed: 1071)
        for length in Array(0...80) + [1460, 1480, 4096, 65535] {
            for trial in 0..<4 {
                // Trial 0: all 0xFF bytes (a carry out of every 64-bit addition); the others: random bytes.
                let bytes: [UInt8] = trial == 0 ? [UInt8](repeating: 0xff, count: length)
                    : (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let expected = Self.reference(bytes)
                let whole = bytes.withUnsafeBytes { InternetChecksum.of($0) }
                #expect(whole == expected, "length \(length) trial \(trial)")
                // Unaligned start: the same bytes one byte into a larger buffer.
                let shifted = [0x5a] + bytes
                let unaligned = shifted.withUnsafeBytes { InternetChecksum.of(UnsafeRawBufferPointer(rebasing: $0[1...])) }
                #expect(unaligned == expected)
                // Split into two pieces at a random point (odd splits carry a byte into the next piece).
                let cut = length == 0 ? 0 : Int(random.below(UInt64(length + 1)))
                var pieces = InternetChecksum()
                bytes.withUnsafeBytes {
                    pieces.add(UnsafeRawBufferPointer(rebasing: $0[0..<cut]))
                    pieces.add(UnsafeRawBufferPointer(rebasing: $0[cut...]))
                }
                #expect(pieces.value == expected, "length \(length) split at \(cut)")
            }
        }
    }
}
