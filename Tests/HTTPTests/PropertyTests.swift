import Interfaces
import Testing

@testable import HTTP

/// Randomized tests with fixed seeds.
@Suite("Properties: random input never traps; random valid requests match their model")
struct PropertyTests {
    /// Random pieces: a mix of HTTP syntax and arbitrary bytes, so that parsing gets past the request line.
    static let fragments: [[UInt8]] = [
        "GET ", "POST ", "HEAD ", " ", "/", "/a?b=c", " HTTP/1.1", " HTTP/1.0", " HTTP/2.0", "\r\n", "\n", "\r",
        "Host: h\r\n", "Content-Length: ", "Transfer-Encoding: chunked\r\n", "Connection: close\r\n",
        "Expect: 100-continue\r\n", "0", "5", "F", "ffffffff", ";", ":", "\t", "\r\n\r\n", "x", "%00", "chunked",
    ].map { Array($0.utf8) }

    static func randomInput(_ rng: SeededEntropy) -> [UInt8] {
        // Half the inputs start with a valid head prefix, so that random parts reach headers and content.
        var out: [UInt8] = rng.next64() % 2 == 0 ? Array("POST /p HTTP/1.1\r\nHost: h\r\n".utf8) : []
        let parts = Int(rng.next64() % 40)
        for _ in 0..<parts {
            if rng.next64() % 4 == 0 {
                for _ in 0..<(1 + rng.next64() % 6) { out.append(UInt8(truncatingIfNeeded: rng.next64())) }
            } else {
                out += fragments[Int(rng.next64() % UInt64(fragments.count))]
            }
        }
        return out
    }

    static func randomCuts(_ rng: SeededEntropy, count: Int) -> [Int] {
        guard count > 1 else { return [] }
        return (0..<Int(rng.next64() % 6)).map { _ in Int(rng.next64() % UInt64(count)) }.sorted()
    }

    @Test("random bytes never trap the parser, and splitting never changes the result")
    func parserRandomBytes() {
        let rng = SeededEntropy(seed: 1)
        let tiny = HTTPLimits(maxRequestLineLength: 40, maxHeaderCount: 4, maxHeaderBytes: 80, maxBodySize: 20,
                              maxChunkLineLength: 8, maxLeadingEmptyLines: 2)
        var completed = 0
        var failed = 0
        for i in 0..<3000 {
            let input = Self.randomInput(rng)
            let limits = i % 2 == 0 ? HTTPLimits() : tiny
            let whole = parse(input, limits: limits)
            let split = parse(input, cuts: Self.randomCuts(rng, count: input.count), limits: limits)
            #expect(whole == split, "\(input)")
            if case .request = whole { completed += 1 }
            if case .failed = whole { failed += 1 }
            // Purely random bytes too.
            let noise = (0..<Int(rng.next64() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
            #expect(parse(noise, limits: limits) == parse(noise, cuts: Array(0...noise.count), limits: limits))
        }
        #expect(completed > 20 && failed > 1000, "completed \(completed), failed \(failed)")
    }

    @Test("random bytes never trap the connection, which always ends in a defined state")
    func connectionRandomBytes() {
        let rng = SeededEntropy(seed: 2)
        for _ in 0..<1500 {
            let input = Self.randomInput(rng)
            var c = HTTPServerConnection(
                configuration: HTTPServerConfiguration(limits: HTTPLimits(maxBodySize: 64), receiveBufferSize: 7))
            var cuts = Self.randomCuts(rng, count: input.count)
            cuts.append(input.count)
            var start = 0
            var closed = false
            var output: [UInt8] = []
            var headIndexes: Set<Int> = []
            var answered = 0
            for end in cuts where !closed {
                input[start..<end].withUnsafeBytes { c.receive($0) }
                start = end
                events: while true {
                    switch c.nextEvent() {
                    case .request(let r):
                        if r.isHead { headIndexes.insert(answered) }
                        answered += 1
                        if r.method == .post {
                            c.beginStreamingResponse(HTTPResponse())
                            r.body.withUnsafeBytes { c.sendBodyChunk($0) }
                            c.finishStreamingResponse()
                        } else {
                            c.respond(HTTPResponse(body: .bytes(Array(r.target))))
                        }
                    case .needMoreInput: break events
                    case .close: closed = true; break events
                    }
                }
                output += c.pendingOutput
                c.consumeOutput(c.pendingOutputCount)
            }
            if !closed {
                c.receiveEndOfStream()
                #expect(c.nextEvent().isClose)
            }
            #expect(c.isClosing)
            // Whatever happened, the output is a well-formed sequence of responses.
            let responses = parseResponses(output, headRequests: headIndexes)
            #expect(responses != nil, "\(text(output))")
            // One response per request, plus one error response if the connection ended with an error.
            #expect(responses?.filter { $0.status != 100 }.count == answered + (c.error == nil ? 0 : 1))
        }
    }

    /// A random valid request and what parsing it must produce.
    struct Spec {
        var wire: [UInt8] = []
        var method = "GET"
        var path = "/"
        var query: String?
        var version = HTTPVersion.http1_1
        var headers: [String] = []
        var trailers: [String] = []
        var body: [UInt8] = []
        var chunked = false
        var keepAlive = true
    }

    static func randomSpec(_ rng: SeededEntropy) -> Spec {
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next64() % UInt64(a.count))] }
        func word(_ alphabet: String, _ maxLength: Int) -> String {
            let chars = Array(alphabet)
            return String((0..<(1 + Int(rng.next64() % UInt64(maxLength)))).map { _ in pick(chars) })
        }
        var s = Spec()
        let eol = rng.next64() % 5 == 0 ? "\n" : "\r\n"
        s.method = pick(["GET", "POST", "PUT", "DELETE", "PATCH", "X-CUSTOM"])
        s.version = rng.next64() % 4 == 0 ? .http1_0 : .http1_1
        s.path = "/" + word("abcXYZ019-._~%/", 20)
        if rng.next64() % 2 == 0 { s.query = word("a=b&c%20/?", 15) }
        var fields: [(String, String)] = []
        if s.version == .http1_1 { fields.append((pick(["Host", "host", "HOST"]), word("example.com:80", 12))) }
        for i in 0..<Int(rng.next64() % 6) {
            fields.append(("X-\(word("abcdefgh", 6))-\(i)", word("value with spaces,;=\"!#~", 20).trimmingCharacters(in: " ")))
        }
        let bodyLength = Int(rng.next64() % 300)
        s.body = (0..<bodyLength).map { _ in UInt8(truncatingIfNeeded: rng.next64()) }
        s.chunked = s.version == .http1_1 && rng.next64() % 2 == 0
        if s.chunked {
            fields.append((pick(["Transfer-Encoding", "transfer-encoding"]), pick(["chunked", "Chunked"])))
        } else if bodyLength > 0 || rng.next64() % 2 == 0 {
            fields.append(("Content-Length", String(bodyLength)))
        }
        switch rng.next64() % 4 {
        case 0: fields.append(("Connection", "close")); s.keepAlive = false
        case 1: fields.append(("Connection", "keep-alive")); s.keepAlive = true
        default: s.keepAlive = s.version == .http1_1
        }
        var wireHead = s.method + " " + s.path + (s.query.map { "?" + $0 } ?? "") + " " + s.version.description + eol
        for (name, value) in fields {
            let ows = pick(["", " ", "  ", "\t", " \t"])
            wireHead += name + ":" + ows + value + pick(["", " ", "\t"]) + eol
            s.headers.append(name + ": " + value)
        }
        wireHead += eol
        let leading = String(repeating: eol, count: Int(rng.next64() % 3))
        var wire = Array((leading + wireHead).utf8)
        if s.chunked {
            var offset = 0
            while offset < s.body.count {
                let n = min(s.body.count - offset, 1 + Int(rng.next64() % 80))
                let size = String(n, radix: 16, uppercase: rng.next64() % 2 == 0)
                let ext = pick(["", ";a=b", " ; x", ";q=\"v v\""])
                wire += Array((size + ext + eol).utf8) + s.body[offset..<(offset + n)] + Array(eol.utf8)
                offset += n
            }
            wire += Array(("0" + eol).utf8)
            for t in 0..<Int(rng.next64() % 3) {
                let value = word("trailervalue", 10)
                wire += Array(("T-\(t): \(value)" + eol).utf8)
                s.trailers.append("T-\(t): \(value)")
            }
            wire += Array(eol.utf8)
        } else {
            wire += s.body
        }
        s.wire = wire
        return s
    }

    @Test("random valid requests parse to their model, however they are split")
    func randomValidRequests() throws {
        let rng = SeededEntropy(seed: 3)
        for _ in 0..<1500 {
            let spec = Self.randomSpec(rng)
            let outcome = parse(spec.wire, cuts: Self.randomCuts(rng, count: spec.wire.count))
            guard case .request(let r, let consumed) = outcome else {
                Issue.record("\(outcome) for \(text(spec.wire).debugDescription)")
                continue
            }
            #expect(consumed == spec.wire.count)
            #expect(r.method == spec.method)
            #expect(r.path == spec.path)
            #expect(r.query == spec.query)
            #expect(r.version == spec.version)
            #expect(r.headers == spec.headers)
            #expect(r.trailers == spec.trailers)
            #expect(r.body == spec.body)
            #expect(r.isChunked == spec.chunked)
            #expect(r.keepAlive == spec.keepAlive)
        }
    }

    @Test("pipelined random requests through the serve loop are answered in order")
    func randomPipelines() throws {
        let rng = SeededEntropy(seed: 4)
        for _ in 0..<200 {
            var specs: [Spec] = []
            var stream: [UInt8] = []
            for _ in 0..<(1 + Int(rng.next64() % 6)) {
                var spec = Self.randomSpec(rng)
                while !spec.keepAlive { spec = Self.randomSpec(rng) }
                specs.append(spec)
                stream += spec.wire
            }
            var reads: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let n = min(stream.count - offset, 1 + Int(rng.next64() % 200))
                reads.append(Array(stream[offset..<(offset + n)]))
                offset += n
            }
            let t = MemoryTransport(reads)
            let outcome = serve(connection: t, configuration: HTTPServerConfiguration(receiveBufferSize: 64)) { r in
                HTTPResponse(body: .bytes(Array(r.methodBytes) + [0x20] + Array(r.path) + [0x20] + r.body))
            }
            #expect(outcome == HTTPServeOutcome(end: .peerClosed, requestsServed: specs.count))
            let responses = try #require(parseResponses(t.written))
            #expect(responses.map(\.body) == specs.map { Array(($0.method + " " + $0.path + " ").utf8) + $0.body })
        }
    }

    @Test("mutated valid requests: never trap, and the result does not depend on the split")
    func mutations() {
        let rng = SeededEntropy(seed: 5)
        for _ in 0..<2000 {
            var wire = Self.randomSpec(rng).wire
            for _ in 0..<(1 + Int(rng.next64() % 4)) where !wire.isEmpty {
                let at = Int(rng.next64() % UInt64(wire.count))
                switch rng.next64() % 3 {
                case 0: wire[at] = UInt8(truncatingIfNeeded: rng.next64())
                case 1: wire.remove(at: at)
                default: wire.insert(Self.fragments[Int(rng.next64() % UInt64(Self.fragments.count))][0], at: at)
                }
            }
            let whole = parse(wire)
            #expect(whole == parse(wire, cuts: Self.randomCuts(rng, count: wire.count)))
            #expect(whole == parse(wire, cuts: Array(0...wire.count)))
        }
    }
}
