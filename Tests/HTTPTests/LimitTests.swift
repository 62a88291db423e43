import Testing

@testable import HTTP

/// Every limit exactly at its boundary (accepted) and one past it (refused with its status), each checked at
/// every split position.
@Suite("Limits at and one past the boundary")
struct LimitTests {
    /// A request line of exactly `length` bytes (excluding CRLF).
    static func requestLine(length: Int) -> String {
        let fixed = "GET / HTTP/1.1".utf8.count
        return "GET /" + String(repeating: "a", count: length - fixed) + " HTTP/1.1"
    }

    @Test("request-line length", arguments: [30, 64, 200])
    func requestLineLength(limit: Int) {
        let limits = HTTPLimits(maxRequestLineLength: limit)
        let at = bytes(Self.requestLine(length: limit) + "\r\nHost: h\r\n\r\n")
        #expect(parseAllSplits(at, limits: limits).request != nil)
        let past = bytes(Self.requestLine(length: limit + 1) + "\r\nHost: h\r\n\r\n")
        #expect(parseAllSplits(past, limits: limits) == .failed(.requestLineTooLong))
        #expect(parseAllSplits(past, limits: limits).status == 414)
        // Refused before the line ends: memory stays bounded however long the line grows.
        let unterminated = bytes(Self.requestLine(length: limit + 1))
        #expect(parse(unterminated, limits: limits) == .failed(.requestLineTooLong))
        // A CR at the boundary is the first half of CRLF, not an extra byte.
        #expect(parse(bytes(Self.requestLine(length: limit) + "\r"), limits: limits) == .incomplete)
    }

    @Test("header field count (Host included)", arguments: [1, 2, 10])
    func headerCount(limit: Int) {
        let limits = HTTPLimits(maxHeaderCount: limit)
        func request(_ fields: Int) -> [UInt8] {
            var s = "GET / HTTP/1.1\r\nHost: h\r\n"
            for i in 1..<fields { s += "X-\(i): v\r\n" }
            return bytes(s + "\r\n")
        }
        #expect(parseAllSplits(request(limit), limits: limits).request?.headers.count == limit)
        #expect(parseAllSplits(request(limit + 1), limits: limits) == .failed(.tooManyHeaderFields))
        #expect(parse(request(limit + 1), limits: limits).status == 431)
    }

    @Test("header section bytes, CRLF and bare LF lines", arguments: [false, true])
    func headerBytes(bareLF: Bool) {
        let eol = bareLF ? "\n" : "\r\n"
        // "Host: h" + EOL, then one padding field sized to fill the budget exactly.
        let hostLine = "Host: h" + eol
        let limit = 100
        func request(total: Int) -> [UInt8] {
            let padLength = total - hostLine.utf8.count - "X: ".utf8.count - eol.utf8.count
            return bytes("GET / HTTP/1.1" + eol + hostLine + "X: " + String(repeating: "p", count: padLength) + eol + eol)
        }
        let limits = HTTPLimits(maxHeaderBytes: limit)
        #expect(parseAllSplits(request(total: limit), limits: limits).request != nil)
        #expect(parseAllSplits(request(total: limit + 1), limits: limits) == .failed(.headerSectionTooLarge))
        #expect(parse(request(total: limit + 1), limits: limits).status == 431)
    }

    @Test("a header line that never ends is refused once it exceeds the budget")
    func unterminatedHeader() {
        let limits = HTTPLimits(maxHeaderBytes: 50)
        let raw = bytes("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "z", count: 100))
        #expect(parse(raw, limits: limits) == .failed(.headerSectionTooLarge))
        #expect(parse(raw, cuts: Array(0...raw.count), limits: limits) == .failed(.headerSectionTooLarge))
    }

    @Test("one huge read without a line end never grows the head beyond its limit")
    func boundedMemory() {
        let junk = [UInt8](repeating: 0x61, count: 1 << 20)
        var parser = HTTPRequestParser(limits: HTTPLimits(maxRequestLineLength: 100, maxHeaderBytes: 200))
        let step = junk.withUnsafeBytes { parser.parse($0) }
        #expect(step.result == .failed(.requestLineTooLong))
        #expect(parser.request.head.count <= 102)

        var headers = HTTPRequestParser(limits: HTTPLimits(maxRequestLineLength: 100, maxHeaderBytes: 200))
        let raw = bytes("GET / HTTP/1.1\r\nHost: h\r\nX: ") + junk
        let step2 = raw.withUnsafeBytes { headers.parse($0) }
        #expect(step2.result == .failed(.headerSectionTooLarge))
        #expect(headers.request.head.count <= 14 + 200 + 2)

        var unlimited = HTTPRequestParser(limits: HTTPLimits(maxRequestLineLength: .max, maxHeaderBytes: .max))
        #expect(parseAllSplits(bytes("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), limits: unlimited.limits).request != nil)
        #expect(junk.withUnsafeBytes { unlimited.parse($0) }.result == .needMoreInput)
    }

    @Test("trailer fields share the header budgets")
    func trailerBudget() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
        // Host (9) + Transfer-Encoding (28) = 37 bytes of headers; one trailer "T: 12345\r\n" is 10 bytes.
        let raw = bytes(head + "T: 12345\r\n\r\n")
        #expect(parseAllSplits(raw, limits: HTTPLimits(maxHeaderBytes: 47)).request?.trailers == ["T: 12345"])
        #expect(parseAllSplits(raw, limits: HTTPLimits(maxHeaderBytes: 46)) == .failed(.headerSectionTooLarge))
        #expect(parseAllSplits(raw, limits: HTTPLimits(maxHeaderCount: 3)).request != nil)
        #expect(parseAllSplits(raw, limits: HTTPLimits(maxHeaderCount: 2)) == .failed(.tooManyHeaderFields))
    }

    @Test("Content-Length body size", arguments: [0, 1, 100])
    func contentLengthBody(limit: Int) {
        let limits = HTTPLimits(maxBodySize: limit)
        func request(_ n: Int) -> [UInt8] {
            bytes("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: \(n)\r\n\r\n" + String(repeating: "b", count: n))
        }
        #expect(parseAllSplits(request(limit), limits: limits).request?.body.count == limit)
        // Refused from the header alone, before any content arrives.
        #expect(parseAllSplits(request(limit + 1), limits: limits) == .failed(.bodyTooLarge))
        #expect(parse(request(limit + 1), limits: limits).status == 413)
    }

    @Test("chunked body size, counted over all chunks", arguments: [1, 16, 100])
    func chunkedBody(limit: Int) {
        let limits = HTTPLimits(maxBodySize: limit)
        func request(_ n: Int) -> [UInt8] {
            var s = "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            var left = n
            var size = 1
            while left > 0 {
                let c = min(size, left)
                s += String(c, radix: 16) + "\r\n" + String(repeating: "c", count: c) + "\r\n"
                left -= c
                size += 2
            }
            return bytes(s + "0\r\n\r\n")
        }
        #expect(parseAllSplits(request(limit), limits: limits).request?.body.count == limit)
        #expect(parseAllSplits(request(limit + 1), limits: limits) == .failed(.bodyTooLarge))
    }

    @Test("chunk-size line length (size digits and extensions)")
    func chunkLine() {
        let limits = HTTPLimits(maxChunkLineLength: 10)
        func request(_ line: String) -> [UInt8] {
            bytes("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\(line)\r\nz\r\n0\r\n\r\n")
        }
        #expect(parseAllSplits(request("1;abcdefgh"), limits: limits).request?.body == bytes("z"))
        #expect(parseAllSplits(request("1;abcdefghi"), limits: limits) == .failed(.chunkLineTooLong))
        #expect(parseAllSplits(request("0000000001"), limits: limits).request?.body == bytes("z"))
        #expect(parseAllSplits(request("00000000001"), limits: limits) == .failed(.chunkLineTooLong))
    }

    @Test("empty lines before the request line")
    func leadingEmptyLines() {
        let limits = HTTPLimits(maxLeadingEmptyLines: 3)
        let ok = bytes(String(repeating: "\r\n", count: 3) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(parseAllSplits(ok, limits: limits).request != nil)
        let bad = bytes(String(repeating: "\r\n", count: 4) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(parseAllSplits(bad, limits: limits) == .failed(.tooManyEmptyLines))
    }

    @Test("huge configured limits cannot make size arithmetic overflow")
    func hugeLimits() {
        let limits = HTTPLimits(maxBodySize: .max)
        let raw = bytes("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n")
        #expect(parse(raw, limits: limits) == .failed(.bodyTooLarge))
        let cl = bytes("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999999999999\r\n\r\n")
        #expect(parse(cl, limits: limits) == .failed(.bodyTooLarge))
    }
}
