import Interfaces
import Testing
@testable import TCPStack

/// Which congestion control a simulated transfer uses.
enum CongestionChoice: String, CaseIterable, Sendable, CustomStringConvertible {
    case newReno, cubic
    var factory: TCPCongestionControlFactory { self == .newReno ? .newReno : .cubic }
    var description: String { rawValue }
}

/// The outcome of one simulated bulk transfer.
struct TransferReport {
    var completed: Bool
    var received: [UInt8]
    var expected: [UInt8]
    var simulatedTime: Duration
    var clientInfo: TCPConnectionInfo?
    var client: TCPEngine
    var server: TCPEngine
    var network: NetworkSimulator
}

/// Sends `size` bytes from a client engine to a server engine across the simulated network, then closes both
/// sides, and reports what arrived.
func simulateTransfer(size: Int, profile: NetworkSimulator.LinkProfile, congestion: CongestionChoice, seed: UInt64,
                      configure: (inout TCPConfiguration) -> Void = { _ in },
                      timeLimit: Duration = .seconds(900)) -> TransferReport {
    let network = NetworkSimulator(profile: profile, seed: seed)
    var config = TCPConfiguration(congestionControl: congestion.factory)
    config.minimumRTO = .milliseconds(200)
    config.maximumRetransmissions = 30
    configure(&config)
    let client = TCPEngine(localAddress: testHostA, configuration: config, entropy: SeededEntropy(seed: seed &+ 1))
    let server = TCPEngine(localAddress: testHostB, configuration: config, entropy: SeededEntropy(seed: seed &+ 2))
    network.attach(client, at: testHostA)
    network.attach(server, at: testHostB)
    let data = patternBytes(count: size, seed: seed)
    var received: [UInt8] = []
    received.reserveCapacity(size)
    let start = network.now
    var report = TransferReport(completed: false, received: [], expected: data, simulatedTime: .zero,
                                clientInfo: nil, client: client, server: server, network: network)
    guard let listener = try? server.listen(port: 80, backlog: 4),
          let connection = try? client.connect(to: testHostB, port: 80, now: network.now) else {
        Issue.record("setup failed")
        return report
    }
    var serverSide: TCPConnectionHandle?
    var sent = 0
    var shutDown = false
    var endOfStream = false
    var serverClosed = false
    var failure: TCPError?
    let done = network.run(timeLimit: timeLimit, step: {
        if serverSide == nil { serverSide = try? server.accept(listener) }
        while sent < data.count {
            let n = data[sent..<min(sent + 16384, data.count)].withUnsafeBytes { raw -> Int in
                (try? client.send(connection, raw)) ?? 0
            }
            if n == 0 { break }
            sent += n
        }
        if sent == data.count && !shutDown {
            try? client.shutdown(connection)
            shutDown = true
        }
        if let s = serverSide, !endOfStream {
            do throws(TCPError) {
                endOfStream = try drain(server, s, into: &received)
            } catch {
                failure = error
            }
        }
        if endOfStream && !serverClosed, let s = serverSide {
            report.clientInfo = try? client.info(of: connection)
            try? server.close(s)
            serverClosed = true
        }
    }, until: {
        // Done when the server has everything and the client saw the close complete (TIME-WAIT or CLOSED).
        guard endOfStream && serverClosed, let state = try? client.state(of: connection) else { return failure != nil }
        return (state == .timeWait || state == .closed) && server.connectionCount == 0
    })
    if let failure { Issue.record("server-side receive failed: \(failure)") }
    report.completed = done && failure == nil
    report.received = received
    report.simulatedTime = network.now - start
    try? client.close(connection)
    return report
}

@Suite("TCP bulk transfers over a simulated lossy network")
struct TCPTransferTests {
    static let megabyte = 1 << 20

    /// A 40 Mbit/s, 10 ms path with jitter, 2 % reordering and 1 % duplication, plus the given random loss.
    static func lossyPath(loss: Double) -> NetworkSimulator.LinkProfile {
        var p = NetworkSimulator.LinkProfile()
        p.delay = .milliseconds(5)
        p.jitter = .milliseconds(2)
        p.loss = loss
        p.duplication = 0.01
        p.reordering = 0.02
        p.reorderDelay = .milliseconds(4)
        p.bytesPerSecond = 5_000_000
        p.queueLimit = 200
        return p
    }

    @Test("1 MiB arrives byte-exact at 0, 1, 5 and 10 % loss, with NewReno and with CUBIC",
          arguments: [0.0, 0.01, 0.05, 0.10], CongestionChoice.allCases)
    func lossyMegabyte(loss: Double, congestion: CongestionChoice) {
        let report = simulateTransfer(size: Self.megabyte, profile: Self.lossyPath(loss: loss), congestion: congestion,
                                      seed: UInt64(loss * 1000) &+ (congestion == .cubic ? 17 : 3))
        #expect(report.completed)
        #expect(report.received.count == report.expected.count)
        #expect(report.received == report.expected)
        let info = report.clientInfo
        print("lossy transfer \(congestion) at \(Int(loss * 100)) % loss: \(report.simulatedTime) simulated, "
              + "\(info?.retransmissions ?? 0) retransmissions, \(info?.timeouts ?? 0) timeouts, "
              + "\(info?.tailLossProbes ?? 0) loss probes, \(info?.rackLosses ?? 0) RACK losses")
        #expect(info?.congestionControl == (congestion == .cubic ? "cubic" : "newreno"))
        #expect(info?.selectiveAcknowledgments == true && info?.timestamps == true)
        if loss > 0 {
            #expect((info?.retransmissions ?? 0) > 0)
            #expect((info?.fastRecoveries ?? 0) > 0)      // SACK-based recovery repaired losses without a timeout
        }
        // Everything is cleaned up except the client's TIME-WAIT.
        #expect(report.server.connectionCount == 0)
        #expect(report.client.connectionCount <= 1)
    }

    @Test("without SACK and timestamps (NewReno partial ACKs, Karn's rule) 1 MiB still arrives at 5 % loss",
          arguments: CongestionChoice.allCases)
    func lossyWithoutSack(congestion: CongestionChoice) {
        let report = simulateTransfer(size: Self.megabyte, profile: Self.lossyPath(loss: 0.05), congestion: congestion,
                                      seed: 4242, configure: {
                                          $0.selectiveAcknowledgments = false
                                          $0.timestamps = false
                                      })
        #expect(report.completed)
        #expect(report.received == report.expected)
        #expect(report.clientInfo?.selectiveAcknowledgments == false)
        #expect(report.clientInfo?.timestamps == false)
        #expect((report.clientInfo?.fastRecoveries ?? 0) > 0)
    }

    @Test("a drop-tail bottleneck with large windows: congestion control backs off and the data arrives",
          arguments: CongestionChoice.allCases)
    func congestedBottleneck(congestion: CongestionChoice) {
        var profile = NetworkSimulator.LinkProfile()
        profile.delay = .milliseconds(20)
        profile.bytesPerSecond = 1_250_000          // 10 Mbit/s
        profile.queueLimit = 30
        let report = simulateTransfer(size: 2 * Self.megabyte, profile: profile, congestion: congestion, seed: 77,
                                      configure: {
                                          $0.sendBufferSize = 512 * 1024
                                          $0.receiveBufferSize = 512 * 1024
                                      })
        #expect(report.completed)
        #expect(report.received == report.expected)
        #expect(report.network.dropped > 0)                      // the queue overflowed ...
        #expect((report.clientInfo?.fastRecoveries ?? 0) > 0)    // ... and the sender reacted
        let info = report.clientInfo
        #expect((info?.windowScaling ?? false) && (info?.receiveWindowShift ?? 0) == 4)
        // At 10 Mbit/s, 2 MiB takes at least 1.7 s; efficient recovery keeps it within a small multiple.
        #expect(report.simulatedTime < .seconds(12))
    }

    @Test("RACK-TLP against RFC 6675 alone over the same lossy path: both deliver; durations are printed",
          arguments: CongestionChoice.allCases)
    func rackTLPComparison(congestion: CongestionChoice) {
        for loss in [0.02, 0.05] {
            var line = "\(congestion) at \(Int(loss * 100)) % loss:"
            for rack in [false, true] {
                let report = simulateTransfer(size: Self.megabyte, profile: Self.lossyPath(loss: loss),
                                              congestion: congestion, seed: 808, configure: { $0.rackTLP = rack })
                #expect(report.completed)
                #expect(report.received == report.expected)
                let info = report.clientInfo
                line += (rack ? " RACK-TLP " : " RFC 6675 only ") + "\(report.simulatedTime) "
                    + "(\(info?.timeouts ?? 0) timeouts, \(info?.retransmissions ?? 0) retransmissions);"
            }
            print(line)
        }
    }

    @Test("both directions at once at 5 % loss: each side's data arrives byte-exact")
    func bidirectional() {
        let network = NetworkSimulator(profile: Self.lossyPath(loss: 0.05), seed: 9)
        var config = TCPConfiguration()
        config.minimumRTO = .milliseconds(200)
        config.maximumRetransmissions = 30
        let a = TCPEngine(localAddress: testHostA, configuration: config, entropy: SeededEntropy(seed: 1))
        let b = TCPEngine(localAddress: testHostB, configuration: config, entropy: SeededEntropy(seed: 2))
        network.attach(a, at: testHostA)
        network.attach(b, at: testHostB)
        let listener = try! b.listen(port: 7, backlog: 1)
        let ca = try! a.connect(to: testHostB, port: 7, now: network.now)
        var cb: TCPConnectionHandle?
        let fromA = patternBytes(count: 300_000, seed: 1)
        let fromB = patternBytes(count: 200_000, seed: 2)
        var sentA = 0, sentB = 0
        var gotA: [UInt8] = [], gotB: [UInt8] = []
        var eofA = false, eofB = false
        var shutA = false, shutB = false
        let ok = network.run(timeLimit: .seconds(600), step: {
            if cb == nil { cb = try? b.accept(listener) }
            func push(_ engine: TCPEngine, _ h: TCPConnectionHandle, _ data: [UInt8], _ sent: inout Int,
                      _ shut: inout Bool) {
                while sent < data.count {
                    let n = data[sent..<min(sent + 8192, data.count)].withUnsafeBytes { (try? engine.send(h, $0)) ?? 0 }
                    if n == 0 { break }
                    sent += n
                }
                if sent == data.count && !shut {
                    try? engine.shutdown(h)
                    shut = true
                }
            }
            push(a, ca, fromA, &sentA, &shutA)
            eofA = (try? drain(a, ca, into: &gotA)) ?? false || eofA
            if let cb {
                push(b, cb, fromB, &sentB, &shutB)
                eofB = (try? drain(b, cb, into: &gotB)) ?? false || eofB
            }
        }, until: {
            guard eofA && eofB, let sa = try? a.state(of: ca), let cb, let sb = try? b.state(of: cb) else { return false }
            let finished: [TCPState] = [.timeWait, .closed]
            return finished.contains(sa) && finished.contains(sb)
        })
        #expect(ok)
        #expect(gotB == fromA)
        #expect(gotA == fromB)
        // Both sent FIN after their data and both saw the other's: at least one side holds TIME-WAIT.
        let states = [try? a.state(of: ca), cb.flatMap { try? b.state(of: $0) }]
        #expect(states.contains(.timeWait))
    }

    @Test("heavy reordering keeps the out-of-order store within its range limit and still delivers")
    func boundedReassembly() {
        var profile = Self.lossyPath(loss: 0.02)
        profile.reordering = 0.3
        profile.reorderDelay = .milliseconds(15)
        let report = simulateTransfer(size: 512 * 1024, profile: profile, congestion: .cubic, seed: 31,
                                      configure: { $0.maximumOutOfOrderRanges = 4 })
        #expect(report.completed)
        #expect(report.received == report.expected)
    }

    @Test("the same seed gives the same run (determinism of the simulation and the engine)")
    func deterministic() {
        let a = simulateTransfer(size: 200_000, profile: Self.lossyPath(loss: 0.05), congestion: .cubic, seed: 5)
        let b = simulateTransfer(size: 200_000, profile: Self.lossyPath(loss: 0.05), congestion: .cubic, seed: 5)
        #expect(a.completed && b.completed)
        #expect(a.simulatedTime == b.simulatedTime)
        #expect(a.client.statistics == b.client.statistics)
    }
}
