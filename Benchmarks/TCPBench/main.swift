// TCPBench: bulk TCP on the host, with no device and no hypervisor, to find where the stack spends its time.
//
//   swift run -c release TCPBench [engine|stack|all] [MiB] [runs]
//
// `engine`: two TCPEngines joined in memory. Each engine's packets go into a fixed pool of preallocated slots (no
// allocation per packet on either side of the wire) and are delivered to the other engine in the next round;
// every round advances a manual clock by 20 µs. The client sends MiB mebibytes to the server, which reads them
// as they arrive, then both close.
// `stack`: the same transfer through two full NetworkStacks (Ethernet, ARP, IPv4) over the in-memory
// SimulatedNetwork (100 µs links). The simulator copies each frame into an array of its own; subtract its
// functions when reading a profile.
//
// Prints `BENCH tcpbench_<mode>_MBps <median>` (wall time on this host), and per run the segments each side sent.
// Under callgrind (`valgrind --tool=callgrind .build/release/TCPBench engine 16 1`) the instruction counts are
// repeatable even on a loaded machine; divide by the number of data segments for a per-segment cost.
import Interfaces
import TCPStack

let hostA = IPv4Address(10, 0, 0, 1)
let hostB = IPv4Address(10, 0, 0, 2)

/// A FIFO of packets in preallocated fixed-size slots: the wire from one engine to the other.
final class PacketQueue {
    static let slotSize = 2048
    let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private var lengths: [Int]
    private var sources: [IPv4Address]
    private var destinations: [IPv4Address]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity * Self.slotSize, alignment: 64)
        lengths = [Int](repeating: 0, count: capacity)
        sources = [IPv4Address](repeating: .any, count: capacity)
        destinations = [IPv4Address](repeating: .any, count: capacity)
    }

    deinit { storage.deallocate() }

    func push(source: IPv4Address, destination: IPv4Address, length: Int,
              fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard count < capacity, length <= Self.slotSize else { return false }
        let slot = (head + count) % capacity
        fill(UnsafeMutableRawBufferPointer(start: storage + slot * Self.slotSize, count: length))
        lengths[slot] = length
        sources[slot] = source
        destinations[slot] = destination
        count += 1
        return true
    }

    /// Delivers at most `limit` packets (those queued before this call) to `engine`.
    func deliver(_ limit: Int, to engine: TCPEngine, now: Instant, send: IPv4Send) {
        var n = min(limit, count)
        while n > 0 {
            let slot = head
            head = (head + 1) % capacity
            count -= 1
            n -= 1
            engine.receive(UnsafeRawBufferPointer(start: storage + slot * Self.slotSize, count: lengths[slot]),
                           source: sources[slot], destination: destinations[slot], now: now, send: send)
        }
    }
}

struct RunResult {
    var bytes: Int
    var nanoseconds: Int64
    var clientSegments: Int
    var serverSegments: Int
    var retransmissions: Int
    var simulated: Duration
}

func wallNanoseconds(_ d: Duration) -> Int64 {
    let (s, a) = d.components
    return s * 1_000_000_000 + a / 1_000_000_000
}

/// What the client sends, over and over: 64 KiB of the pattern "byte i is i mod 251" (made once, so that the
/// profile shows TCP rather than the data source).
func patternChunk() -> [UInt8] {
    (0..<65536).map { UInt8($0 % 251) }
}

/// The application on both ends: the client keeps its send buffer full until `total` bytes are written, then
/// shuts down its side; the server reads everything as it arrives, until the end of the stream.
struct BulkApplication {
    let total: Int
    let chunk = patternChunk()
    var sink = [UInt8](repeating: 0, count: 65536)
    var sent = 0
    var received = 0
    var shut = false
    var eof = false

    /// One round: write what the client's buffer takes, read what the server has.
    mutating func step(client: TCPEngine, connection: TCPConnectionHandle, server: TCPEngine,
                       accepted: TCPConnectionHandle?) {
        while sent < total {
            let from = sent % chunk.count
            let n = min(chunk.count - from, total - sent)
            let taken = chunk.withUnsafeBytes {
                try! client.send(connection, UnsafeRawBufferPointer(rebasing: $0[from..<(from + n)]))
            }
            if taken == 0 { break }
            sent += taken
        }
        if sent == total && !shut {
            try! client.shutdown(connection)
            shut = true
        }
        guard let h = accepted else { return }
        while true {
            let r = sink.withUnsafeMutableBytes { try! server.receive(h, into: $0) }
            switch r {
            case .bytes(let n): received += n
            case .wouldBlock: return
            case .endOfStream:
                eof = true
                return
            }
        }
    }
}

func engineRun(bytes total: Int) -> RunResult {
    var config = TCPConfiguration()
    config.minimumRTO = .milliseconds(200)
    config.noDelay = true
    let clock = ManualClock(start: Instant(nanoseconds: 1_000_000_000))
    let client = TCPEngine(localAddress: hostA, configuration: config, entropy: SeededEntropy(seed: 1))
    let server = TCPEngine(localAddress: hostB, configuration: config, entropy: SeededEntropy(seed: 2))
    let toServer = PacketQueue(capacity: 4096)
    let toClient = PacketQueue(capacity: 4096)
    let clientSend: IPv4Send = { s, d, n, fill in toServer.push(source: s, destination: d, length: n, fill: fill) }
    let serverSend: IPv4Send = { s, d, n, fill in toClient.push(source: s, destination: d, length: n, fill: fill) }
    let listener = try! server.listen(port: 5001, backlog: 1)
    let connection = try! client.connect(to: hostB, port: 5001, now: clock.now)
    var accepted: TCPConnectionHandle?
    var app = BulkApplication(total: total)
    let start = ContinuousClock.now
    let simulatedStart = clock.now
    var rounds = 0
    while !app.eof && rounds < 50_000_000 {
        rounds += 1
        let now = clock.now
        toServer.deliver(toServer.count, to: server, now: now, send: serverSend)
        toClient.deliver(toClient.count, to: client, now: now, send: clientSend)
        if accepted == nil { accepted = try! server.accept(listener) }
        app.step(client: client, connection: connection, server: server, accepted: accepted)
        client.poll(now: now, send: clientSend)
        server.poll(now: now, send: serverSend)
        while client.nextEvent() != nil {}
        while server.nextEvent() != nil {}
        if toServer.count == 0 && toClient.count == 0 {
            // Nothing in flight: jump to the next timer.
            var next: Instant? = client.nextDeadline
            if let d = server.nextDeadline, next == nil || d < next! { next = d }
            clock.advance(to: max(next ?? now + .microseconds(20), now + .microseconds(20)))
        } else {
            clock.advance(by: .microseconds(20))
        }
    }
    let elapsed = ContinuousClock.now - start
    precondition(app.received == total, "received \(app.received) of \(total)")
    return RunResult(bytes: app.received, nanoseconds: wallNanoseconds(elapsed),
                     clientSegments: client.statistics.segmentsSent, serverSegments: server.statistics.segmentsSent,
                     retransmissions: client.statistics.retransmissions, simulated: clock.now - simulatedStart)
}

func stackRun(bytes total: Int) -> RunResult {
    let clock = ManualClock(start: Instant(nanoseconds: 1_000_000_000))
    let net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: 9))
    let a = net.addHost(mac: MACAddress(0x52, 0x54, 0, 0, 0, 1),
                        addressing: .static(IPv4InterfaceConfiguration(address: hostA, prefixLength: 24)),
                        entropy: SeededEntropy(seed: 3))
    let b = net.addHost(mac: MACAddress(0x52, 0x54, 0, 0, 0, 2),
                        addressing: .static(IPv4InterfaceConfiguration(address: hostB, prefixLength: 24)),
                        entropy: SeededEntropy(seed: 4))
    var config = TCPConfiguration()
    config.minimumRTO = .milliseconds(200)
    config.noDelay = true
    let client = TCPEngine(localAddress: hostA, configuration: config, entropy: SeededEntropy(seed: 1))
    let server = TCPEngine(localAddress: hostB, configuration: config, entropy: SeededEntropy(seed: 2))
    try! a.register(client)
    try! b.register(server)
    let listener = try! server.listen(port: 5001, backlog: 1)
    var connection: TCPConnectionHandle?
    var accepted: TCPConnectionHandle?
    var app = BulkApplication(total: total)
    let start = ContinuousClock.now
    let simulatedStart = clock.now
    net.run(until: clock.now + .seconds(3600)) {
        if connection == nil { connection = try! client.connect(to: hostB, port: 5001, now: clock.now) }
        if accepted == nil { accepted = try! server.accept(listener) }
        app.step(client: client, connection: connection!, server: server, accepted: accepted)
        while client.nextEvent() != nil {}
        while server.nextEvent() != nil {}
        return app.eof
    }
    let elapsed = ContinuousClock.now - start
    precondition(app.received == total, "received \(app.received) of \(total)")
    return RunResult(bytes: app.received, nanoseconds: wallNanoseconds(elapsed),
                     clientSegments: client.statistics.segmentsSent, serverSegments: server.statistics.segmentsSent,
                     retransmissions: client.statistics.retransmissions, simulated: clock.now - simulatedStart)
}

let arguments = CommandLine.arguments
let mode = arguments.count > 1 ? arguments[1] : "all"
let mebibytes = arguments.count > 2 ? Int(arguments[2]) ?? 64 : 64
let runs = arguments.count > 3 ? max(Int(arguments[3]) ?? 3, 1) : 3
let modes = mode == "all" ? ["engine", "stack"] : [mode]
for m in modes {
    var rates: [Int64] = []
    for run in 1...runs {
        let r = m == "stack" ? stackRun(bytes: mebibytes << 20) : engineRun(bytes: mebibytes << 20)
        let rate = Int64(r.bytes) * 1000 / max(r.nanoseconds, 1)      // bytes per µs = MB/s
        rates.append(rate)
        let simulatedMs = wallNanoseconds(r.simulated) / 1_000_000
        print("# \(m) run \(run): \(r.bytes) bytes in \(r.nanoseconds / 1_000_000) ms wall (\(rate) MB/s), "
              + "\(simulatedMs) ms simulated; client sent \(r.clientSegments) segments "
              + "(\(r.retransmissions) retransmitted), server sent \(r.serverSegments)")
    }
    rates.sort()
    print("BENCH tcpbench_\(m)_MBps \(rates[rates.count / 2])")
}

/// The Scheduler module (a dependency of TCPStack's socket layer, unused here) expects the runtime to provide its
/// thread system; this program never creates threads or sockets, so the entry point only has to exist.
@_cdecl("unikernel_thread_system")
func benchThreadSystem() -> UnsafeMutableRawPointer {
    fatalError("TCPBench uses no threads")
}
