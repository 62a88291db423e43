import FuzzSupport
import HTTP
import Interfaces

// Target `http`: the HTTP/1.1 request parser (RFC 9112) and the server connection state machine fed arbitrary
// bytes in arbitrary pieces, plus the blocking `serve` loop over an in-memory transport.
//
// Input: byte 0 selects the limits and buffer sizes, byte 1 seeds the split points, byte 2 seeds the responses;
// the rest is what a client sends.
//
// Checked:
// - the parser never consumes more than it is given, and its outcome (every head, request and error, in order,
//   and whether a request is left unfinished) is the same whether the input comes whole, in random pieces or one
//   byte at a time (the parser documents this);
// - every complete request respects the limits and the grammar it was accepted under (token method and names,
//   field values without CR/LF/NUL and without surrounding whitespace, one Host for HTTP/1.1, framing
//   consistent with Content-Length or chunked), and its path normalizes to something that keeps the
//   `HTTPStaticPath` invariants;
// - the connection state machine, fed the same bytes in other pieces and answered with a mix of complete,
//   streamed, invalid and closing responses, hands over exactly the requests the parser found, in order, and
//   writes a byte stream that parses as a well-formed sequence of HTTP/1.1 responses (interim 100s included),
//   one per answered request plus one for an invalid request;
// - `serve` over a transport that returns the bytes in pieces ends for a reason that matches the parser's.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, http) }


func http(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let mode = input.u8()
    let splitSeed = UInt64(input.u8())
    let responseSeed = UInt64(input.u8())
    let stream = input.rest()
    let limits = mode & 1 != 0
        ? HTTPLimits(maxRequestLineLength: 64, maxHeaderCount: 6, maxHeaderBytes: 200, maxBodySize: 100,
                     maxChunkLineLength: 16, maxLeadingEmptyLines: 2)
        : HTTPLimits(maxRequestLineLength: 8192, maxHeaderCount: 100, maxHeaderBytes: 16384, maxBodySize: 1 << 20,
                     maxChunkLineLength: 1024, maxLeadingEmptyLines: 8)
    let whole = parse(stream, limits: limits, pieces: [stream.count])
    var rng = SplitMix(seed: splitSeed &* 0x1000_0001 &+ UInt64(stream.count))
    let split = parse(stream, limits: limits, pieces: randomPieces(stream.count, &rng))
    require(whole == split, "parser outcome depends on the split: \(whole.description) vs \(split.description)")
    if stream.count <= 600 {
        let bytewise = parse(stream, limits: limits, pieces: [Int](repeating: 1, count: stream.count))
        require(whole == bytewise, "parser outcome differs when fed one byte at a time")
    }
    for event in whole.events {
        if case .request(let r) = event { checkRequest(r, limits: limits) }
    }
    var connectionRNG = SplitMix(seed: splitSeed ^ 0xC0FFEE)
    runConnection(stream, limits: limits, mode: mode, expected: whole,
                  pieces: randomPieces(stream.count, &connectionRNG), responseSeed: responseSeed)
    runServe(stream, limits: limits, expected: whole, seed: splitSeed ^ responseSeed)
    if stream.count >= 8 {
        var dateInput = FuzzInput(UnsafeRawBufferPointer(rebasing: stream[0..<8]))
        let seconds = Int64(bitPattern: UInt64(dateInput.u32()) << 32 | UInt64(dateInput.u32()))
        if let text = HTTPDate.format(WallTime(secondsSinceEpoch: seconds)) {
            require(text.count == HTTPDate.length && text[3] == 0x2C && text[25...] == [0x20, 0x47, 0x4D, 0x54],
                    "IMF-fixdate shape: \(hex(text))")
        }
    }
}

/// Piece lengths summing to `count`: mostly small, sometimes large.
func randomPieces(_ count: Int, _ rng: inout SplitMix) -> [Int] {
    var pieces: [Int] = []
    var left = count
    while left > 0 {
        let n = min(left, rng.below(8) == 0 ? 1 + rng.below(512) : 1 + rng.below(7))
        pieces.append(n)
        left -= n
    }
    return pieces
}

// MARK: - The parser, whole and split

/// A request reduced to comparable values.
struct RequestSummary: Equatable {
    var method: [UInt8]
    var methodEnum: HTTPMethod
    var target: [UInt8]
    var path: [UInt8]
    var query: [UInt8]?
    var version: HTTPVersion
    var form: HTTPTargetForm
    var headers: [[UInt8]]
    var trailers: [[UInt8]]
    var body: [UInt8]
    var contentLength: Int?
    var isChunked: Bool
    var expectsContinue: Bool
    var keepAlive: Bool

    init(_ r: HTTPRequest) {
        method = Array(r.methodBytes)
        methodEnum = r.method
        target = Array(r.target)
        path = Array(r.path)
        query = r.query.map { Array($0) }
        version = r.version
        form = r.targetForm
        headers = r.headers.map { Array($0.name) + [0x3A] + Array($0.value) }
        trailers = r.trailers.map { Array($0.name) + [0x3A] + Array($0.value) }
        body = r.body
        contentLength = r.contentLength
        isChunked = r.isChunked
        expectsContinue = r.expectsContinue
        keepAlive = r.keepAlive
    }
}

enum ParseEvent: Equatable {
    case head
    case request(RequestSummary)
    case failed(HTTPRequestError)
}

struct ParseOutcome: Equatable {
    var events: [ParseEvent] = []
    /// The parser holds part of a request when the input ends.
    var partial = false
    /// Input left over after a failure (not consumed).
    var failed: Bool {
        if case .failed = events.last { return true }
        return false
    }
    var requests: [RequestSummary] {
        events.compactMap { if case .request(let r) = $0 { return r } else { return nil } }
    }

    var description: String {
        var parts: [String] = []
        for e in events {
            switch e {
            case .head: parts.append("head")
            case .request(let r): parts.append("request(\(r.body.count) body bytes)")
            case .failed(let error): parts.append("failed(\(error))")
            }
        }
        return parts.joined(separator: ",") + (partial ? ",partial" : "")
    }
}

/// Feeds `stream` to a parser in pieces of the given lengths.
func parse(_ stream: UnsafeRawBufferPointer, limits: HTTPLimits, pieces: [Int]) -> ParseOutcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = ParseOutcome()
    var start = 0
    outer: for length in pieces {
        var piece = UnsafeRawBufferPointer(rebasing: stream[start..<(start + length)])
        start += length
        var calls = 0
        while true {
            calls += 1
            require(calls <= 4 * length + 16, "parser makes no progress")
            let step = parser.parse(piece)
            require(step.consumed >= 0 && step.consumed <= piece.count, "consumed \(step.consumed) of \(piece.count)")
            piece = UnsafeRawBufferPointer(rebasing: piece[step.consumed...])
            switch step.result {
            case .needMoreInput:
                require(piece.isEmpty, "needMoreInput with \(piece.count) bytes unconsumed")
                continue outer
            case .headComplete:
                outcome.events.append(.head)
                require(parser.hasPartialRequest && !parser.isComplete, "head complete but not partial")
            case .complete:
                require(parser.isComplete && !parser.hasPartialRequest, "complete flags")
                outcome.events.append(.request(RequestSummary(parser.request)))
            case .failed(let error):
                require(!parser.hasPartialRequest && !parser.isComplete, "failed flags")
                _ = error.description
                _ = step.result.description
                outcome.events.append(.failed(error))
                // The parser stays failed until reset.
                let again = parser.parse(piece)
                require(again.consumed == 0 && again.result == .failed(error), "a failed parser moved on")
                break outer
            }
        }
    }
    outcome.partial = !outcome.failed && parser.hasPartialRequest
    return outcome
}

func isToken(_ bytes: [UInt8]) -> Bool {
    !bytes.isEmpty && bytes.allSatisfy { b in
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E,
             0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }
}

func lowercased(_ bytes: some Sequence<UInt8>) -> [UInt8] { bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } }

/// What the parser promises about a request it accepted.
func checkRequest(_ r: RequestSummary, limits: HTTPLimits) {
    require(isToken(r.method), "method is not a token: \(hex(r.method))")
    require(!r.target.isEmpty && r.target.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x23 }, "target bytes")
    require(r.method.count + 1 + r.target.count + 9 <= limits.maxRequestLineLength, "request line over the limit")
    require(r.version.major == 1 && r.version.minor <= 9, "version \(r.version)")
    require(r.headers.count + r.trailers.count <= limits.maxHeaderCount, "too many fields")
    require(r.body.count <= limits.maxBodySize, "body over the limit")
    var hosts = 0
    for field in r.headers + r.trailers {
        let colon = field.firstIndex(of: 0x3A)!
        let name = Array(field[..<colon])
        let value = Array(field[(colon + 1)...])
        require(isToken(name), "field name is not a token: \(hex(name))")
        require(value.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }, "field value bytes: \(hex(value))")
        if let first = value.first, let last = value.last {
            require(first != 0x20 && first != 0x09 && last != 0x20 && last != 0x09, "value keeps its whitespace")
        }
    }
    for field in r.headers where lowercased(field.prefix(5)) == Array("host:".utf8) { hosts += 1 }
    require(hosts <= 1 && (hosts == 1 || !r.version.isAtLeast1_1), "Host fields: \(hosts) in \(r.version)")
    require(r.trailers.isEmpty || r.isChunked, "trailers without chunked")
    if let length = r.contentLength {
        require(!r.isChunked && r.body.count == length, "Content-Length \(length), body \(r.body.count)")
    } else if !r.isChunked {
        require(r.body.isEmpty, "content without framing")
    }
    if r.expectsContinue { require(r.version.isAtLeast1_1, "100-continue for HTTP/1.0") }
    switch r.form {
    case .asterisk: require(r.target == [0x2A] && r.methodEnum == .options && r.path.isEmpty, "asterisk form")
    case .authority: require(r.methodEnum == .connect && r.path.isEmpty, "authority form")
    case .origin: require(r.target.first == 0x2F && r.target.starts(with: r.path), "origin form path")
    case .absolute: require(r.path.isEmpty || r.path.first == 0x2F, "absolute form path")
    }
    _ = r.methodEnum.description
    _ = r.form.description
    if r.form == .origin { checkPath(r.path) }
}

/// `HTTPStaticPath.normalize` keeps its documented invariants and is idempotent on what it returns.
func checkPath(_ path: [UInt8]) {
    guard let normalized = try? HTTPStaticPath.normalize(path) else { return }
    let b = normalized.bytes
    require(b.first == 0x2F, "normalized path does not start with /")
    require(normalized.isDirectory == (b.last == 0x2F), "isDirectory vs trailing slash")
    if b == [0x2F] { require(normalized.isDirectory && normalized.segmentCount == 0, "root") }
    let inner = b.dropFirst().split(separator: 0x2F, omittingEmptySubsequences: false)
    let segments = normalized.isDirectory ? inner.dropLast() : inner[...]
    require(segments.count == normalized.segmentCount, "segmentCount")
    for segment in segments {
        require(!segment.isEmpty, "empty segment in \(hex(b))")
        require(Array(segment) != [0x2E] && Array(segment) != [0x2E, 0x2E], "dot segment survived")
        require(segment.allSatisfy { $0 >= 0x20 && $0 != 0x7F && $0 != 0x5C }, "control byte or backslash")
    }
    if !b.contains(0x25) && !b.contains(0x3F) && !b.contains(0x23) {
        require((try? HTTPStaticPath.normalize(b)) == normalized, "normalize is not idempotent on \(hex(b))")
    }
}

// MARK: - The connection state machine

/// One response the harness chose for a request, and what the client must see.
struct Answer {
    var isHead: Bool
    var status: Int
}

func runConnection(_ stream: UnsafeRawBufferPointer, limits: HTTPLimits, mode: UInt8, expected: ParseOutcome,
                   pieces: [Int], responseSeed: UInt64) {
    let configuration = HTTPServerConfiguration(limits: limits, serverName: mode & 2 != 0 ? nil : "fuzz",
                                                receiveBufferSize: mode & 4 != 0 ? 7 : 4096,
                                                sendThreshold: 64)
    var connection = HTTPServerConnection(configuration: configuration)
    var rng = SplitMix(seed: responseSeed &+ 17)
    var output: [UInt8] = []
    var answers: [Answer] = []
    var requests: [RequestSummary] = []
    var start = 0
    var pieceIndex = 0
    var closed = false
    var steps = 0
    func drain() {
        // Send part of the pending output, as a transport might.
        while connection.hasPendingOutput {
            let n = rng.below(3) == 0 ? connection.pendingOutputCount : 1 + rng.below(connection.pendingOutputCount)
            let before = connection.pendingOutputCount
            output += connection.pendingOutput.prefix(n)
            connection.withPendingOutput { require($0.count == before, "withPendingOutput length") }
            connection.consumeOutput(n)
            require(connection.pendingOutputCount == before - n, "consumeOutput")
            if rng.below(2) == 0 { break }
        }
    }
    while !closed {
        steps += 1
        require(steps < 100_000, "connection makes no progress")
        switch connection.nextEvent() {
        case .needMoreInput:
            require(!connection.isClosing && !connection.isAwaitingResponse, "needMoreInput while closing/awaiting")
            drain()
            if pieceIndex < pieces.count {
                let n = pieces[pieceIndex]
                pieceIndex += 1
                connection.receive(UnsafeRawBufferPointer(rebasing: stream[start..<(start + n)]))
                start += n
            } else {
                connection.receiveEndOfStream()
            }
        case .request(let request):
            require(connection.isAwaitingResponse && !connection.isIdle, "request without awaiting state")
            let summary = RequestSummary(request)
            requests.append(summary)
            answers.append(answer(request, connection: &connection, rng: &rng))
            require(!connection.isAwaitingResponse && !connection.isStreaming, "still responding after an answer")
            drain()
        case .close:
            require(connection.isClosing, "close without isClosing")
            closed = true
        }
    }
    // Drain everything.
    output += connection.pendingOutput
    connection.consumeOutput(connection.pendingOutputCount)
    require(!connection.hasPendingOutput, "output left after consuming it all")
    // The requests are the parser's, in order (a response that closes may end the connection early).
    let parsed = expected.requests
    require(requests.count <= parsed.count, "connection produced \(requests.count) requests, parser \(parsed.count)")
    for (i, r) in requests.enumerated() { require(r == parsed[i], "request \(i) differs from the parser's") }
    require(connection.responsesCompleted == answers.count, "responsesCompleted")
    let closedByResponse = answers.count > 0 && connection.error == nil && !connection.closedAtEndOfInput
    if requests.count < parsed.count {
        require(closedByResponse, "connection stopped early without a closing response")
    } else if let error = connection.error {
        guard case .failed(let e) = expected.events.last else { invariantFailed("connection error \(error) unparsed") }
        require(e == error, "connection error \(error), parser \(e)")
    }
    if connection.closedAtEndOfInput {
        require(!expected.failed && requests.count == parsed.count, "closed at end of input, parser disagrees")
    }
    checkResponses(output, answers: answers, error: connection.error)
}

/// Answers one request with a response chosen by the generator.
func answer(_ request: HTTPRequest, connection: inout HTTPServerConnection, rng: inout SplitMix) -> Answer {
    let isHead = request.isHead
    let close = rng.below(6) == 0
    let date: WallTime? = rng.below(3) == 0 ? WallTime(secondsSinceEpoch: Int64(rng.below(4_000_000_000))) : nil
    switch rng.below(8) {
    case 0:
        connection.respond(HTTPResponse(status: .ok, contentType: "application/octet-stream",
                                        body: .bytes(request.body), closeConnection: close), date: date)
        return Answer(isHead: isHead, status: 200)
    case 1:
        connection.respond(HTTPResponse(status: .noContent, headers: [HTTPHeaderField(name: "X-A", value: "b")],
                                        closeConnection: close))
        return Answer(isHead: isHead, status: 204)
    case 2:
        // An invalid field value: the connection must send 500 instead.
        connection.respond(HTTPResponse(status: .ok, headers: [HTTPHeaderField(name: "X-Bad", value: .string("a\r\nb"))],
                                        body: "hidden"))
        return Answer(isHead: isHead, status: 500)
    case 3:
        connection.respond(HTTPResponse(status: .continue))
        return Answer(isHead: isHead, status: 500)
    case 4, 5:
        let status: HTTPStatus = rng.below(4) == 0 ? .notModified : .ok
        connection.beginStreamingResponse(HTTPResponse(status: status, contentType: "text/plain",
                                                       closeConnection: close), date: date)
        require(connection.isStreaming, "not streaming after beginStreamingResponse")
        var offset = 0
        for _ in 0..<rng.below(4) {
            let n = min(request.body.count - offset, rng.below(40))
            request.body.withUnsafeBytes { connection.sendBodyChunk(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
            offset += n
            connection.sendBodyChunk(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        connection.finishStreamingResponse()
        return Answer(isHead: isHead, status: status.code)
    case 6:
        connection.beginStreamingResponse(HTTPResponse(status: .continue))
        connection.sendBodyChunk(UnsafeRawBufferPointer(start: nil, count: 0))
        connection.finishStreamingResponse()
        return Answer(isHead: isHead, status: 500)
    default:
        connection.respond(HTTPResponse(status: .notFound, contentType: "text/plain", headers: [
            HTTPHeaderField(name: "Connection", value: rng.below(2) == 0 ? "close" : "keep-alive, Close"),
        ], body: "not here"))
        return Answer(isHead: isHead, status: 404)
    }
}

/// Parses the server's output as a sequence of responses: interim 100s, one final response per answer, and a
/// final error response if the connection failed.
func checkResponses(_ out: [UInt8], answers: [Answer], error: HTTPRequestError?) {
    var i = 0
    func line() -> [UInt8] {
        guard let lf = out[i...].firstIndex(of: 0x0A), lf > i, out[lf - 1] == 0x0D else {
            invariantFailed("response line without CRLF at \(i): \(hex(Array(out[i...].prefix(64))))")
        }
        let text = Array(out[i..<(lf - 1)])
        i = lf + 1
        return text
    }
    var expected: [(isHead: Bool, status: Int)] = answers.map { ($0.isHead, $0.status) }
    if let error { expected.append((false, error.status.code)) }
    var index = 0
    var closeDelimited = false
    while i < out.count {
        require(!closeDelimited, "bytes after a close-delimited response")
        let status = line()
        require(status.count >= 12 && Array(status.prefix(9)) == Array("HTTP/1.1 ".utf8), "status line: \(hex(status))")
        let code = status[9...11].reduce(0) { $0 * 10 + Int($1) - 0x30 }
        require(status[9...11].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && status[12] == 0x20, "status code")
        var contentLength: Int? = nil
        var chunked = false
        while true {
            let field = line()
            if field.isEmpty { break }
            guard let colon = field.firstIndex(of: 0x3A) else { invariantFailed("field without colon: \(hex(field))") }
            let name = lowercased(field[..<colon])
            require(isToken(name), "response field name \(hex(name))")
            require(field[(colon + 1)...].allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }, "field value")
            let value = Array(field[(colon + 1)...].drop { $0 == 0x20 })
            if name == Array("content-length".utf8) {
                require(contentLength == nil, "two Content-Length fields")
                contentLength = value.reduce(0) { $0 * 10 + Int($1) - 0x30 }
            }
            if name == Array("transfer-encoding".utf8) { chunked = value == Array("chunked".utf8) }
        }
        if code == 100 { continue }  // interim response: no content
        require(index < expected.count, "more responses than answers (\(index + 1) > \(expected.count))")
        let (isHead, want) = expected[index]
        index += 1
        require(code == want, "response \(index) has status \(code), expected \(want)")
        require(!(chunked && contentLength != nil), "chunked with Content-Length")
        if isHead || code == 204 || code == 304 { continue }
        if chunked {
            while true {
                let size = line()
                let n = size.reduce(0) { $0 * 16 + (Int($1) <= 0x39 ? Int($1) - 0x30 : Int($1 | 0x20) - 0x57) }
                if n == 0 { require(line().isEmpty, "last chunk not followed by CRLF"); break }
                require(i + n <= out.count, "chunk runs past the output")
                i += n
                require(line().isEmpty, "chunk data not followed by CRLF")
            }
        } else if let n = contentLength {
            require(i + n <= out.count, "content runs past the output")
            i += n
        } else {
            closeDelimited = true  // HTTP/1.0 streaming: content until close
            i = out.count
        }
    }
    require(index == expected.count, "\(index) responses for \(expected.count) answers")
}

// MARK: - serve

/// A transport that hands out the stream in pieces and collects what is written.
struct PieceTransport: HTTPTransport {
    var stream: [UInt8]
    var position = 0
    var rng: SplitMix
    var written: [UInt8] = []
    var closed = 0

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard position < stream.count else { return 0 }
        let n = min(buffer.count, stream.count - position, 1 + rng.below(64))
        for k in 0..<n { buffer[k] = stream[position + k] }
        position += n
        return n
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        written += bytes
        return true
    }

    mutating func close() { closed += 1 }
}

func runServe(_ stream: UnsafeRawBufferPointer, limits: HTTPLimits, expected: ParseOutcome, seed: UInt64) {
    let transport = PieceTransport(stream: Array(stream), rng: SplitMix(seed: seed))
    var answered = 0
    let outcome = serve(connection: transport, configuration: HTTPServerConfiguration(limits: limits, receiveBufferSize: 16)) { request in
        answered += 1
        return HTTPResponse(status: .ok, body: .bytes(request.body))
    }
    _ = outcome.end.description
    require(outcome.requestsServed == answered, "requestsServed \(outcome.requestsServed), handler ran \(answered)")
    require(answered <= expected.requests.count, "serve answered more requests than the parser found")
    switch outcome.end {
    case .requestError(let e):
        guard case .failed(let p) = expected.events.last else { invariantFailed("serve error \(e), parser none") }
        require(p == e && answered == expected.requests.count, "serve error \(e), parser \(p)")
    case .peerClosed:
        require(!expected.failed && answered == expected.requests.count, "peerClosed before the parser's end")
    case .responseClosed:
        break  // HTTP/1.0 without keep-alive, or Connection: close from the client
    case .writeFailed:
        invariantFailed("writes never fail here")
    }
}

func seeds() -> [Seed] {
    func seed(_ name: String, _ mode: UInt8, _ text: String) -> Seed {
        Seed(name, [mode, 1, 2] + Array(text.utf8))
    }
    return [
        seed("get", 0, "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz\r\n\r\n"),
        seed("pipelined", 0, "GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /b HTTP/1.1\r\nHost: a\r\n\r\n"
             + "POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
        seed("chunked-trailers", 0, "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             + "5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"),
        seed("expect-continue", 0, "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"),
        seed("http10-keepalive", 0, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"),
        seed("absolute-options-connect", 0, "GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n"
             + "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nCONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        seed("bare-lf-empty-lines", 0, "\r\n\nGET /a/../b/./c%20d/ HTTP/1.1\nHost: h\n\n"),
        seed("smuggling", 0, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        seed("gzip-chunked", 0, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        seed("folding", 0, "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n"),
        seed("small-limits", 1, "GET /" + String(repeating: "a", count: 70) + " HTTP/1.1\r\nHost: h\r\n\r\n"),
        seed("small-limits-body", 1 | 4, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             + "40\r\n" + String(repeating: "z", count: 64) + "\r\n40\r\n" + String(repeating: "z", count: 64) + "\r\n0\r\n\r\n"),
        seed("bad-version", 0, "GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
        seed("bare-cr", 0, "GET / HTTP/1.1\rHost: h\r\n\r\n"),
        seed("no-host", 0, "GET / HTTP/1.1\r\n\r\n"),
        seed("partial", 0, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"),
    ]
}
