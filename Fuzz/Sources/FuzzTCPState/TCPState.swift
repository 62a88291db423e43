import FuzzSupport
import Interfaces
import TCPStack

// Target `tcpstate`: a `TCPEngine` with a listener, one passively and one actively opened connection, fed
// arbitrary segments and application calls decoded from the input, with invariants checked after every step.
//
// Input: byte 0 selects the engine configuration, byte 1 the options of the peer's SYNs; the rest is a list of
// operations (see `Op`). The harness plays the peer: it builds segments with correct checksums around sequence
// and acknowledgment numbers near the ones the engine uses (the input chooses the offsets), so the segments
// reach the state machine instead of being dropped at the door; raw segments cover the door too.
//
// Checked after every step:
// - every segment the engine sends is well formed (checksum, options within 40 bytes, ports), goes from our
//   address to the peer's, carries SYN-only options only on SYN, and carries only data the application wrote,
//   at the right stream offset, never past what was written; a FIN only follows a shutdown or close;
// - every byte the application reads is a byte the peer sent at that sequence number (the peer's bytes are a
//   function of their sequence number), in order, whatever the overlaps, reordering and retransmissions;
// - per connection: queued and readable bytes within the buffer sizes, bytes in flight within what is queued
//   (plus SYN and FIN), positive congestion window, MSS and RTO within bounds, window shifts at most 14,
//   out-of-order ranges within their limit, readiness consistent with state and error;
// - engine-wide: the connection count within its limit, and no busy loop: after a poll at `now` the next
//   deadline is nil or later than `now`.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, tcpState) }


let local = IPv4Address(10, 0, 0, 1)
let remote = IPv4Address(10, 0, 0, 2)
/// Another unicast source of raw segments.
let stranger = IPv4Address(10, 0, 0, 9)
let listenPort: UInt16 = 80
let activePort: UInt16 = 5000

/// The byte the peer sends at sequence number `s`.
@inline(__always)
func peerByte(_ s: TCPSeqNumber) -> UInt8 { UInt8(truncatingIfNeeded: (s.rawValue &* 0x9E37_79B1) >> 24) }

/// The byte the application writes at stream offset `k`.
@inline(__always)
func appByte(_ k: Int) -> UInt8 { UInt8(truncatingIfNeeded: (UInt32(truncatingIfNeeded: k) &* 0x85EB_CA77) >> 24) }

/// A four-tuple seen from the peer: its port and ours.
struct Ports: Hashable {
    var remote: UInt16
    var local: UInt16
}

/// What the peer knows about one four-tuple.
struct TupleModel {
    /// The engine's last acknowledgment number (RCV.NXT as the engine announces it).
    var engineAck: TCPSeqNumber?
    /// The end of the engine's highest segment (SND.MAX as seen on the wire).
    var engineSndMax: TCPSeqNumber?
    /// The engine's initial sequence number for the current incarnation.
    var engineISS: TCPSeqNumber?
    /// The engine's last TSval, echoed by the peer.
    var engineTSval: UInt32 = 0
    /// Sequence numbers of SYNs the peer sent (candidate initial sequence numbers of the engine's side).
    var peerSYNs: Set<UInt32> = []
    /// The peer's own window-scale shift, if it offered one.
    var peerShift: UInt8 = 0
    /// The handle of the current incarnation (index into `handles`), once the application holds one.
    var current: Int?
    /// Raw segments were sent: received data can no longer be predicted.
    var unpredictable = false
}

/// An application handle the harness holds.
struct HandleModel {
    var handle: TCPConnectionHandle
    var ports: Ports
    /// Bytes read so far.
    var read = 0
    /// Initial sequence numbers the read data is still consistent with.
    var candidates: Set<UInt32>
    /// Bytes the application wrote.
    var written = 0
    /// Whether the application shut down or closed the connection.
    var closed = false
}

final class Harness {
    let configuration: TCPConfiguration
    let engine: TCPEngine
    var listener: TCPListenerHandle?
    var now = Instant(nanoseconds: 1_000_000_000_000)
    var tuples: [Ports: TupleModel] = [:]
    /// Port pairs on which the stranger sent a SYN: a listener may answer it like any other client (SYN-ACK, and
    /// whatever follows if raw segments complete the handshake). Only well-formedness is checked there.
    var strangerTuples: Set<Ports> = []
    var handles: [HandleModel] = []
    var congested = false
    var nextPort: UInt16 = 41000
    var peerClock: UInt32 = 1000
    var outbox: [(IPv4Address, [UInt8])] = []
    lazy var send: IPv4Send = { [unowned self] source, destination, length, fill in
        // Answers go to the peer, or (RSTs for raw segments) to the other unicast source the harness uses.
        require(source == local && (destination == remote || destination == stranger),
                "segment \(source) -> \(destination)")
        require(length >= 20 && length <= 65535 - 20, "segment length \(length)")
        if self.congested { return false }
        var segment = [UInt8](repeating: 0, count: length)
        segment.withUnsafeMutableBytes { fill($0) }
        self.outbox.append((destination, segment))
        return true
    }

    init(mode: UInt8) {
        var c = TCPConfiguration(congestionControl: mode & 16 != 0 ? .cubic : .newReno)
        c.timestamps = mode & 1 == 0
        c.selectiveAcknowledgments = mode & 2 == 0
        c.windowScaling = mode & 4 == 0
        c.sendBufferSize = mode & 8 != 0 ? 2048 : 16384
        c.receiveBufferSize = mode & 8 != 0 ? 2048 : 16384
        c.maximumSegmentSize = [1460, 536, 100, 9000][Int(mode >> 5) & 3]
        c.synCookies = mode & 128 == 0
        if mode & 128 != 0 || mode & 64 != 0 {
            c.synQueueLimit = 2
            c.maximumConnections = 5
            c.maximumOutOfOrderRanges = 3
        }
        c.challengeAckLimit = 50
        configuration = c
        engine = TCPEngine(localAddress: local, configuration: c, entropy: SeededEntropy(seed: UInt64(mode) + 1))
        listener = try? engine.listen(port: listenPort, backlog: 2)
    }

    // MARK: Peer segments

    /// Builds a segment with `options` (encoded, or raw bytes when `rawOptions` is given) and delivers it.
    func deliver(_ ports: Ports, seq: TCPSeqNumber, ack: TCPSeqNumber, flags: TCPFlags, window: UInt16,
                 urgent: UInt16 = 0, options: TCPOptions = TCPOptions(), rawOptions: [UInt8]? = nil,
                 payloadLength: Int = 0) {
        var optionBytes = [UInt8](repeating: 0, count: options.encodedLength)
        optionBytes.withUnsafeMutableBytes { _ = options.encode(into: $0) }
        if let rawOptions { optionBytes = Array(rawOptions.prefix(40)) }
        while optionBytes.count % 4 != 0 { optionBytes.append(0) }
        let first = seq + (flags.contains(.syn) ? 1 : 0)
        var segment = [UInt8](repeating: 0, count: 20 + optionBytes.count + payloadLength)
        segment[0] = UInt8(ports.remote >> 8); segment[1] = UInt8(ports.remote & 0xFF)
        segment[2] = UInt8(ports.local >> 8); segment[3] = UInt8(ports.local & 0xFF)
        for k in 0..<4 {
            segment[4 + k] = UInt8(truncatingIfNeeded: seq.rawValue >> (24 - 8 * UInt32(k)))
            segment[8 + k] = UInt8(truncatingIfNeeded: ack.rawValue >> (24 - 8 * UInt32(k)))
        }
        segment[12] = UInt8((20 + optionBytes.count) / 4) << 4
        segment[13] = flags.rawValue
        segment[14] = UInt8(window >> 8); segment[15] = UInt8(window & 0xFF)
        segment[18] = UInt8(urgent >> 8); segment[19] = UInt8(urgent & 0xFF)
        segment.replaceSubrange(20..<(20 + optionBytes.count), with: optionBytes)
        for i in 0..<payloadLength { segment[20 + optionBytes.count + i] = peerByte(first + i) }
        segment.withUnsafeMutableBytes { TCPHeader.fillChecksum($0, source: remote, destination: local) }
        if flags.contains(.syn) && !flags.contains(.ack) { tuples[ports, default: TupleModel()].peerSYNs.insert(seq.rawValue) }
        trace("peer \(ports.remote)->\(ports.local) \(flags) seq \(seq) ack \(ack) win \(window) len \(payloadLength)")
        receive(segment, source: remote, destination: local)
    }

    func receive(_ segment: [UInt8], source: IPv4Address, destination: IPv4Address) {
        segment.withUnsafeBytes { engine.receive($0, source: source, destination: destination, now: now, send: send) }
        audit()
    }

    // MARK: What the engine sends

    /// Checks and learns from every segment the engine sent since the last call.
    func audit() {
        let segments = outbox
        outbox.removeAll()
        for (destination, segment) in segments {
            segment.withUnsafeBytes { raw in
                let (header, length) = Audit.tcpSegment(raw, source: local, destination: destination)
                let payload = UnsafeRawBufferPointer(rebasing: raw[(raw.count - length)...])
                if destination == remote {
                    learn(header, payload)
                } else if strangerTuples.contains(Ports(remote: header.destinationPort, local: header.sourcePort)) {
                    trace("engine to the stranger's connection \(header.sourcePort)->\(header.destinationPort) \(header.flags)")
                } else {
                    trace("engine to \(destination) \(header.sourcePort)->\(header.destinationPort) \(header.flags) seq \(header.sequenceNumber) ack \(header.acknowledgmentNumber) len \(length)")
                    require(header.flags.contains(.rst) && length == 0, "to a stranger: only RSTs")
                }
            }
        }
    }

    func learn(_ h: TCPHeader, _ payload: UnsafeRawBufferPointer) {
        let ports = Ports(remote: h.destinationPort, local: h.sourcePort)
        var t = tuples[ports, default: TupleModel()]
        let syn = h.flags.contains(.syn)
        trace("engine \(h.sourcePort)->\(h.destinationPort) \(h.flags) seq \(h.sequenceNumber) ack \(h.acknowledgmentNumber) win \(h.window) len \(payload.count)")
        if !syn {
            require(h.options.maximumSegmentSize == nil && h.options.windowScale == nil && !h.options.sackPermitted,
                    "SYN-only option on a non-SYN segment")
        }
        if h.flags.contains(.rst) {
            require(payload.isEmpty, "RST with data")
        }
        // What the application wrote on the current incarnation (a new one gets a new handle; until the
        // application holds it, nothing it wrote belongs to it).
        let written = t.current.map { handles[$0].written } ?? 0
        let closed = t.current.map { handles[$0].closed } ?? false
        if syn {
            t.engineISS = h.sequenceNumber
            if let ws = h.options.windowScale { require(ws <= 14, "window scale \(ws) offered") }
            if let mss = h.options.maximumSegmentSize { require(mss >= 64, "MSS \(mss) offered") }
        }
        require(payload.count <= max(configuration.maximumSegmentSize, 536), "segment of \(payload.count) bytes")
        if !h.flags.contains(.rst), let iss = t.engineISS {
            let start = (h.sequenceNumber + (syn ? 1 : 0)) - (iss + 1)
            if payload.count > 0 {
                require(start >= 0 && start + payload.count <= written,
                        "data at stream offset \(start)+\(payload.count), application wrote \(written)")
                for i in 0..<payload.count where payload[i] != appByte(start + i) {
                    invariantFailed("engine sent byte \(payload[i]) at stream offset \(start + i), wrote \(appByte(start + i))")
                }
            }
            if h.flags.contains(.fin) {
                require(closed, "FIN without shutdown or close")
                require(start + payload.count == written, "FIN at offset \(start + payload.count) of \(written)")
            }
            let end = h.sequenceNumber + payload.count + (syn ? 1 : 0) + (h.flags.contains(.fin) ? 1 : 0)
            if let m = t.engineSndMax { t.engineSndMax = TCPSeqNumber.later(m, end) } else { t.engineSndMax = end }
        }
        if h.flags.contains(.ack) && !h.flags.contains(.rst) { t.engineAck = h.acknowledgmentNumber }
        if let ts = h.options.timestamp { t.engineTSval = ts.value }
        tuples[ports] = t
    }

    // MARK: Application

    func track(_ handle: TCPConnectionHandle) {
        guard let tuple = try? engine.endpoints(of: handle) else { invariantFailed("fresh handle has no endpoints") }
        let ports = Ports(remote: tuple.remotePort, local: tuple.localPort)
        require(tuple.remoteAddress == remote && tuple.localAddress == local, "handle tuple addresses")
        handles.append(HandleModel(handle: handle, ports: ports, candidates: tuples[ports]?.peerSYNs ?? []))
        tuples[ports, default: TupleModel()].current = handles.count - 1
        trace("app accepted \(handle) \(ports.remote)->\(ports.local)")
    }

    func appSend(_ index: Int, _ count: Int) {
        guard !handles.isEmpty else { return }
        let i = index % handles.count
        let h = handles[i]
        let ports = h.ports
        let start = h.written
        let bytes = (0..<count).map { appByte(start + $0) }
        do {
            let taken = try engine.send(h.handle, bytes)
            trace("app send \(h.handle) \(ports.remote)->\(ports.local): \(taken) of \(count) at offset \(start)")
            require(taken >= 0 && taken <= count, "send took \(taken) of \(count)")
            handles[i].written += taken
        } catch {
            _ = error.description
        }
    }

    func appReceive(_ index: Int, _ maximum: Int, intoBuffer: Bool) {
        guard !handles.isEmpty else { return }
        let i = index % handles.count
        var data: [UInt8] = []
        do throws(TCPError) {
            let result: TCPReceiveResult
            if intoBuffer {
                var buffer = [UInt8](repeating: 0, count: maximum)
                let handle = handles[i].handle
                let outcome = buffer.withUnsafeMutableBytes { b -> Result<TCPReceiveResult, TCPError> in
                    do throws(TCPError) { return .success(try engine.receive(handle, into: b)) } catch {
                        return .failure(error)
                    }
                }
                result = try outcome.get()
                if case .bytes(let n) = result { data = Array(buffer.prefix(n)) }
            } else {
                result = try engine.receive(handles[i].handle, appendingTo: &data, maximum: maximum)
            }
            trace("app receive \(handles[i].handle) max \(maximum): \(result)")
            if case .bytes(let n) = result {
                require(n == data.count && n <= maximum && (n > 0 || maximum == 0), "receive returned \(n)")
            } else {
                require(data.isEmpty, "data with \(result)")
            }
        } catch {
            _ = error.description
            return
        }
        guard !data.isEmpty else { return }
        let h = handles[i]
        if tuples[h.ports]?.unpredictable ?? true { handles[i].read += data.count; return }
        let consistent = h.candidates.filter { irs in
            let first = TCPSeqNumber(irs) + 1 + h.read
            for (k, b) in data.enumerated() where peerByte(first + k) != b { return false }
            return true
        }
        require(!consistent.isEmpty, "read \(data.count) bytes at offset \(h.read) that the peer never sent there")
        handles[i].candidates = consistent
        handles[i].read += data.count
    }

    // MARK: Invariants

    func checkInvariants() {
        require(engine.connectionCount <= configuration.maximumConnections, "\(engine.connectionCount) connections")
        for h in handles {
            guard let info = try? engine.info(of: h.handle) else {
                require(engine.readiness(of: h.handle) == [.readable, .writable, .closed], "invalid handle readiness")
                continue
            }
            let limitQueued = configuration.sendBufferSize
            require(info.bytesQueued >= 0 && info.bytesQueued <= limitQueued, "queued \(info.bytesQueued)")
            require(info.bytesReadable >= 0 && info.bytesReadable <= configuration.receiveBufferSize,
                    "readable \(info.bytesReadable)")
            require(info.bytesInFlight >= 0, "in flight \(info.bytesInFlight)")
            if info.state != .closed {  // a failed connection drops its buffer but keeps SND.UNA/SND.MAX
                require(info.bytesInFlight <= info.bytesQueued + 2,
                        "in flight \(info.bytesInFlight), queued \(info.bytesQueued) in \(info.state)")
            }
            require(info.congestionWindow > 0 && info.slowStartThreshold > 0, "cwnd \(info.congestionWindow)")
            require(info.sendMSS >= 64 && info.sendMSS <= max(configuration.maximumSegmentSize, 536), "MSS \(info.sendMSS)")
            require(info.sendWindowShift <= 14 && info.receiveWindowShift <= 14, "window shifts")
            require(info.sendWindow >= 0, "send window \(info.sendWindow)")
            require(info.outOfOrderRanges <= configuration.maximumOutOfOrderRanges, "\(info.outOfOrderRanges) ranges")
            require(info.retransmissionTimeout > .zero && info.retransmissionTimeout <= configuration.maximumRTO,
                    "RTO \(info.retransmissionTimeout)")
            require(info.tuple.localPort == h.ports.local && info.tuple.remotePort == h.ports.remote, "tuple moved")
            require((try? engine.state(of: h.handle)) == info.state, "state")
            let r = engine.readiness(of: h.handle)
            let failed = (try? engine.error(of: h.handle)) != nil
            if failed || info.state == .closed { require(r.contains(.closed) && r.contains(.readable), "readiness \(r)") }
            if info.bytesReadable > 0 { require(r.contains(.readable), "readable data but not readable") }
            _ = r.description
            _ = info.state.description
        }
        if let listener {
            _ = engine.readiness(of: listener)
            if let n = try? engine.halfOpenCount(of: listener) {
                require(n <= max(configuration.synQueueLimit, 0), "half-open \(n) of \(configuration.synQueueLimit)")
            }
        }
        while let event = engine.nextEvent() { _ = event.description }
    }

    /// Runs timers at `now`; afterwards nothing may be due at `now` any more.
    func poll() {
        engine.poll(now: now, send: send)
        audit()
        // Refused output is retried a millisecond later and refused RSTs are dropped, so nothing is due at once.
        if let d = engine.nextDeadline {
            require(d > now, "engine still due at \(now) (deadline \(d)) after a poll")
        }
    }

    // MARK: Setup

    func peerOptions(_ selector: UInt8, syn: Bool, ports: Ports) -> TCPOptions {
        var o = TCPOptions()
        if syn {
            if selector & 1 != 0 { o.maximumSegmentSize = [1460, 536, 64, 1, 9000, 65535, 100, 1200][Int(selector >> 5)] }
            if selector & 2 != 0 { o.windowScale = [0, 7, 14, 15][Int(selector >> 2) & 3] }
            if selector & 16 != 0 { o.sackPermitted = true }
        }
        if selector & 8 != 0 || !syn {
            peerClock &+= 7
            o.timestamp = TCPTimestampOption(value: peerClock, echoReply: tuples[ports]?.engineTSval ?? 0)
        }
        return o
    }

    /// A passive open from `port`, completed with the final ACK; returns whether a connection was accepted.
    func passiveOpen(port: UInt16, irs: TCPSeqNumber, selector: UInt8) {
        let ports = Ports(remote: port, local: listenPort)
        var options = peerOptions(selector, syn: true, ports: ports)
        if selector & 8 == 0 { options.timestamp = nil }
        tuples[ports, default: TupleModel()].peerShift = options.windowScale.map { min($0, 14) } ?? 0
        deliver(ports, seq: irs, ack: TCPSeqNumber(0), flags: [.syn], window: 65535, options: options)
        guard let iss = tuples[ports]?.engineISS else { return }
        let ack = peerOptions(selector & 8, syn: false, ports: ports)
        deliver(ports, seq: irs + 1, ack: iss + 1, flags: [.ack], window: 4096,
                options: selector & 8 != 0 ? ack : TCPOptions())
        acceptAll()
    }

    func acceptAll() {
        guard let listener else { return }
        while let h = try? engine.accept(listener) { track(h) }
    }

    func activeOpen(irs: TCPSeqNumber, selector: UInt8) {
        guard let h = try? engine.connect(to: remote, port: activePort, now: now) else { return }
        track(h)
        poll()
        let ports = handles[handles.count - 1].ports
        guard let iss = tuples[ports]?.engineISS else { return }
        var options = peerOptions(selector, syn: true, ports: ports)
        if selector & 8 == 0 { options.timestamp = nil }
        tuples[ports, default: TupleModel()].peerShift = options.windowScale.map { min($0, 14) } ?? 0
        deliver(ports, seq: irs, ack: iss + 1, flags: [.syn, .ack], window: 65535, options: options)
        handles[handles.count - 1].candidates.insert(irs.rawValue)
        poll()
    }
}

// MARK: - Operations

/// A signed offset from one byte (sometimes more): mostly small, sometimes far, sometimes anywhere.
func offset(_ input: inout FuzzInput) -> Int {
    let b = input.u8()
    switch b {
    case 0..<0x80: return Int(b) - 0x40
    case 0x80..<0xC0: return (Int(b & 0x3F) - 0x20) * 1024
    case 0xC0..<0xF0: return (Int(b & 0x3F) - 0x18) * 65536
    default: return Int(Int32(bitPattern: input.u32()))
    }
}

let durations: [Duration] = [.milliseconds(1), .milliseconds(40), .milliseconds(200), .seconds(1), .seconds(3),
                             .seconds(30), .seconds(61), .seconds(7300)]

/// Operations (`kind = byte % 12`):
///   0-3  a peer segment on a tracked four-tuple: tuple index, flags, seq offset (from the engine's last ACK),
///        ack offset (from the engine's SND.MAX), window (16 bits), options selector, payload length,
///        [urgent pointer when URG], [raw option bytes when selected]
///   4    the application sends (handle index, 16-bit count)
///   5    the application receives (handle index, 16-bit maximum, bit: into a buffer)
///   6    time passes (one of `durations`, or 16-bit milliseconds) and the engine is polled
///   7    a SYN from a new peer port (options selector, seq)
///   8    accept everything waiting
///   9    shutdown / close / abort / no-delay / keepalive on a handle
///   10   a raw segment (flags byte: source address choice, checksum repair; 16-bit length; bytes)
///   11   the IPv4 layer refuses (or accepts again) output; the listener closes or reopens
func tcpState(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let harness = Harness(mode: input.u8())
    let synSelector = input.u8()
    harness.passiveOpen(port: 40000, irs: TCPSeqNumber(0x1111_0000), selector: synSelector)
    harness.activeOpen(irs: TCPSeqNumber(0xFFFF_FF00), selector: synSelector ^ 0x08)
    harness.checkInvariants()
    var steps = 0
    while !input.isEmpty && steps < 150 {
        steps += 1
        step(harness, &input)
        harness.poll()
        harness.checkInvariants()
    }
    // Let every timer run out: the engine must wind down without busy loops.
    for _ in 0..<6 {
        harness.now = harness.now + .seconds(300)
        harness.congested = false
        harness.poll()
        harness.checkInvariants()
    }
}

func step(_ h: Harness, _ input: inout FuzzInput) {
    switch input.u8() % 12 {
    case 0, 1, 2, 3:
        let known = Array(h.tuples.keys).sorted { ($0.remote, $0.local) < ($1.remote, $1.local) }
        guard !known.isEmpty else { return }
        let ports = known[Int(input.u8()) % known.count]
        let t = h.tuples[ports]!
        let flags = TCPFlags(rawValue: input.u8())
        let base = t.engineAck ?? TCPSeqNumber(t.peerSYNs.min() ?? 0) + 1
        let seq = base + offset(&input)
        let ack = (t.engineSndMax ?? TCPSeqNumber(0)) + offset(&input)
        let window = input.u16()
        let selector = input.u8()
        let lengthByte = input.u8()
        let length = lengthByte < 0xF0 ? Int(lengthByte) : Int(lengthByte - 0xEF) * 100
        let urgent = flags.contains(.urg) ? input.u16() : 0
        var options = h.peerOptions(selector & 0x1F | (selector & 0x80 != 0 ? 0x08 : 0), syn: flags.contains(.syn),
                                    ports: ports)
        if selector & 0x80 == 0 && !flags.contains(.syn) && selector & 8 == 0 { options.timestamp = nil }
        if selector & 0x40 != 0, let sndMax = t.engineSndMax {
            // SACK blocks somewhere around the engine's send space.
            for _ in 0..<(Int(input.u8()) % 4) {
                let start = sndMax + offset(&input)
                options.sackBlocks.append(TCPSackBlock(start: start, end: start + Int(input.u16())))
            }
        }
        var raw: [UInt8]? = nil
        if selector & 0x20 != 0 { raw = Array(input.bytes(Int(input.u8() % 41))) }
        h.deliver(ports, seq: seq, ack: ack, flags: flags, window: window, urgent: urgent,
                  options: options.encodedLength <= 40 ? options : TCPOptions(), rawOptions: raw,
                  payloadLength: length)
        h.acceptAll()
    case 4:
        let index = Int(input.u8())
        h.appSend(index, Int(input.u16()) % 3000)
    case 5:
        let index = Int(input.u8())
        let maximum = Int(input.u16()) % 6000
        h.appReceive(index, maximum, intoBuffer: input.bool())
    case 6:
        let b = input.u8()
        h.now = h.now + (b < 8 ? durations[Int(b)] : .milliseconds(Int64(input.u16())))
    case 7:
        let selector = input.u8()
        let port = h.nextPort
        h.nextPort &+= 1
        let irs = TCPSeqNumber(input.u32())
        let ports = Ports(remote: port, local: listenPort)
        var options = h.peerOptions(selector, syn: true, ports: ports)
        if selector & 8 == 0 { options.timestamp = nil }
        h.deliver(ports, seq: irs, ack: TCPSeqNumber(0), flags: [.syn], window: 65535, options: options)
    case 8:
        h.acceptAll()
    case 9:
        guard !h.handles.isEmpty else { return }
        let i = Int(input.u8()) % h.handles.count
        let handle = h.handles[i].handle
        let ports = h.handles[i].ports
        let call = input.u8() % 6
        trace("app call \(call) on \(handle) \(ports.remote)->\(ports.local)")
        switch call {
        case 0:
            if (try? h.engine.shutdown(handle)) != nil { h.handles[i].closed = true }
        case 1:
            if (try? h.engine.close(handle)) != nil { h.handles[i].closed = true }
        case 2:
            try? h.engine.abort(handle)
        case 3:
            try? h.engine.setNoDelay(handle, input.bool())
        case 4:
            try? h.engine.setKeepalive(handle, TCPKeepalive(idle: .seconds(10), interval: .seconds(1), probeCount: 3))
        default:
            _ = try? h.engine.urgentBytes(of: handle)
        }
    case 10:
        let flags = input.u8()
        var raw = Array(input.chunk())
        let sources = [remote, IPv4Address.any, IPv4Address.broadcast, IPv4Address(224, 0, 0, 1), stranger]
        let source = sources[Int(flags & 7) % sources.count]
        let destination = flags & 8 != 0 ? IPv4Address.broadcast : local
        if raw.count >= 4 {
            let ports = Ports(remote: UInt16(raw[0]) << 8 | UInt16(raw[1]), local: UInt16(raw[2]) << 8 | UInt16(raw[3]))
            h.tuples[ports, default: TupleModel()].unpredictable = true
            if source == stranger, raw.count >= 14, raw[13] & 0x12 == 0x02 { h.strangerTuples.insert(ports) }
            if raw.count >= 14, raw[13] & 0x12 == 0x02 {
                h.tuples[ports]!.peerSYNs.insert(UInt32(raw[4]) << 24 | UInt32(raw[5]) << 16 | UInt32(raw[6]) << 8 | UInt32(raw[7]))
            }
        }
        if flags & 16 == 0 && raw.count >= 20 {
            raw[16] = 0; raw[17] = 0
            let sum = raw.withUnsafeBytes { TCPHeader.checksum(of: $0, source: source, destination: destination) }
            raw[16] = UInt8(sum >> 8); raw[17] = UInt8(sum & 0xFF)
        }
        trace("raw \(raw.count) bytes from \(source) to \(destination): \(raw.prefix(20).map { String($0) })")
        h.receive(raw, source: source, destination: destination)
        h.acceptAll()
    default:
        switch input.u8() % 3 {
        case 0: h.congested.toggle()
        case 1:
            if let l = h.listener { try? h.engine.close(l); h.listener = nil }
        default:
            if h.listener == nil { h.listener = try? h.engine.listen(port: listenPort, backlog: 2) }
        }
    }
}

// MARK: - Seeds

func seeds() -> [Seed] {
    var seeds: [Seed] = []
    func segment(_ w: inout FuzzInputWriter, tuple: UInt8, flags: TCPFlags, seq: Int8 = 0, ack: Int8 = 0,
                 window: UInt16 = 8192, selector: UInt8 = 0x08, length: UInt8 = 0) {
        w.u8(0); w.u8(tuple); w.u8(flags.rawValue)
        w.u8(UInt8(Int(seq) + 0x40)); w.u8(UInt8(Int(ack) + 0x40))
        w.u16(window); w.u8(selector); w.u8(length)
    }
    func send(_ w: inout FuzzInputWriter, handle: UInt8, count: UInt16) { w.u8(4); w.u8(handle); w.u16(count) }
    func read(_ w: inout FuzzInputWriter, handle: UInt8, max: UInt16) { w.u8(5); w.u8(handle); w.u16(max); w.u8(0) }
    func wait(_ w: inout FuzzInputWriter, _ index: UInt8) { w.u8(6); w.u8(index) }
    // Tuples are sorted by remote port: 5000 (active, index 0) before 40000 (passive, index 1).
    // Data both ways with timestamps, then an orderly close from each side.
    var w = FuzzInputWriter()
    w.u8(0); w.u8(0x08 | 0x01 | 0x02 | 0x10)
    segment(&w, tuple: 1, flags: [.ack, .psh], length: 100)
    segment(&w, tuple: 1, flags: [.ack, .psh], seq: 0, length: 200)
    read(&w, handle: 0, max: 1000)
    send(&w, handle: 0, count: 3000)
    wait(&w, 2)
    segment(&w, tuple: 1, flags: [.ack], ack: 0)
    send(&w, handle: 1, count: 500)
    segment(&w, tuple: 0, flags: [.ack, .psh], length: 50)
    read(&w, handle: 1, max: 100)
    w.u8(9); w.u8(0); w.u8(1)       // close the passive connection
    segment(&w, tuple: 1, flags: [.ack, .fin], ack: 0)
    wait(&w, 6)
    segment(&w, tuple: 0, flags: [.ack, .fin])
    w.u8(9); w.u8(1); w.u8(0)       // shutdown the active connection
    wait(&w, 3)
    seeds.append(Seed("transfer-close", w.bytes))
    // Out of order, duplicates, SACK, a window of zero, retransmission timeouts.
    w = FuzzInputWriter()
    w.u8(8); w.u8(0x1F)
    segment(&w, tuple: 1, flags: [.ack], seq: 40, length: 40)
    segment(&w, tuple: 1, flags: [.ack], seq: 10, length: 20)
    segment(&w, tuple: 1, flags: [.ack], seq: 0, length: 50)
    segment(&w, tuple: 1, flags: [.ack], seq: 0, length: 50)
    read(&w, handle: 0, max: 4000)
    send(&w, handle: 0, count: 5000)
    wait(&w, 0)
    segment(&w, tuple: 1, flags: [.ack], ack: -40, window: 0, selector: 0x48)
    w.u8(2); w.u8(0x40 - 20); w.u16(100); w.u8(0x40 + 10); w.u16(500)
    for i: UInt8 in 2...5 { wait(&w, i) }
    segment(&w, tuple: 1, flags: [.ack], window: 65535)
    seeds.append(Seed("reorder-sack-zero-window", w.bytes))
    // Resets, SYNs on open connections, challenge ACKs, a SYN flood with cookies, a raw segment.
    w = FuzzInputWriter()
    w.u8(64); w.u8(0x1B)
    segment(&w, tuple: 1, flags: [.syn], seq: 5)
    segment(&w, tuple: 1, flags: [.rst], seq: 3)
    segment(&w, tuple: 0, flags: [.rst], seq: 0)
    for _ in 0..<6 { w.u8(7); w.u8(0x1B); w.u32(0x2000_0000) }
    segment(&w, tuple: 2, flags: [.ack], ack: 0)
    w.u8(8)
    w.u8(10); w.u8(0)
    w.chunk([0x9C, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFF, 0xFF, 0, 0, 0, 0])
    wait(&w, 7)
    seeds.append(Seed("reset-syn-flood-raw", w.bytes))
    // Keepalive, no-delay, urgent data, congestion, listener close, TIME-WAIT reuse.
    w = FuzzInputWriter()
    w.u8(16 | 32); w.u8(0x08 | 0x03)
    w.u8(9); w.u8(0); w.u8(4)
    w.u8(9); w.u8(1); w.u8(3); w.u8(1)
    segment(&w, tuple: 1, flags: [.ack, .urg, .psh], length: 10); w.u16(5)
    w.u8(9); w.u8(0); w.u8(5)
    w.u8(11); w.u8(0)
    send(&w, handle: 1, count: 800)
    wait(&w, 4)
    w.u8(11); w.u8(0)
    wait(&w, 5)
    w.u8(11); w.u8(1)
    w.u8(9); w.u8(1); w.u8(1)
    segment(&w, tuple: 0, flags: [.ack, .fin])
    wait(&w, 2)
    w.u8(11); w.u8(2)
    segment(&w, tuple: 1, flags: [.syn], seq: 60)
    seeds.append(Seed("keepalive-urgent-congestion", w.bytes))
    return seeds
}
