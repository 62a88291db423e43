import Interfaces
import Testing
@testable import TCPStack

private typealias S = NetTestSupport

/// A DNS responder for tests on its own stack, answering on UDP port 53 according to `behaviour`.
private final class TestDNSServer: SimulationNode {
    enum Behaviour {
        /// Answer A queries from `records` (name → addresses), NXDOMAIN for other names.
        case answer
        /// Say nothing.
        case silent
        /// Answer with this RCODE and no records.
        case rcode(UInt8)
        /// First send a reply with a wrong id, then the right one.
        case wrongIDFirst
        /// A reply whose question is for another name, then the right one.
        case wrongQuestionFirst
        /// A reply with the right id whose answer section is cut short.
        case malformed
        /// TC set and no answers.
        case truncated
        /// Answer from port 5353 instead of 53, then correctly.
        case wrongPortFirst
    }

    let stack: NetworkStack<SimulatedDevice>
    let socket: UDPHandle
    let wrongPort: UDPHandle
    let address: IPv4Address
    var behaviour: Behaviour
    var records: [String: [IPv4Address]] = ["example.com": [IPv4Address(93, 184, 216, 34)],
                                            "multi.test": [IPv4Address(10, 0, 0, 1), IPv4Address(10, 0, 0, 2)]]
    private(set) var queries: [(time: Instant, id: UInt16, name: String, sourcePort: UInt16)] = []

    init(network: SimulatedNetwork, address: IPv4Address, mac: MACAddress, behaviour: Behaviour) {
        self.address = address
        self.behaviour = behaviour
        let device = SimulatedDevice(macAddress: mac)
        network.attach(device)
        stack = NetworkStack(device: device, addressing: .static(IPv4InterfaceConfiguration(address: address, prefixLength: 24)),
                             entropy: SeededEntropy(seed: UInt64(address.value)))
        socket = try! stack.udpBind(port: 53)
        wrongPort = try! stack.udpBind(port: 5353)
        network.addNode(self)
    }

    var nextDeadline: Instant? { stack.nextDeadline }

    func poll(now: Instant) {
        stack.poll(now: now)
        while let (info, data) = try! stack.udpReceive(socket) { handle(data, info: info, now: now) }
    }

    private func handle(_ query: [UInt8], info: UDPReceiveInfo, now: Instant) {
        guard let (id, name) = query.withUnsafeBytes({ bytes -> (UInt16, DNSName)? in
            guard let m = try? DNSMessage(validating: bytes), !m.isResponse,
                  let q = try? m.parseResponse().questionName else { return nil }
            return (m.id, q)
        }) else { return }
        queries.append((now, id, name.description, info.sourcePort))
        func send(_ bytes: [UInt8], from socket: UDPHandle? = nil) {
            _ = try? stack.udpSend(socket ?? self.socket, to: info.source, port: info.sourcePort, payload: bytes)
        }
        switch behaviour {
        case .silent: return
        case .answer:
            if let addresses = records[name.description.lowercased()] {
                send(response(id: id, name: name, rcode: 0, addresses: addresses))
            } else {
                send(response(id: id, name: name, rcode: DNSResponseCode.nameError, addresses: []))
            }
        case .rcode(let rcode):
            send(response(id: id, name: name, rcode: rcode, addresses: []))
        case .wrongIDFirst:
            send(response(id: id &+ 1, name: name, rcode: 0, addresses: [IPv4Address(6, 6, 6, 6)]))
            send(response(id: id, name: name, rcode: 0, addresses: records[name.description] ?? []))
        case .wrongQuestionFirst:
            send(response(id: id, name: try! DNSName("evil.test"), rcode: 0, addresses: [IPv4Address(6, 6, 6, 6)]))
            send(response(id: id, name: name, rcode: 0, addresses: records[name.description] ?? []))
        case .wrongPortFirst:
            send(response(id: id, name: name, rcode: 0, addresses: [IPv4Address(6, 6, 6, 6)]), from: wrongPort)
            send(response(id: id, name: name, rcode: 0, addresses: records[name.description] ?? []))
        case .malformed:
            let full = response(id: id, name: name, rcode: 0, addresses: [IPv4Address(1, 2, 3, 4)])
            send(Array(full.dropLast(3)))
        case .truncated:
            var r = response(id: id, name: name, rcode: 0, addresses: [])
            r[2] |= 0x02
            send(r)
        }
    }

    /// A response with the question (uncompressed) and A answers whose names point back at it.
    func response(id: UInt16, name: DNSName, rcode: UInt8, addresses: [IPv4Address]) -> [UInt8] {
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x81, 0x80 | rcode, 0, 1, 0, UInt8(addresses.count), 0, 0, 0, 0]
        out += name.wire + [0, 1, 0, 1]
        for a in addresses {
            out += [0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4]
            out += [UInt8(a.value >> 24), UInt8((a.value >> 16) & 0xFF), UInt8((a.value >> 8) & 0xFF), UInt8(a.value & 0xFF)]
        }
        return out
    }
}

private struct DNSWorld {
    let clock = ManualClock()
    let net: SimulatedNetwork
    let primary: TestDNSServer
    let secondary: TestDNSServer
    let client: NetworkStack<SimulatedDevice>

    init(primary: TestDNSServer.Behaviour, secondary: TestDNSServer.Behaviour = .answer, seed: UInt64 = 77) {
        net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: seed))
        self.primary = TestDNSServer(network: net, address: IPv4Address(10, 9, 0, 53), mac: S.macB, behaviour: primary)
        self.secondary = TestDNSServer(network: net, address: IPv4Address(10, 9, 0, 54), mac: S.macC, behaviour: secondary)
        client = net.addHost(mac: S.macA,
                             addressing: .static(IPv4InterfaceConfiguration(address: IPv4Address(10, 9, 0, 10), prefixLength: 24,
                                                                            dnsServers: [IPv4Address(10, 9, 0, 53), IPv4Address(10, 9, 0, 54)])),
                             entropy: SeededEntropy(seed: seed &+ 1))
        _ = net.run(until: clock.now + .milliseconds(1))
    }

    /// Resolves `name`, running the network until the outcome is known (or 60 s pass).
    func resolve(_ name: String) -> Result<[IPv4Address], DNSError>? {
        let query: DNSQueryHandle
        do { query = try client.resolve(name) } catch { return .failure(error) }
        var outcome: Result<[IPv4Address], DNSError>? = nil
        _ = net.run(until: clock.now + .seconds(60)) {
            do throws(DNSError) {
                if let addresses = try client.resolution(of: query) { outcome = .success(addresses) }
            } catch {
                outcome = .failure(error)
            }
            return outcome != nil
        }
        return outcome
    }
}

@Suite struct DNSClientTests {
    @Test func resolvesARecords() throws {
        let w = DNSWorld(primary: .answer)
        #expect(w.resolve("example.com") == .success([IPv4Address(93, 184, 216, 34)]))
        #expect(w.resolve("MULTI.test.") == .success([IPv4Address(10, 0, 0, 1), IPv4Address(10, 0, 0, 2)]),
                "names compare case-insensitively; a trailing dot is accepted")
        #expect(w.primary.queries.count == 2 && w.secondary.queries.isEmpty)
        #expect(w.primary.queries[0].sourcePort != w.primary.queries[1].sourcePort, "a fresh port per query")
        #expect(w.primary.queries[0].id != w.primary.queries[1].id)
        #expect(w.clock.now < Instant.zero + .milliseconds(100))
    }

    @Test func nxdomain() {
        let w = DNSWorld(primary: .answer)
        #expect(w.resolve("nonexistent.test") == .failure(.nameNotFound))
    }

    @Test func noAddresses() {
        let w = DNSWorld(primary: .rcode(0))
        #expect(w.resolve("example.com") == .failure(.noAddresses))
    }

    @Test func timeoutAfterRetriesAcrossServers() {
        let w = DNSWorld(primary: .silent, secondary: .silent)
        let start = w.clock.now
        #expect(w.resolve("example.com") == .failure(.timedOut))
        // 2 rounds × 2 servers, 2 s each, alternating servers.
        #expect(w.primary.queries.count == 2 && w.secondary.queries.count == 2)
        #expect(w.clock.now - start >= .seconds(8) && w.clock.now - start < .seconds(8) + .milliseconds(10))
        let times = (w.primary.queries.map { $0.time } + w.secondary.queries.map { $0.time }).sorted()
        #expect(times.count == 4)
        #expect(w.primary.queries.map { $0.id }.allSatisfy { $0 == w.primary.queries[0].id }, "retries keep the id")
    }

    @Test func failsOverToSecondServer() {
        let w = DNSWorld(primary: .silent, secondary: .answer)
        #expect(w.resolve("example.com") == .success([IPv4Address(93, 184, 216, 34)]))
        #expect(w.primary.queries.count == 1 && w.secondary.queries.count == 1)
    }

    @Test func serverFailureMovesOnAtOnce() {
        let w = DNSWorld(primary: .rcode(DNSResponseCode.serverFailure), secondary: .answer)
        let start = w.clock.now
        #expect(w.resolve("example.com") == .success([IPv4Address(93, 184, 216, 34)]))
        #expect(w.clock.now - start < .milliseconds(10), "no timeout wait after SERVFAIL")
        let both = DNSWorld(primary: .rcode(DNSResponseCode.refused), secondary: .rcode(DNSResponseCode.refused))
        #expect(both.resolve("example.com") == .failure(.serverFailure(DNSResponseCode.refused)))
    }

    @Test func mismatchedAnswersIgnored() {
        for behaviour in [TestDNSServer.Behaviour.wrongIDFirst, .wrongQuestionFirst, .wrongPortFirst] {
            let w = DNSWorld(primary: behaviour)
            #expect(w.resolve("example.com") == .success([IPv4Address(93, 184, 216, 34)]))
            #expect(w.client.counters.dns.unmatched >= 1 || w.client.counters.udp.noSocket >= 1)
        }
    }

    @Test func malformedAndTruncated() {
        let w = DNSWorld(primary: .malformed)
        #expect(w.resolve("example.com") == .failure(.malformedResponse))
        #expect(w.client.counters.dns.malformed == 1)
        let t = DNSWorld(primary: .truncated)
        #expect(t.resolve("example.com") == .failure(.truncated))
    }

    @Test func apiErrors() throws {
        let w = DNSWorld(primary: .silent)
        #expect(w.resolve("bad..name") == .failure(.invalidName))
        #expect(w.resolve(String(repeating: "a", count: 64) + ".com") == .failure(.invalidName))
        var handles: [DNSQueryHandle] = []
        for _ in 0..<8 { handles.append(try w.client.resolve("example.com")) }
        #expect(throws: DNSError.tooManyQueries) { try w.client.resolve("example.com") }
        w.client.cancel(handles[0])
        #expect(throws: DNSError.invalidHandle) { try w.client.resolution(of: handles[0]) }
        _ = try w.client.resolve("example.com")
        // A finished query's handle is consumed by reading its outcome.
        let done = DNSWorld(primary: .answer)
        let q = try done.client.resolve("example.com")
        _ = done.net.run(until: done.clock.now + .seconds(1)) { (try? done.client.status(of: q)) != .pending }
        #expect(try done.client.resolution(of: q) == [IPv4Address(93, 184, 216, 34)])
        #expect(throws: DNSError.invalidHandle) { try done.client.resolution(of: q) }
        // Without servers.
        let clock = ManualClock()
        let net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: 1))
        let lonely = net.addHost(mac: S.macA, addressing: .static(IPv4InterfaceConfiguration(address: IPv4Address(10, 0, 0, 1), prefixLength: 8)),
                                 entropy: SeededEntropy(seed: 2))
        _ = net.run(until: clock.now + .milliseconds(1))
        #expect(throws: DNSError.noServers) { try lonely.resolve("example.com") }
    }

    @Test func theClientExistsOnlyAfterTheFirstResolveAndQueriesBeforeThatAreInvalid() throws {
        let w = DNSWorld(primary: .answer)
        #expect(w.client.dnsClient == nil && w.client.dnsHooks == nil)
        #expect(w.client.counters.dns == DNSCounters())
        // A handle that no client issued (from another stack) is invalid here, and cancelling it is harmless.
        let other = DNSWorld(primary: .answer)
        let foreign = try other.client.resolve("example.com")
        #expect(throws: DNSError.invalidHandle) { try w.client.resolution(of: foreign) }
        #expect(throws: DNSError.invalidHandle) { try w.client.status(of: foreign) }
        w.client.cancel(foreign)
        #expect(w.client.dnsClient == nil)
        #expect(w.resolve("example.com") == .success([IPv4Address(93, 184, 216, 34)]))
        #expect(w.client.dnsClient != nil && w.client.dnsHooks != nil)
        #expect(w.client.counters.dns != DNSCounters())
    }

    @Test func lateAnswerAfterTakeIsPortUnreachable() throws {
        // Once a query is taken, its port is closed: a late duplicate answer gets port unreachable.
        let w = DNSWorld(primary: .answer)
        #expect(w.resolve("example.com") == .success([IPv4Address(93, 184, 216, 34)]))
        let port = w.primary.queries[0].sourcePort
        let late = w.primary.response(id: w.primary.queries[0].id, name: try DNSName("example.com"), rcode: 0, addresses: [])
        try w.primary.stack.udpSend(w.primary.socket, to: IPv4Address(10, 9, 0, 10), port: port, payload: late)
        _ = w.net.run(until: w.clock.now + .milliseconds(10))
        #expect(w.client.counters.udp.noSocket == 1)
        #expect(w.primary.stack.counters.icmp.errorsReceived == 1)
    }
}
