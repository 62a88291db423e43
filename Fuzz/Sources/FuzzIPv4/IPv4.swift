import FuzzSupport
import Interfaces
import TCPStack

// Target `ipv4`: `IPv4Packet(validating:)` on arbitrary bytes, then `IPv4Reassembler` fed a sequence of
// fragments decoded from the rest of the input.
//
// Input: byte 0 selects the reassembler limits; a 16-bit length and that many bytes form a packet that is parsed
// with and without checksum verification; the rest is a list of fragment operations (see `Op`).
//
// Checked: acceptance agrees with a reference model of RFC 791 §3.1 (version, IHL, total length, checksum);
// accessors are consistent; a header without options re-emits byte for byte; the reassembler stays within
// its datagram and memory limits; every datagram it delivers has the length the last fragment fixed, a header
// from its first fragment, and at every offset a byte some fragment of that datagram carried there.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, ipv4) }


func ipv4(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let mode = input.u8()
    checkPacket(input.chunk())
    reassemble(&input, mode: mode)
}

/// Parses one packet both ways and compares with the model.
func checkPacket(_ raw: UnsafeRawBufferPointer) {
    let n = raw.count
    let version = n > 0 ? raw[0] >> 4 : 0
    let ihl = n > 0 ? Int(raw[0] & 0x0F) * 4 : 0
    let total = n >= 4 ? Int(raw[2]) << 8 | Int(raw[3]) : 0
    let structurallyValid = n >= 20 && version == 4 && ihl >= 20 && ihl <= n && total >= ihl && total <= n
    let checksumOK = structurallyValid && InternetChecksum.of(UnsafeRawBufferPointer(rebasing: raw[0..<ihl])) == 0
    for verify in [false, true] {
        do {
            let packet = try IPv4Packet(validating: raw, verifyChecksum: verify)
            require(structurallyValid && (!verify || checksumOK), "accepted an invalid packet: \(hex(raw))")
            require(packet.headerLength == ihl && packet.totalLength == total, "lengths")
            require(packet.bytes.count == total && packet.payload.count == total - ihl, "views")
            require(packet.options.count == ihl - 20 && packet.header.count == ihl, "options view")
            require(packet.isFragment == (packet.moreFragments || packet.fragmentOffset != 0), "isFragment")
            require(packet.fragmentOffset % 8 == 0 && packet.fragmentOffset <= 0x1FFF * 8, "fragment offset")
            require(packet.source == IPv4Address(bytes: raw, offset: 12), "source")
            require(packet.destination == IPv4Address(bytes: raw, offset: 16), "destination")
            // Re-emitting the fields of an option-less header with a valid checksum and a clear reserved bit
            // gives the same 20 bytes.
            if ihl == 20 && checksumOK && raw[6] & 0x80 == 0 {
                let header = IPv4Header(source: packet.source, destination: packet.destination,
                                        protocolNumber: packet.protocolNumber, payloadLength: total - 20,
                                        timeToLive: packet.timeToLive, identification: packet.identification,
                                        dontFragment: packet.dontFragment, moreFragments: packet.moreFragments,
                                        fragmentOffset: packet.fragmentOffset, typeOfService: packet.typeOfService)
                var out = [UInt8](repeating: 0, count: 20)
                out.withUnsafeMutableBytes { header.emit(into: $0) }
                require(sameBytes(packet.header, out), "header round trip: \(hex(packet.header)) vs \(hex(out))")
            }
        } catch {
            require(!structurallyValid || (verify && !checksumOK), "refused a valid packet (\(error)): \(hex(raw))")
            switch error {
            case .truncated, .badVersion, .badHeaderLength, .badLength: require(!structurallyValid, "\(error)")
            case .badChecksum: require(structurallyValid && verify && !checksumOK, "badChecksum")
            default: invariantFailed("unexpected error \(error)")
            }
        }
    }
}

/// A fragment the harness handed to the reassembler, to judge what it delivers.
struct Given {
    var key: Int
    var offset: Int
    var data: [UInt8]
}

let sources = [IPv4Address(10, 0, 2, 2), IPv4Address(192, 0, 2, 7)]

func pattern(_ key: Int, _ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 7 &+ offset >> 8 &+ key &* 31) }

/// Operations, one per step: `kind = byte % 4`.
///   0, 1: a fragment: flags (bit 0 MF, bits 1-2 key, bit 3 data from the input, bit 4 odd tail), offset in
///         8-byte units (16 bits, masked to 13), length in 8-byte units (one byte), [tail length], [data]
///   2:    the clock moves by (byte × 250 ms) and the reassembler's timers run
///   3:    a raw packet (16-bit length, bytes) parsed without checksum; fragments go to the reassembler
func reassemble(_ input: inout FuzzInput, mode: UInt8) {
    var configuration = IPv4ReassemblyConfiguration()
    configuration.maximumDatagrams = 1 + Int(mode & 3)
    configuration.memoryLimit = mode & 4 != 0 ? 4096 : 128 * 1024
    configuration.maximumFragmentsPerDatagram = mode & 8 != 0 ? 4 : 64
    configuration.timeout = .seconds(mode & 16 != 0 ? 1 : 30)
    var reassembler = IPv4Reassembler(configuration: configuration)
    var now = Instant(nanoseconds: 1_000_000_000)
    var given: [Given] = []
    var steps = 0
    while !input.isEmpty && steps < 200 {
        steps += 1
        let kind = input.u8() % 4
        switch kind {
        case 0, 1:
            let flags = input.u8()
            let key = Int(flags >> 1) & 3
            let offset = Int(input.u16() & 0x1FFF) * 8
            var length = Int(input.u8()) * 8
            if flags & 16 != 0 { length += Int(input.u8() & 7) }
            var data: [UInt8]
            if flags & 8 != 0 {
                data = Array(input.bytes(length))
            } else {
                data = (0..<length).map { pattern(key, offset + $0) }
            }
            if data.count + 20 > 65535 { data.removeLast(data.count + 20 - 65535) }
            let packet = Packets.ipv4(source: sources[key & 1], destination: IPv4Address(10, 0, 2, 15),
                                      protocolNumber: key & 2 != 0 ? IPProtocolNumber.udp : IPProtocolNumber.tcp,
                                      payload: data, identification: 0x1234, moreFragments: flags & 1 != 0,
                                      fragmentOffset: offset)
            given.append(Given(key: key, offset: offset, data: data))
            packet.withUnsafeBytes { raw in
                guard let p = try? IPv4Packet(validating: raw) else { invariantFailed("built fragment invalid") }
                trace("fragment key \(key) offset \(offset) length \(data.count) MF \(p.moreFragments)")
                if p.isFragment {
                    reassembler.accept(p, now: now) { header, payload in
                        delivered(header, payload, given: given)
                    }
                }
            }
        case 2:
            now = now + .milliseconds(Int64(input.u8()) * 250)
            reassembler.poll(now: now) { header, prefix in
                require(header.count >= 20 && header[0] >> 4 == 4, "expired header not IPv4")
                require(prefix.count <= 8, "expired prefix longer than 8 bytes")
            }
        default:
            let raw = input.chunk()
            // Identification 0x1234 belongs to the fragments built above, whose deliveries are judged.
            if let p = try? IPv4Packet(validating: raw, verifyChecksum: false), p.isFragment, p.identification != 0x1234 {
                reassembler.accept(p, now: now) { header, payload in
                    require(header.count >= 20 && header[0] >> 4 == 4, "delivered header not IPv4")
                    require(payload.count <= IPv4Header.maximumPayloadLength, "delivered payload too long")
                }
            }
        }
        require(reassembler.pendingDatagrams <= configuration.maximumDatagrams,
                "\(reassembler.pendingDatagrams) datagrams pending, limit \(configuration.maximumDatagrams)")
        require(reassembler.bufferedBytes <= configuration.memoryLimit,
                "\(reassembler.bufferedBytes) bytes buffered, limit \(configuration.memoryLimit)")
        if let deadline = reassembler.nextDeadline {
            require(deadline > now || deadline == now, "deadline in the past")
        }
    }
}

/// Judges a delivered datagram against the fragments given so far.
func delivered(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer, given: [Given]) {
    require(header.count == 20 && header[0] == 0x45, "delivered header is not the first fragment's: \(hex(header))")
    let source = IPv4Address(bytes: header, offset: 12)
    let key = (source == sources[1] ? 1 : 0) | (header[9] == IPProtocolNumber.udp ? 2 : 0)
    require(Int(header[6] & 0x1F) << 8 | Int(header[7]) == 0, "delivered header has a fragment offset")
    let mine = given.filter { $0.key == key }
    trace("delivered key \(key), \(payload.count) bytes")
    require(mine.contains { $0.offset + $0.data.count == payload.count }, "length \(payload.count) fixed by no fragment")
    var carried = [Bool](repeating: false, count: payload.count)
    for fragment in mine {
        for (j, b) in fragment.data.enumerated() where fragment.offset + j < payload.count {
            if payload[fragment.offset + j] == b { carried[fragment.offset + j] = true }
        }
    }
    if let i = carried.firstIndex(of: false) {
        invariantFailed("byte \(i) of the datagram (\(payload[i])) was carried by no fragment")
    }
}

func seeds() -> [Seed] {
    var seeds: [Seed] = []
    let udp = Packets.udp(source: IPv4Address(10, 0, 2, 2), destination: IPv4Address(10, 0, 2, 15), sourcePort: 53,
                          destinationPort: 5353, payload: Array("hello".utf8))
    let packet = Packets.ipv4(source: IPv4Address(10, 0, 2, 2), destination: IPv4Address(10, 0, 2, 15),
                              protocolNumber: IPProtocolNumber.udp, payload: udp)
    var options = packet
    options[0] = 0x46
    options.insert(contentsOf: [1, 1, 1, 0], at: 20)
    FrameRepair.fixIPv4(&options, at: 0)
    func packetSeed(_ name: String, _ p: [UInt8], mode: UInt8 = 0, ops: [UInt8] = []) -> Seed {
        var w = FuzzInputWriter()
        w.u8(mode)
        w.chunk(p)
        w.raw(ops)
        return Seed(name, w.bytes)
    }
    seeds.append(packetSeed("udp", packet))
    seeds.append(packetSeed("options", options))
    var badSum = packet
    badSum[10] ^= 0xFF
    seeds.append(packetSeed("bad-checksum", badSum))
    var padded = packet
    padded += [0, 0, 0, 0]
    seeds.append(packetSeed("padded", padded))
    // Two fragments in order, then out of order with a duplicate, then an overlap conflict, then a timeout.
    func fragment(_ w: inout FuzzInputWriter, mf: Bool, key: Int, units: UInt16, length: UInt8) {
        w.u8(0)
        w.u8((mf ? 1 : 0) | UInt8(key << 1))
        w.u16(units)
        w.u8(length)
    }
    var w = FuzzInputWriter()
    w.u8(0)
    w.chunk([])
    fragment(&w, mf: true, key: 0, units: 0, length: 2)
    fragment(&w, mf: false, key: 0, units: 2, length: 1)
    seeds.append(Seed("fragments-in-order", w.bytes))
    w = FuzzInputWriter()
    w.u8(1)
    w.chunk([])
    fragment(&w, mf: false, key: 1, units: 4, length: 1)
    fragment(&w, mf: true, key: 1, units: 2, length: 2)
    fragment(&w, mf: true, key: 1, units: 2, length: 2)
    fragment(&w, mf: true, key: 2, units: 0, length: 3)
    fragment(&w, mf: true, key: 1, units: 0, length: 3)
    seeds.append(Seed("fragments-reordered", w.bytes))
    w = FuzzInputWriter()
    w.u8(16)
    w.chunk([])
    fragment(&w, mf: true, key: 3, units: 0, length: 2)
    w.u8(1); w.u8(3 << 1 | 8); w.u16(1); w.u8(1); w.raw([UInt8](repeating: 0xAB, count: 8))
    fragment(&w, mf: true, key: 0, units: 0, length: 1)
    w.u8(2); w.u8(8)
    seeds.append(Seed("conflict-timeout", w.bytes))
    w = FuzzInputWriter()
    w.u8(4 | 8)
    w.chunk([])
    fragment(&w, mf: true, key: 0, units: 0x1FF0, length: 255)
    fragment(&w, mf: false, key: 0, units: 8000, length: 4)
    for i in 0..<6 { fragment(&w, mf: true, key: 1, units: UInt16(i * 2), length: 2) }
    seeds.append(Seed("limits", w.bytes))
    return seeds
}
