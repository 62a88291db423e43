import Interfaces
import Testing

@testable import HTTP

@Suite("Request parsing: valid requests")
struct ValidRequestTests {
    @Test("GET with query, several headers, split at every byte")
    func simpleGet() throws {
        let raw = bytes("GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n\r\n")
        let outcome = parseAllSplits(raw)
        guard case .request(let r, let consumed) = outcome else { Issue.record("\(outcome)"); return }
        #expect(consumed == raw.count)
        #expect(r.method == "GET" && r.methodCase == .get)
        #expect(r.target == "/index.html?x=1&y=2")
        #expect(r.path == "/index.html")
        #expect(r.query == "x=1&y=2")
        #expect(r.form == .origin)
        #expect(r.version == .http1_1)
        #expect(r.headers == ["Host: example.com", "User-Agent: test/1.0", "Accept: */*"])
        #expect(r.body.isEmpty && r.contentLength == nil && !r.isChunked)
        #expect(r.keepAlive)
        #expect(!r.expectsContinue)
    }

    @Test("POST with Content-Length delivers the body complete")
    func postWithContentLength() {
        let raw = bytes("POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world")
        let r = parseAllSplits(raw).request
        #expect(r?.method == "POST")
        #expect(r?.methodCase == .post)
        #expect(r?.body == bytes("hello world"))
        #expect(r?.contentLength == 11)
    }

    @Test("chunked body with extensions and trailers")
    func chunkedWithTrailers() {
        let raw = bytes(
            "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\n6 ; a=\"q\";b\r\n world\r\nA\r\n0123456789\r\n"
                + "000;last\r\nChecksum: abc123\r\nX-Trailer:  two \r\n\r\n")
        let outcome = parseAllSplits(raw)
        guard case .request(let r, let consumed) = outcome else { Issue.record("\(outcome)"); return }
        #expect(consumed == raw.count)
        #expect(r.isChunked)
        #expect(text(r.body) == "hello world0123456789")
        #expect(r.trailers == ["Checksum: abc123", "X-Trailer: two"])
        #expect(r.headers == ["Host: h", "Transfer-Encoding: chunked"])
    }

    @Test("Transfer-Encoding is case-insensitive and may span fields with empty list elements")
    func chunkedSpellings() {
        for te in ["Transfer-Encoding: CHUNKED\r\n", "transfer-encoding: ,chunked,\r\n", "TRANSFER-ENCODING:chunked\r\n"] {
            let raw = bytes("PUT /x HTTP/1.1\r\nHost: h\r\n\(te)\r\n3\r\nabc\r\n0\r\n\r\n")
            #expect(parseAllSplits(raw).request?.body == bytes("abc"), "\(te)")
        }
    }

    @Test("HTTP/1.0 without Host; keep-alive only when asked")
    func http10() {
        let plain = parseAllSplits(bytes("GET / HTTP/1.0\r\n\r\n")).request
        #expect(plain?.version == .http1_0)
        #expect(plain?.keepAlive == false)
        let ka = parseAllSplits(bytes("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")).request
        #expect(ka?.keepAlive == true)
        let both = parseAllSplits(bytes("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")).request
        #expect(both?.keepAlive == false)
    }

    @Test("HTTP/1.1 Connection: close in any case, among other options")
    func http11Close() {
        #expect(parse(bytes("GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n")).request?.keepAlive == false)
        #expect(parse(bytes("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n")).request?.keepAlive == false)
        #expect(parse(bytes("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n")).request?.keepAlive == true)
    }

    @Test("a later 1.x minor version is treated as 1.1")
    func http12() {
        let r = parse(bytes("GET / HTTP/1.2\r\nHost: h\r\n\r\n")).request
        #expect(r?.version == HTTPVersion(major: 1, minor: 2))
        #expect(r?.keepAlive == true)
    }

    @Test("absolute-form, asterisk-form and authority-form targets")
    func targetForms() {
        let abs = parseAllSplits(bytes("GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")).request
        #expect(abs?.form == .absolute)
        #expect(abs?.path == "/a/b")
        #expect(abs?.query == "q=1")
        let bare = parse(bytes("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")).request
        #expect(bare?.path == "/")
        #expect(bare?.query == nil)
        let bareQuery = parse(bytes("GET http://example.com?z HTTP/1.1\r\nHost: example.com\r\n\r\n")).request
        #expect(bareQuery?.path == "/")
        #expect(bareQuery?.query == "z")
        let star = parse(bytes("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")).request
        #expect(star?.form == .asterisk)
        #expect(star?.path == "")
        let connect = parse(bytes("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")).request
        #expect(connect?.form == .authority)
        #expect(connect?.methodCase == .connect)
    }

    @Test("bare LF line endings and skipped leading empty lines")
    func lenientLines() {
        let raw = bytes("\r\n\n\r\nGET /lf HTTP/1.1\nHost: h\nContent-Length: 2\n\nhi")
        let outcome = parseAllSplits(raw)
        #expect(outcome.request?.path == "/lf")
        #expect(outcome.request?.body == bytes("hi"))
    }

    @Test("header values: OWS trimmed, inner spaces and obs-text kept, empty values allowed")
    func headerValues() {
        var raw = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-A: \t a  b \t\r\nX-Empty:\r\nX-Bytes: ")
        raw += [0xC3, 0xA9, 0x80, 0xFF]
        raw += bytes("\r\n\r\n")
        let r = parseAllSplits(raw)
        guard case .request(let snapshot, _) = r else { Issue.record("\(r)"); return }
        #expect(snapshot.headers[1] == "X-A: a  b")
        #expect(snapshot.headers[2] == "X-Empty: ")
    }

    @Test("header lookup ignores ASCII case and compares bytes")
    func headerLookup() {
        var parser = HTTPRequestParser()
        let raw = bytes("GET / HTTP/1.1\r\nHOST: h\r\nx-custom: 1\r\nX-Custom: 2\r\n\r\n")
        _ = raw.withUnsafeBytes { parser.parse($0) }
        _ = raw.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[raw.count...])) }
        #expect(parser.isComplete)
        let h = parser.request.headers
        #expect(h.first("host").map { text($0) } == "h")
        #expect(h.first("x-custom").map { text($0) } == "1")
        #expect(h.first(named: bytes("X-CUSTOM")).map { text($0) } == "1")
        #expect(h.count("x-custom") == 2)
        #expect(h.first("absent") == nil)
        #expect(h.count == 3)
    }

    @Test("unknown methods are tokens kept as bytes")
    func otherMethod() {
        let r = parse(bytes("PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n")).request
        #expect(r?.methodCase == .other)
        #expect(r?.method == "PROPFIND")
        #expect(parse(bytes("get / HTTP/1.1\r\nHost: h\r\n\r\n")).request?.methodCase == .other)
        for (m, c) in [("HEAD", HTTPMethod.head), ("PUT", .put), ("DELETE", .delete), ("OPTIONS", .options),
                       ("TRACE", .trace), ("PATCH", .patch)] {
            #expect(parse(bytes("\(m) / HTTP/1.1\r\nHost: h\r\n\r\n")).request?.methodCase == c)
        }
    }

    @Test("Expect: 100-continue is recognised for HTTP/1.1 only")
    func expectContinue() {
        let r = parse(bytes("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx")).request
        #expect(r?.expectsContinue == true)
        let old = parse(bytes("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")).request
        #expect(old?.expectsContinue == false)
    }

    @Test("the parser stops at the end of each request; pipelined requests follow")
    func stopsAtRequestEnd() {
        let first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        let second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        let raw = bytes(first + second)
        var parser = HTTPRequestParser()
        var offset = 0
        var paths: [String] = []
        var bodies: [String] = []
        while true {
            let step = raw.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            offset += step.consumed
            if step.result == .complete {
                paths.append(text(parser.request.path))
                bodies.append(text(parser.request.body))
                if paths.count == 1 { #expect(offset == first.utf8.count) }
            } else if step.result == .needMoreInput {
                break
            }
        }
        #expect(paths == ["/a", "/b"])
        #expect(bodies == ["abc", ""])
        #expect(offset == raw.count)
    }

    @Test("a retained request is not disturbed when the parser moves on")
    func retainedRequest() {
        var parser = HTTPRequestParser()
        let a = bytes("POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n1")
        let b = bytes("POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n22")
        func run(_ raw: [UInt8]) {
            var offset = 0
            while true {
                let step = raw.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                offset += step.consumed
                if step.result != .headComplete { break }
            }
        }
        run(a)
        let kept = parser.request
        run(b)
        #expect(text(kept.path) == "/first" && kept.body == bytes("1"))
        #expect(text(parser.request.path) == "/second" && parser.request.body == bytes("22"))
    }
}

@Suite("Request parsing: errors and their status codes")
struct ParseErrorTests {
    static let host = "Host: h\r\n"

    /// (request, expected error)
    static let cases: [(String, HTTPRequestError)] = [
        ("GET /\r\n\r\n", .malformedRequestLine),
        ("GET\r\n\r\n", .malformedRequestLine),
        (" GET / HTTP/1.1\r\n\r\n", .malformedRequestLine),
        ("GET  / HTTP/1.1\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1.1 \r\n\r\n", .malformedVersion),
        ("G@T / HTTP/1.1\r\n\r\n", .invalidMethod),
        ("GET /a\u{7F} HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET /a#frag HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET a/b HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET * HTTP/1.1\r\nHost: h\r\n\r\n", .invalidTarget),
        ("GET ftp://x/ HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET http:/// HTTP/1.1\r\n\r\n", .invalidTarget),
        ("CONNECT /x HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET / http/1.1\r\n\r\n", .malformedVersion),
        ("GET / HTTP/1.x\r\n\r\n", .malformedVersion),
        ("GET / HTTP/1.10\r\n\r\n", .malformedVersion),
        ("GET / HTTP/11\r\n\r\n", .malformedVersion),
        ("GET / HTTP/2.0\r\n\r\n", .unsupportedVersion(HTTPVersion(major: 2, minor: 0))),
        ("GET / HTTP/0.9\r\n\r\n", .unsupportedVersion(HTTPVersion(major: 0, minor: 9))),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .unsupportedVersion(HTTPVersion(major: 2, minor: 0))),
        ("GET / HTTP/1.1\rHost: h\r\n\r\n", .bareCarriageReturn),
        ("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", .bareCarriageReturn),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\n Host: h\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .malformedHeaderField),
        ("GET / HTTP/1.1\r\nHost h\r\n\r\n", .malformedHeaderField),
        ("GET / HTTP/1.1\r\n: h\r\n\r\n", .malformedHeaderField),
        ("GET / HTTP/1.1\r\nX(y): h\r\nHost: h\r\n\r\n", .malformedHeaderField),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", .malformedHeaderField),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}\r\n\r\n", .malformedHeaderField),
        ("GET / HTTP/1.1\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", .invalidHost),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 12a\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: +1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 1 2\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 1,1\r\n\r\n1", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 1\r\n\r\n1", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 2\r\n\r\n12", .invalidContentLength),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         .contentLengthWithTransferEncoding),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .transferEncodingInHTTP10),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked;x=1\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: \r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferCoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: identity,chunked\r\n\r\n", .unsupportedTransferCoding),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nzz\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n;x\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1x\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1;a\u{1}\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", .malformedChunk),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\rX", .bareCarriageReturn),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\rX", .bareCarriageReturn),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n",
         .malformedHeaderField),
        ("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n", .bodyTooLarge),
        ("POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999999999\r\n\r\n", .bodyTooLarge),
    ]

    @Test("each malformed request gets its error, at every split position", arguments: 0..<cases.count)
    func errorCase(index: Int) {
        let (request, expected) = Self.cases[index]
        let outcome = parseAllSplits(bytes(request))
        #expect(outcome == .failed(expected), "\(request.debugDescription)")
    }

    @Test("status codes of the error classes")
    func statusCodes() {
        #expect(HTTPRequestError.malformedRequestLine.status.code == 400)
        #expect(HTTPRequestError.invalidContentLength.status.code == 400)
        #expect(HTTPRequestError.invalidTransferEncoding.status.code == 400)
        #expect(HTTPRequestError.bodyTooLarge.status.code == 413)
        #expect(HTTPRequestError.requestLineTooLong.status.code == 414)
        #expect(HTTPRequestError.headerSectionTooLarge.status.code == 431)
        #expect(HTTPRequestError.tooManyHeaderFields.status.code == 431)
        #expect(HTTPRequestError.unsupportedTransferCoding.status.code == 501)
        #expect(HTTPRequestError.unsupportedVersion(HTTPVersion(major: 2, minor: 0)).status.code == 505)
    }

    @Test("a failed parser stays failed and consumes nothing more")
    func failedIsSticky() {
        var parser = HTTPRequestParser()
        let bad = bytes("BAD\r\n")
        let step = bad.withUnsafeBytes { parser.parse($0) }
        #expect(step.result == .failed(.malformedRequestLine))
        let again = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").withUnsafeBytes { parser.parse($0) }
        #expect(again == HTTPParseStep(consumed: 0, result: .failed(.malformedRequestLine)))
        parser.reset()
        let fresh = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").withUnsafeBytes { parser.parse($0) }
        #expect(fresh.result == .headComplete)
    }

    @Test("an incomplete request stays incomplete")
    func incomplete() {
        #expect(parseAllSplits(bytes("GET / HTTP/1.1\r\nHost: h\r\n")) == .incomplete)
        #expect(parseAllSplits(bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc")) == .incomplete)
        #expect(parseAllSplits(bytes("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"))
            == .incomplete)
    }
}
