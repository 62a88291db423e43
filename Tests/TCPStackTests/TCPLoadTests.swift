import Foundation
import Interfaces
import Testing
@testable import TCPStack

/// Resident memory of this process in bytes (Linux /proc/self/statm), or nil where unavailable.
func residentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * 4096
}

/// Injects SYNs from random sources straight into an engine, reusing one buffer (no per-SYN allocation in the
/// test itself), and counts the answers.
final class SynFlooder {
    private var segment = [UInt8](repeating: 0, count: 40)
    private let random: TestRandom
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    var synAcks = 0
    var other = 0
    lazy var send: IPv4Send = { [unowned self] _, _, length, fill in
        guard length <= 2048 else { return false }
        fill(UnsafeMutableRawBufferPointer(rebasing: self.output[0..<length]))
        if self.output[13] == TCPFlags([.syn, .ack]).rawValue { self.synAcks += 1 } else { self.other += 1 }
        return true
    }

    init(seed: UInt64) { random = TestRandom(seed: seed) }
    deinit { output.deallocate() }

    /// Sends `count` SYNs to `destination:port`, each from a random 172.16/12 address and port with a random
    /// ISN and Linux-like options.
    func flood(_ engine: TCPEngine, count: Int, destination: IPv4Address, port: UInt16, now: Instant) {
        var options = TCPOptions()
        options.maximumSegmentSize = 1460
        options.sackPermitted = true
        options.windowScale = 7
        for _ in 0..<count {
            let source = IPv4Address(0xAC10_0000 | UInt32(truncatingIfNeeded: random.below(1 << 20)) | 1)
            options.timestamp = TCPTimestampOption(value: UInt32(truncatingIfNeeded: random.next()), echoReply: 0)
            let header = TCPHeader(sourcePort: UInt16(1024 + random.below(60000)), destinationPort: port,
                                   sequenceNumber: TCPSeqNumber(UInt32(truncatingIfNeeded: random.next())),
                                   flags: .syn, window: 64240, options: options)
            segment.withUnsafeMutableBytes { buffer in
                header.emit(into: buffer)
                TCPHeader.fillChecksum(buffer, source: source, destination: destination)
                engine.receive(UnsafeRawBufferPointer(buffer), source: source, destination: destination, now: now,
                               send: send)
            }
        }
    }
}

/// Runs one short request/response exchange between a client engine and a listener on the server engine.
/// Returns whether it completed with the expected bytes on both sides.
func exchange(network: NetworkSimulator, client: TCPEngine, server: TCPEngine, listener: TCPListenerHandle,
              request: [UInt8], response: [UInt8], during: () -> Void = {}) -> Bool {
    guard let c = try? client.connect(to: testHostB, port: 80, now: network.now) else { return false }
    var s: TCPConnectionHandle?
    var gotRequest: [UInt8] = []
    var gotResponse: [UInt8] = []
    var requestSent = false
    var responseSent = false
    var clientEOF = false
    var serverEOF = false
    var clientClosed = false
    var serverClosed = false
    let ok = network.run(timeLimit: .seconds(120), step: {
        during()
        if s == nil { s = try? server.accept(listener) }
        if !requestSent, client.readiness(of: c).contains(.connected) {
            requestSent = (try? client.send(c, request)) == request.count
            try? client.shutdown(c)
        }
        if let s, !serverEOF { serverEOF = (try? drain(server, s, into: &gotRequest)) ?? false }
        if let s, serverEOF, !responseSent {
            responseSent = (try? server.send(s, response)) == response.count
            try? server.close(s)
            serverClosed = true
        }
        if !clientEOF { clientEOF = (try? drain(client, c, into: &gotResponse)) ?? false }
        if clientEOF && !clientClosed {
            try? client.close(c)
            clientClosed = true
        }
    }, until: { clientClosed && serverClosed })
    return ok && gotRequest == request && gotResponse == response
}

@Suite("TCP under load: SYN floods and connection churn")
struct TCPLoadTests {
    static func makePair(seed: UInt64, configure: (inout TCPConfiguration) -> Void = { _ in })
        -> (NetworkSimulator, TCPEngine, TCPEngine) {
        var profile = NetworkSimulator.LinkProfile()
        profile.delay = .milliseconds(2)
        let network = NetworkSimulator(profile: profile, seed: seed)
        var config = TCPConfiguration()
        configure(&config)
        let client = TCPEngine(localAddress: testHostA, configuration: config, entropy: SeededEntropy(seed: seed))
        let server = TCPEngine(localAddress: testHostB, configuration: config, entropy: SeededEntropy(seed: seed + 1))
        network.attach(client, at: testHostA)
        network.attach(server, at: testHostB)
        return (network, client, server)
    }

    @Test("100,000 SYNs from random sources: memory stays bounded, SYN cookies answer, a real client still connects")
    func synFloodWithCookies() throws {
        let (network, client, server) = Self.makePair(seed: 11)
        let listener = try server.listen(port: 80, backlog: 16)
        let flooder = SynFlooder(seed: 12)
        flooder.flood(server, count: 1000, destination: testHostB, port: 80, now: network.now)   // warm up
        let residentBefore = residentBytes()
        flooder.flood(server, count: 99_000, destination: testHostB, port: 80, now: network.now)
        // Past the SYN queue, SYNs cost no memory: resident memory stays flat over 99,000 more of them (a
        // single kilobyte kept per SYN would add about 100 MB).
        if let before = residentBefore, let after = residentBytes() { #expect(after - before < 8 << 20) }
        #expect(server.pendingEvents == 0)
        let limit = server.configuration.synQueueLimit
        #expect(server.connectionCount == limit)
        #expect(try server.halfOpenCount(of: listener) == limit)
        #expect(server.slotCapacity == limit)
        #expect(flooder.synAcks == 100_000)              // every SYN answered: queue first, then cookies
        #expect(server.statistics.synCookiesSent == 100_000 - limit)
        // A real client connects while the flood goes on (a burst of 100 more SYNs at every step).
        let request = patternBytes(count: 3000, seed: 1)
        let response = patternBytes(count: 50_000, seed: 2)
        let ok = exchange(network: network, client: client, server: server, listener: listener, request: request,
                          response: response, during: {
                              flooder.flood(server, count: 100, destination: testHostB, port: 80, now: network.now)
                          })
        #expect(ok)
        #expect(server.statistics.synCookiesAccepted == 1)
        #expect(server.connectionCount <= limit + 1)
        // The cookie preserved window scaling and SACK through the timestamp echo.
        // The flood's half-open entries give up after their SYN-ACK retries; nothing is left behind.
        network.run(timeLimit: .seconds(600), until: { server.connectionCount == 0 && client.connectionCount == 0 })
        #expect(server.connectionCount == 0)
        #expect(server.demultiplexEntries == 0)
        #expect(try server.halfOpenCount(of: listener) == 0)
        #expect(server.nextDeadline == nil)
    }

    @Test("connections created from SYN cookies keep window scaling and SACK (timestamps carry them)")
    func cookieConnectionOptions() throws {
        let (network, client, server) = Self.makePair(seed: 21, configure: { $0.synQueueLimit = 1 })
        let listener = try server.listen(port: 80, backlog: 16)
        let flooder = SynFlooder(seed: 22)
        flooder.flood(server, count: 5, destination: testHostB, port: 80, now: network.now)
        let c = try client.connect(to: testHostB, port: 80, now: network.now)
        var s: TCPConnectionHandle?
        network.run(timeLimit: .seconds(5), step: { if s == nil { s = try? server.accept(listener) } },
                    until: { s != nil })
        let accepted = try #require(s)
        #expect(server.statistics.synCookiesAccepted == 1)
        let info = try server.info(of: accepted)
        #expect(info.windowScaling && info.sendWindowShift == 1 && info.receiveWindowShift == 1)
        #expect(info.selectiveAcknowledgments && info.timestamps)
        #expect(info.sendMSS == 1460)
        // And it carries data correctly both ways.
        let payload = patternBytes(count: 200_000, seed: 3)
        var sent = 0
        var got: [UInt8] = []
        network.run(timeLimit: .seconds(30), step: {
            while sent < payload.count {
                let n = payload[sent..<min(sent + 8192, payload.count)].withUnsafeBytes { (try? client.send(c, $0)) ?? 0 }
                if n == 0 { break }
                sent += n
            }
            _ = try? drain(server, accepted, into: &got)
        }, until: { got.count == payload.count })
        #expect(got == payload)
    }

    @Test("without cookies a flood evicts the oldest half-open entries; memory stays bounded and a client connects")
    func synFloodWithEviction() throws {
        let (network, client, server) = Self.makePair(seed: 31, configure: { $0.synCookies = false })
        let listener = try server.listen(port: 80, backlog: 16)
        let flooder = SynFlooder(seed: 32)
        flooder.flood(server, count: 100_000, destination: testHostB, port: 80, now: network.now)
        let limit = server.configuration.synQueueLimit
        #expect(server.connectionCount == limit)
        #expect(server.slotCapacity <= limit + 1)
        #expect(server.statistics.synQueueEvictions == 100_000 - limit)
        #expect(server.statistics.synCookiesSent == 0)
        let ok = exchange(network: network, client: client, server: server, listener: listener,
                          request: [1, 2, 3], response: [4, 5, 6])
        #expect(ok)
        #expect(server.connectionCount <= limit)
    }

    @Test("3,000 sequential connections leave no state behind")
    func connectionChurn() throws {
        let (network, client, server) = Self.makePair(seed: 41, configure: { $0.timeWaitDuration = .seconds(30) })
        let listener = try server.listen(port: 80, backlog: 16)
        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        let response = patternBytes(count: 2000, seed: 4)
        var completed = 0
        var peakConnections = 0
        for _ in 0..<3000 {
            if exchange(network: network, client: client, server: server, listener: listener, request: request,
                        response: response) { completed += 1 }
            peakConnections = max(peakConnections, client.connectionCount + server.connectionCount)
        }
        #expect(completed == 3000)
        // TIME-WAIT lingers on the side that closed first (the server here) for 30 s, then everything is gone.
        network.run(timeLimit: .seconds(60), until: { server.connectionCount == 0 && client.connectionCount == 0 })
        for engine in [client, server] {
            #expect(engine.connectionCount == 0)
            #expect(engine.demultiplexEntries == 0)
            #expect(engine.nextDeadline == nil)
            #expect(engine.pendingEvents == 0 || engine.nextEvent() != nil)
        }
        #expect(try server.halfOpenCount(of: listener) == 0)
        // Slots are reused: never more than the peak number of simultaneous connections (TIME-WAIT included).
        #expect(server.slotCapacity + client.slotCapacity <= peakConnections + 2)
        #expect(peakConnections < 400)
        #expect(client.statistics.resetsSent == 0 && server.statistics.resetsSent == 0)
    }

    @Test("a full connection table makes room by ending the oldest TIME-WAIT connection early")
    func timeWaitEviction() throws {
        let (network, client, server) = Self.makePair(seed: 51, configure: { $0.maximumConnections = 8 })
        let listener = try server.listen(port: 80, backlog: 4)
        var completed = 0
        for _ in 0..<60 {
            if exchange(network: network, client: client, server: server, listener: listener,
                        request: [1, 2, 3], response: [4, 5, 6]) { completed += 1 }
            #expect(client.connectionCount <= 8 && server.connectionCount <= 8)
        }
        #expect(completed == 60)
        #expect(client.statistics.timeWaitEvictions > 0)   // the client closes first and holds TIME-WAIT
        #expect(client.slotCapacity <= 8)
    }
}
