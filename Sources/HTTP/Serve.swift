import Interfaces

/// A byte-stream connection to one client, as the blocking `serve` loop needs it. The integration layer
/// implements it over a TCP socket; tests implement it in memory.
public protocol HTTPTransport {
    /// Blocks until at least one byte is available, copies up to `buffer.count` bytes into `buffer` and returns
    /// how many. Returns 0 at the end of the stream (the peer closed) and a negative value on an error; both end
    /// the connection.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// Blocks until all of `bytes` are handed to the connection. Returns false if the connection failed.
    mutating func write(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Closes the connection. Called exactly once by `serve`, as its last action.
    mutating func close()
}

/// Why `serve` returned.
public enum HTTPServeEnd: Hashable, Sendable, CustomStringConvertible {
    /// The peer ended the stream (between requests, or in the middle of one).
    case peerClosed
    /// A response ended the connection: `Connection: close` from either side, or HTTP/1.0 without keep-alive.
    case responseClosed
    /// A request was invalid; the error response was sent.
    case requestError(HTTPRequestError)
    /// Writing to the transport failed.
    case writeFailed

    /// A short English explanation.
    public var description: String {
        switch self {
        case .peerClosed: return "peer closed"
        case .responseClosed: return "closed after response"
        case .requestError(let e): return "request error: \(e)"
        case .writeFailed: return "write failed"
        }
    }
}

/// The result of `serve`: why it ended and how many requests were answered.
public struct HTTPServeOutcome: Hashable, Sendable {
    /// Why the connection ended.
    public var end: HTTPServeEnd
    /// How many requests received a response (error responses not counted).
    public var requestsServed: Int
}

/// How a handler of `serveStreaming` answers its request: one `respond`, or `beginStreaming`, any number of
/// `write`s and `finish`. Calls out of that order are ignored. A handler that returns without answering gets
/// a 500 response sent for it; an unfinished stream is finished.
public struct HTTPResponseWriter<Transport: HTTPTransport> {
    enum State { case idle, responded, streaming }

    var connection: HTTPServerConnection
    var transport: Transport
    let wallClock: (() -> WallTime?)?
    var state = State.idle
    var writeFailed = false

    init(connection: HTTPServerConnection, transport: Transport, wallClock: (() -> WallTime?)?) {
        self.connection = connection
        self.transport = transport
        self.wallClock = wallClock
    }

    /// Whether the request has been answered (or a streamed answer has begun).
    public var hasResponded: Bool { state != .idle }

    /// Sends a complete response.
    public mutating func respond(_ response: HTTPResponse) {
        guard state == .idle else { return }
        connection.respond(response, date: wallClock?())
        state = .responded
    }

    /// Sends the head of a streamed response (see `HTTPServerConnection.beginStreamingResponse`).
    public mutating func beginStreaming(_ head: HTTPResponse) {
        guard state == .idle else { return }
        connection.beginStreamingResponse(head, date: wallClock?())
        state = .streaming
    }

    /// Sends a piece of streamed content now. Returns false if no stream is open or the transport failed.
    @discardableResult
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard state == .streaming, !writeFailed else { return false }
        connection.sendBodyChunk(bytes)
        return flush()
    }

    /// Sends a piece of streamed content now. Returns false if no stream is open or the transport failed.
    @discardableResult
    public mutating func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Ends a streamed response.
    public mutating func finish() {
        guard state == .streaming else { return }
        connection.finishStreamingResponse()
        state = .responded
    }

    /// Completes the current request's answer on the handler's behalf.
    mutating func complete() {
        switch state {
        case .idle: respond(HTTPResponse(status: .internalServerError))
        case .streaming: finish()
        case .responded: break
        }
        state = .idle
    }

    /// Sends all pending output; false (and remembered) if the transport failed.
    mutating func flush() -> Bool {
        if writeFailed { return false }
        if !connection.send(to: &transport) { writeFailed = true }
        return !writeFailed
    }
}

/// Serves one connection until it ends, answering each request with `handler`'s response; then closes the
/// transport. Blocking: it returns when the peer closes, a response closes, a request is invalid (after sending
/// the error response) or a write fails.
///
/// Responses to pipelined requests that arrived together are sent together (once input runs out or more than
/// `configuration.sendThreshold` bytes are pending). `wallClock`, when given, provides the Date field.
@discardableResult
public func serve<Transport: HTTPTransport>(
    connection transport: Transport, configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
    wallClock: (() -> WallTime?)? = nil, handler: (HTTPRequest) -> HTTPResponse
) -> HTTPServeOutcome {
    serveStreaming(connection: transport, configuration: configuration, wallClock: wallClock) { request, writer in
        writer.respond(handler(request))
    }
}

/// Serves one connection like `serve(connection:handler:)`, with a handler that answers through an
/// `HTTPResponseWriter`, which can also stream content of unknown length.
@discardableResult
public func serveStreaming<Transport: HTTPTransport>(
    connection transport: Transport, configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
    wallClock: (() -> WallTime?)? = nil, handler: (HTTPRequest, inout HTTPResponseWriter<Transport>) -> Void
) -> HTTPServeOutcome {
    var writer = HTTPResponseWriter(
        connection: HTTPServerConnection(configuration: configuration), transport: transport, wallClock: wallClock)
    var served = 0
    let end: HTTPServeEnd
    loop: while true {
        switch writer.connection.nextEvent() {
        case .request(let request):
            handler(request, &writer)
            writer.complete()
            served += 1
            if writer.writeFailed || (writer.connection.pendingOutputCount >= configuration.sendThreshold
                                      && !writer.flush()) {
                end = .writeFailed
                break loop
            }
        case .needMoreInput:
            if !writer.flush() {
                end = .writeFailed
                break loop
            }
            _ = writer.connection.receive(from: &writer.transport)
        case .close:
            if !writer.flush() {
                end = .writeFailed
            } else if let error = writer.connection.error {
                end = .requestError(error)
            } else {
                end = writer.connection.closedAtEndOfInput ? .peerClosed : .responseClosed
            }
            break loop
        }
    }
    writer.transport.close()
    return HTTPServeOutcome(end: end, requestsServed: served)
}
