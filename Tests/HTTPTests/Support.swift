import Interfaces
import Testing

@testable import HTTP

/// Test helpers: byte conversions, a parser driver that feeds input in chosen pieces, response-stream parsing
/// and an in-memory transport.

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func text<C: Collection>(_ b: C) -> String where C.Element == UInt8 { String(decoding: Array(b), as: UTF8.self) }

/// Everything observable about a parsed request, in comparable form.
struct RequestSnapshot: Equatable, CustomStringConvertible {
    var method: String
    var methodCase: HTTPMethod
    var target: String
    var path: String
    var query: String?
    var form: HTTPTargetForm
    var version: HTTPVersion
    var headers: [String]
    var trailers: [String]
    var body: [UInt8]
    var contentLength: Int?
    var isChunked: Bool
    var keepAlive: Bool
    var expectsContinue: Bool

    init(_ r: HTTPRequest) {
        method = text(r.methodBytes)
        methodCase = r.method
        target = text(r.target)
        path = text(r.path)
        query = r.query.map { text($0) }
        form = r.targetForm
        version = r.version
        headers = r.headers.map { "\(text($0.name)): \(text($0.value))" }
        trailers = r.trailers.map { "\(text($0.name)): \(text($0.value))" }
        body = r.body
        contentLength = r.contentLength
        isChunked = r.isChunked
        keepAlive = r.keepAlive
        expectsContinue = r.expectsContinue
    }

    var description: String {
        "\(method) \(target) \(version) headers=\(headers) trailers=\(trailers) body=\(body.count)B keepAlive=\(keepAlive)"
    }
}

/// The outcome of parsing one request.
enum ParseOutcome: Equatable, CustomStringConvertible {
    /// A complete request and how many bytes it took.
    case request(RequestSnapshot, consumed: Int)
    case failed(HTTPRequestError)
    /// All input consumed without completing a request.
    case incomplete

    var description: String {
        switch self {
        case .request(let r, let n): return "request(\(r), consumed: \(n))"
        case .failed(let e): return "failed(\(e))"
        case .incomplete: return "incomplete"
        }
    }

    var status: Int? {
        if case .failed(let e) = self { return e.status.code }
        return nil
    }

    var request: RequestSnapshot? {
        if case .request(let r, _) = self { return r }
        return nil
    }
}

/// Feeds `data` to a fresh parser in the pieces that end at `cuts` (sorted positions), continuing after
/// `.headComplete`, and reports the first request or error.
func parse(_ data: [UInt8], cuts: [Int] = [], limits: HTTPLimits = HTTPLimits()) -> ParseOutcome {
    var parser = HTTPRequestParser(limits: limits)
    var bounds = cuts.filter { $0 > 0 && $0 < data.count }
    bounds.append(data.count)
    var offset = 0
    var sawHead = false
    for end in bounds {
        while true {
            let step = data[offset..<end].withUnsafeBytes { parser.parse($0) }
            precondition(step.consumed <= end - offset, "parser consumed more than it was given")
            offset += step.consumed
            switch step.result {
            case .headComplete:
                precondition(!sawHead, "head completed twice")
                sawHead = true
                continue
            case .complete:
                precondition(sawHead, "request completed without its head")
                return .request(RequestSnapshot(parser.request), consumed: offset)
            case .failed(let e):
                return .failed(e)
            case .needMoreInput:
                precondition(offset == end, "parser wants input but left some unconsumed")
            }
            break
        }
    }
    return .incomplete
}

/// Parses `data` whole, byte by byte, and split in two at every position; all outcomes must agree.
/// Returns the whole-input outcome.
@discardableResult
func parseAllSplits(
    _ data: [UInt8], limits: HTTPLimits = HTTPLimits(), sourceLocation: SourceLocation = #_sourceLocation
) -> ParseOutcome {
    let whole = parse(data, limits: limits)
    let single = parse(data, cuts: Array(0...data.count), limits: limits)
    #expect(single == whole, "byte-at-a-time differs", sourceLocation: sourceLocation)
    for p in 0...data.count {
        let split = parse(data, cuts: [p], limits: limits)
        if split != whole {
            Issue.record("split at \(p) gives \(split), whole gives \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    return whole
}

/// A response as read back from the byte stream.
struct ParsedResponse: CustomStringConvertible {
    var status: Int
    var reason: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    func count(_ name: String) -> Int { headers.filter { $0.0.lowercased() == name.lowercased() }.count }

    var description: String { "\(status) \(reason) \(headers) body=\(text(body))" }
}

/// Splits a byte stream into responses. `headRequests` lists the indexes (among final responses) of responses
/// to HEAD requests (no content follows them). Content is delimited by Content-Length, chunked coding, or the end of the stream.
func parseResponses(_ data: [UInt8], headRequests: Set<Int> = []) -> [ParsedResponse]? {
    var responses: [ParsedResponse] = []
    var i = 0
    func line() -> String? {
        var j = i
        while j + 1 < data.count && !(data[j] == 13 && data[j + 1] == 10) { j += 1 }
        guard j + 1 < data.count else { return nil }
        let s = text(data[i..<j])
        i = j + 2
        return s
    }
    while i < data.count {
        guard let statusLine = line() else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2).map(String.init)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let code = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        while true {
            guard let l = line() else { return nil }
            if l.isEmpty { break }
            guard let colon = l.firstIndex(of: ":") else { return nil }
            headers.append((String(l[..<colon]), String(l[l.index(after: colon)...]).trimmingCharacters(in: " ")))
        }
        var r = ParsedResponse(status: code, reason: parts.count > 2 ? parts[2] : "", headers: headers, body: [])
        let index = responses.filter { $0.status >= 200 }.count  // interim responses do not count
        if code < 200 || code == 204 || code == 304 || headRequests.contains(index) {
            // no content
        } else if let cl = r.header("Content-Length").flatMap({ Int($0) }) {
            guard i + cl <= data.count else { return nil }
            r.body = Array(data[i..<(i + cl)])
            i += cl
        } else if r.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                guard let sizeLine = line(), let size = Int(sizeLine, radix: 16) else { return nil }
                if size == 0 {
                    guard line() == "" else { return nil }
                    break
                }
                guard i + size + 2 <= data.count else { return nil }
                r.body += data[i..<(i + size)]
                i += size
                guard line() == "" else { return nil }
            }
        } else {
            r.body = Array(data[i...])
            i = data.count
        }
        responses.append(r)
    }
    return responses
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}

/// An in-memory transport: each read returns the next scripted chunk (then end of stream); writes are
/// collected; a write can be made to fail.
final class MemoryTransport: HTTPTransport {
    var chunks: [[UInt8]]
    var written: [UInt8] = []
    var writeCount = 0
    var reads = 0
    var closed = 0
    var failWritesAfter: Int?

    init(_ chunks: [[UInt8]]) { self.chunks = chunks }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        reads += 1
        guard !chunks.isEmpty else { return 0 }
        let chunk = chunks[0]
        let n = min(chunk.count, buffer.count)
        for k in 0..<n { buffer[k] = chunk[k] }
        if n == chunk.count { chunks.removeFirst() } else { chunks[0] = Array(chunk[n...]) }
        return n
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let limit = failWritesAfter, writeCount >= limit { return false }
        writeCount += 1
        written += bytes
        return true
    }

    func close() { closed += 1 }
}

/// Feeds `input` to a connection in one piece and answers every request with `answer`; returns the output
/// and the number of requests seen, stopping at `.needMoreInput` or `.close`.
func runConnection(
    _ connection: inout HTTPServerConnection, _ input: [UInt8],
    answer: (HTTPRequest) -> HTTPResponse = { _ in HTTPResponse(body: "ok") }
) -> (output: [UInt8], requests: [RequestSnapshot], event: String) {
    input.withUnsafeBytes { connection.receive($0) }
    var requests: [RequestSnapshot] = []
    var event = ""
    loop: while true {
        switch connection.nextEvent() {
        case .request(let r):
            requests.append(RequestSnapshot(r))
            connection.respond(answer(r))
        case .needMoreInput:
            event = "needMoreInput"
            break loop
        case .close:
            event = "close"
            break loop
        }
    }
    let out = Array(connection.pendingOutput)
    connection.consumeOutput(out.count)
    return (out, requests, event)
}
