import Interfaces
import Testing
@testable import TCPStack

let testHostA = IPv4Address(10, 0, 0, 1)
let testHostB = IPv4Address(10, 0, 0, 2)

/// A segment an engine sent, decoded.
struct CapturedSegment: CustomStringConvertible {
    var source: IPv4Address
    var destination: IPv4Address
    var header: TCPHeader
    var payload: [UInt8]
    var bytes: [UInt8]

    var seq: TCPSeqNumber { header.sequenceNumber }
    var ack: TCPSeqNumber { header.acknowledgmentNumber }
    var flags: TCPFlags { header.flags }
    var description: String {
        "\(header.flags) seq=\(seq) ack=\(ack) win=\(header.window) len=\(payload.count)"
    }
}

/// Encodes a segment with a correct checksum.
func buildSegment(_ header: TCPHeader, payload: [UInt8] = [], source: IPv4Address,
                  destination: IPv4Address) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: header.length + payload.count)
    bytes.withUnsafeMutableBytes { buffer in
        header.emit(into: buffer)
        for (i, b) in payload.enumerated() { buffer[header.length + i] = b }
        TCPHeader.fillChecksum(buffer, source: source, destination: destination)
    }
    return bytes
}

/// Decodes a segment the engine produced; fails the test if it does not parse or its checksum is wrong.
func decodeSegment(_ bytes: [UInt8], source: IPv4Address, destination: IPv4Address) -> CapturedSegment? {
    bytes.withUnsafeBytes { raw -> CapturedSegment? in
        guard let view = try? TCPSegmentView(checking: raw), let header = try? TCPHeader(parsing: view) else {
            Issue.record("engine emitted an unparsable segment")
            return nil
        }
        #expect(view.verifyChecksum(source: source, destination: destination), "bad checksum on emitted segment")
        return CapturedSegment(source: source, destination: destination, header: header,
                               payload: Array(view.payload), bytes: bytes)
    }
}

/// One engine driven segment by segment: the test plays the peer by injecting hand-made segments and reading
/// what the engine sends.
final class EngineHarness {
    let engine: TCPEngine
    let clock = ManualClock(start: Instant(nanoseconds: 1_000_000_000))
    var sent: [CapturedSegment] = []
    var acceptSends = true
    let local = testHostA
    let remote = testHostB

    init(_ configure: (inout TCPConfiguration) -> Void = { _ in }) {
        var config = TCPConfiguration()
        configure(&config)
        engine = TCPEngine(localAddress: testHostA, configuration: config, entropy: SeededEntropy(seed: 7))
    }

    var now: Instant { clock.now }

    lazy var send: IPv4Send = { [unowned self] source, destination, length, fill in
        guard self.acceptSends else { return false }
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { fill($0) }
        if let segment = decodeSegment(bytes, source: source, destination: destination) { self.sent.append(segment) }
        return true
    }

    /// Delivers a segment from the peer.
    func inject(_ header: TCPHeader, payload: [UInt8] = [], from source: IPv4Address? = nil) {
        let bytes = buildSegment(header, payload: payload, source: source ?? remote, destination: local)
        bytes.withUnsafeBytes { engine.receive($0, source: source ?? remote, destination: local, now: now, send: send) }
    }

    /// Delivers raw bytes.
    func injectRaw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { engine.receive($0, source: remote, destination: local, now: now, send: send) }
    }

    func poll() { engine.poll(now: now, send: send) }

    /// Moves time forward and polls.
    func advance(_ d: Duration) {
        clock.advance(by: d)
        poll()
    }

    /// Advances to each deadline in turn (polling) until `limit` has passed or nothing is armed.
    func runTimers(for limit: Duration) {
        let end = now + limit
        var steps = 0
        while steps < 100_000 {
            steps += 1
            guard let d = engine.nextDeadline, d <= end else { break }
            if d > now { clock.advance(to: d) }
            poll()
            if d <= now && engine.nextDeadline == d { clock.advance(by: .microseconds(1)) }
        }
        if now < end { clock.advance(to: end) }
        poll()
    }

    /// Returns and clears what the engine has sent.
    func take() -> [CapturedSegment] {
        defer { sent.removeAll() }
        return sent
    }

    /// A header from the peer to the engine.
    func header(_ flags: TCPFlags, seq: TCPSeqNumber, ack: TCPSeqNumber = TCPSeqNumber(0), window: UInt16 = 65535,
                from remotePort: UInt16 = 40000, to localPort: UInt16 = 80,
                options: TCPOptions = TCPOptions()) -> TCPHeader {
        TCPHeader(sourcePort: remotePort, destinationPort: localPort, sequenceNumber: seq, acknowledgmentNumber: ack,
                  flags: flags, window: window, options: options)
    }
}

/// Reads everything available from a connection into `sink`; returns true at end of stream.
@discardableResult
func drain(_ engine: TCPEngine, _ handle: TCPConnectionHandle, into sink: inout [UInt8]) throws(TCPError) -> Bool {
    while true {
        switch try engine.receive(handle, appendingTo: &sink, maximum: 16384) {
        case .bytes: continue
        case .wouldBlock: return false
        case .endOfStream: return true
        }
    }
}

/// A deterministic pseudo-random source for simulations.
struct TestRandom {
    private let generator: SeededEntropy
    init(seed: UInt64) { generator = SeededEntropy(seed: seed) }
    func next() -> UInt64 { generator.next64() }
    /// Uniform in [0, 1).
    func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    func chance(_ p: Double) -> Bool { p > 0 && unit() < p }
    func below(_ n: UInt64) -> UInt64 { n == 0 ? 0 : next() % n }
}

/// Two (or more) engines joined by a simulated IPv4 network with a bottleneck rate, delay, jitter, loss,
/// duplication and reordering, all driven by a manual clock and a seeded generator.
final class NetworkSimulator {
    struct Packet {
        var deliverAt: Instant
        var order: UInt64
        var source: IPv4Address
        var destination: IPv4Address
        var bytes: [UInt8]
    }

    struct LinkProfile {
        var delay: Duration = .milliseconds(10)
        var jitter: Duration = .zero
        var loss: Double = 0
        var duplication: Double = 0
        /// Probability that a packet is held back by an extra `reorderDelay`, letting later ones overtake it.
        var reordering: Double = 0
        var reorderDelay: Duration = .milliseconds(5)
        /// Bottleneck rate in bytes per second (0: unlimited).
        var bytesPerSecond: Int = 0
        /// Packets queued at the bottleneck before drop-tail (0: unlimited).
        var queueLimit: Int = 0
    }

    let clock = ManualClock(start: Instant(nanoseconds: 1_000_000_000))
    var profile: LinkProfile
    let random: TestRandom
    private(set) var engines: [IPv4Address: TCPEngine] = [:]
    private var inFlight: [Packet] = []
    private var order: UInt64 = 0
    private var linkFreeAt: [IPv4Address: Instant] = [:]
    private var queued: [IPv4Address: [Instant]] = [:]
    var delivered = 0
    var dropped = 0
    var duplicated = 0
    /// When set, sees (and may drop, by returning false) every packet before the link.
    var filter: ((IPv4Address, IPv4Address, [UInt8]) -> Bool)?

    init(profile: LinkProfile, seed: UInt64) {
        self.profile = profile
        random = TestRandom(seed: seed)
    }

    var now: Instant { clock.now }

    func attach(_ engine: TCPEngine, at address: IPv4Address) { engines[address] = engine }

    func sender(for address: IPv4Address) -> IPv4Send {
        return { [unowned self] source, destination, length, fill in
            var bytes = [UInt8](repeating: 0, count: length)
            bytes.withUnsafeMutableBytes { fill($0) }
            self.transmit(source: source, destination: destination, bytes: bytes)
            return true
        }
    }

    private func transmit(source: IPv4Address, destination: IPv4Address, bytes: [UInt8]) {
        if let filter, !filter(source, destination, bytes) {
            dropped += 1
            return
        }
        // Bottleneck: serialization at the rate, bounded queue (drop-tail).
        var departure = now
        if profile.bytesPerSecond > 0 {
            var backlog = queued[source, default: []].filter { $0 > now }
            if profile.queueLimit > 0 && backlog.count >= profile.queueLimit {
                dropped += 1
                queued[source] = backlog
                return
            }
            let start = max(now, linkFreeAt[source] ?? now)
            let serialization = Duration.nanoseconds(Int64(bytes.count + 40) * 1_000_000_000
                                                     / Int64(profile.bytesPerSecond))
            departure = start + serialization
            linkFreeAt[source] = departure
            backlog.append(departure)
            queued[source] = backlog
        }
        if random.chance(profile.loss) {
            dropped += 1
            return
        }
        let copies = random.chance(profile.duplication) ? 2 : 1
        if copies == 2 { duplicated += 1 }
        for _ in 0..<copies {
            var delay = profile.delay
            if profile.jitter > .zero {
                delay += .nanoseconds(Int64(random.below(UInt64(profile.jitter.nanosecondsClamped) + 1)))
            }
            if random.chance(profile.reordering) { delay += profile.reorderDelay }
            order += 1
            inFlight.append(Packet(deliverAt: departure + delay, order: order, source: source,
                                   destination: destination, bytes: bytes))
        }
    }

    /// Delivers every packet due, polls every engine, calls `step` (the applications), and advances time to
    /// the next event, until `done()` or the simulated `timeLimit` passes. Returns whether `done()` held.
    @discardableResult
    func run(timeLimit: Duration, step: () -> Void = {}, until done: () -> Bool) -> Bool {
        let end = now + timeLimit
        var iterations = 0
        while now <= end && iterations < 5_000_000 {
            iterations += 1
            // Deliver due packets in (time, order) order.
            while let index = nextDueIndex() {
                let packet = inFlight.remove(at: index)
                if let engine = engines[packet.destination] {
                    delivered += 1
                    packet.bytes.withUnsafeBytes {
                        engine.receive($0, source: packet.source, destination: packet.destination, now: now,
                                       send: sender(for: packet.destination))
                    }
                }
            }
            for (address, engine) in engines { engine.poll(now: now, send: sender(for: address)) }
            step()
            for (address, engine) in engines where engine.nextDeadline.map({ $0 <= now }) ?? false {
                engine.poll(now: now, send: sender(for: address))
            }
            if done() { return true }
            var next: Instant? = inFlight.map(\.deliverAt).min()
            for engine in engines.values {
                if let d = engine.nextDeadline, next == nil || d < next! { next = d }
            }
            guard let target = next else { return done() }
            clock.advance(to: max(target, now + .microseconds(1)))
        }
        return done()
    }

    private func nextDueIndex() -> Int? {
        var best: Int? = nil
        for (i, p) in inFlight.enumerated() where p.deliverAt <= now {
            if best == nil || (p.deliverAt, p.order) < (inFlight[best!].deliverAt, inFlight[best!].order) { best = i }
        }
        return best
    }
}

/// Deterministic test data: byte i of a stream.
func patternBytes(count: Int, seed: UInt64) -> [UInt8] {
    let random = TestRandom(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        var word = random.next()
        for _ in 0..<8 where i < count {
            bytes[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return bytes
}
