import Interfaces

/// Settings of a server connection.
public struct HTTPServerConfiguration: Sendable {
    /// Bounds on each request.
    public var limits: HTTPLimits
    /// The `Server` field value sent with every response (RFC 9110 §10.2.4), or nil to send none.
    public var serverName: [UInt8]?
    /// How many bytes to ask the transport for per read (also the initial size of the receive buffer).
    public var receiveBufferSize: Int
    /// `serve` sends pending responses once this many bytes have accumulated, even while more pipelined requests
    /// are waiting; otherwise responses to pipelined requests are sent together when input runs out.
    public var sendThreshold: Int

    /// Creates a configuration. A `serverName` containing bytes not allowed in a field value (CR, LF, ...) is
    /// dropped.
    public init(
        limits: HTTPLimits = HTTPLimits(), serverName: String? = "swift-unikernel", receiveBufferSize: Int = 4096,
        sendThreshold: Int = 16384
    ) {
        self.limits = limits
        if let name = serverName, HTTPHeaderField.isValidValue(.string(name)) {
            self.serverName = Array(name.utf8)
        } else {
            self.serverName = nil
        }
        self.receiveBufferSize = max(receiveBufferSize, 1)
        self.sendThreshold = max(sendThreshold, 1)
    }
}

/// What a server connection needs from its owner next (see `HTTPServerConnection.nextEvent()`).
public enum HTTPServerEvent: Sendable {
    /// All received bytes are used up: send any pending output, then read more and call `receive`.
    case needMoreInput
    /// A complete request. Answer it with `respond` (or a streaming response) before asking for the next event.
    case request(HTTPRequest)
    /// The connection is finished (after an error response, a response that closes, or the end of the input):
    /// send the pending output, then close.
    case close
}

/// The pure per-connection HTTP/1.1 server state machine: no I/O, no clock.
///
/// Use: `receive` the bytes read from the peer, then call `nextEvent()` until it returns `.needMoreInput` or
/// `.close`, answering every `.request` with `respond(_:)` (or `beginStreamingResponse`, `sendBodyChunk`,
/// `finishStreamingResponse`). After each step, send `pendingOutput` and `consumeOutput` what was sent.
///
/// Semantics:
/// - Pipelining: requests are taken one at a time from the received bytes and answered in order; bytes of later
///   requests wait in the receive buffer until the current one is answered (RFC 9112 §9.3.2).
/// - Persistence (RFC 9112 §9.3): HTTP/1.1 stays open unless either side says `Connection: close`; HTTP/1.0
///   stays open only if the request says `Connection: keep-alive` (the response then says so too). After a
///   response that closes, remaining input is discarded (RFC 9112 §9.6).
/// - Invalid requests get an error response with the status of the `HTTPRequestError` and `Connection: close`;
///   then the connection closes.
/// - `Expect: 100-continue` is answered: when the head of an HTTP/1.1 request that announces content ends and
///   none of the content has arrived yet, an interim `100 Continue` is queued before the content is read
///   (RFC 9110 §10.1.1). A request whose Content-Length exceeds the limit gets 413 instead, so the client need
///   not send the content.
/// - HEAD: the response's head is sent as for GET, content omitted (RFC 9110 §9.3.2).
/// - Memory: received bytes, the request's head and body, and output live in buffers reused for every request.
///   If the owner only calls `receive` after `.needMoreInput`, the receive buffer never holds more than one
///   read; request storage is bounded by the limits.
public struct HTTPServerConnection: Sendable {
    struct Pending: Sendable {
        var version: HTTPVersion
        var isHead: Bool
        var keepAlive: Bool
    }

    struct Stream: Sendable {
        var chunked: Bool
        var suppressContent: Bool
        var close: Bool
    }

    enum Phase: Sendable {
        case reading
        case responding(Pending)
        case streaming(Stream)
        case closing
    }

    /// The configuration.
    public let configuration: HTTPServerConfiguration
    var parser: HTTPRequestParser
    let encoder: HTTPResponseEncoder
    var input: [UInt8]
    var inputStart = 0
    var inputEnd = 0
    var output = ByteBuffer()
    var outputStart = 0
    var phase = Phase.reading
    var endOfInput = false

    /// The error that ended the connection, if a request was invalid.
    public private(set) var error: HTTPRequestError?
    /// Whether the connection closed because the input ended (rather than after an error or a response).
    public private(set) var closedAtEndOfInput = false
    /// How many responses (final or streamed) have been completed.
    public private(set) var responsesCompleted = 0

    /// Creates a connection in its initial state: waiting for the first request.
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration()) {
        self.configuration = configuration
        parser = HTTPRequestParser(limits: configuration.limits)
        encoder = HTTPResponseEncoder(serverName: configuration.serverName)
        input = [UInt8](repeating: 0, count: configuration.receiveBufferSize)
    }

    // MARK: - Input

    /// Appends bytes received from the peer. Ignored once the connection is closing.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, !isClosing, !endOfInput else { return }
        makeRoom(bytes.count)
        let start = inputEnd
        input.withUnsafeMutableBytes { buffer in
            UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + bytes.count)]).copyMemory(from: bytes)
        }
        inputEnd += bytes.count
    }

    /// Reads once from `transport` straight into the receive buffer (up to `configuration.receiveBufferSize`
    /// bytes) and returns what the read returned; a result of 0 or less marks the end of the input.
    public mutating func receive<Transport: HTTPTransport>(from transport: inout Transport) -> Int {
        let count = configuration.receiveBufferSize
        makeRoom(count)
        let start = inputEnd
        let n = input.withUnsafeMutableBytes { buffer in
            transport.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + count)]))
        }
        if n <= 0 {
            endOfInput = true
            return n
        }
        inputEnd += min(n, count)
        return n
    }

    /// Records that the peer will send nothing more (a read returned end of stream).
    public mutating func receiveEndOfStream() {
        endOfInput = true
    }

    /// Ensures `count` free bytes after `inputEnd`, moving unread bytes to the front or growing the buffer.
    private mutating func makeRoom(_ count: Int) {
        if inputStart == inputEnd {
            inputStart = 0
            inputEnd = 0
        }
        if input.count - inputEnd >= count { return }
        if inputStart > 0 {
            let (start, end) = (inputStart, inputEnd)
            input.withUnsafeMutableBytes { buffer in
                buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start)
            }
            inputEnd -= inputStart
            inputStart = 0
        }
        if input.count - inputEnd < count {
            input.append(contentsOf: repeatElement(0, count: count - (input.count - inputEnd)))
        }
    }

    // MARK: - Events

    /// Whether the connection is finished: only pending output remains to be sent before closing.
    public var isClosing: Bool {
        if case .closing = phase { return true }
        return false
    }

    /// Whether the connection waits for the start of a request with nothing buffered or pending: the state in
    /// which an owner may apply an idle timeout.
    public var isIdle: Bool {
        if case .reading = phase {
            return inputStart == inputEnd && !parser.hasPartialRequest && !hasPendingOutput
        }
        return false
    }

    /// Advances the connection with the bytes received so far. See `HTTPServerEvent`.
    ///
    /// Calling it while a request is unanswered is a programming error.
    public mutating func nextEvent() -> HTTPServerEvent {
        switch phase {
        case .closing:
            return .close
        case .responding, .streaming:
            preconditionFailure("HTTPServerConnection: answer the current request before asking for the next")
        case .reading:
            break
        }
        while true {
            let (start, end) = (inputStart, inputEnd)
            let bytes = input
            let step = bytes.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
            inputStart += step.consumed
            switch step.result {
            case .headComplete:
                // Content that has already started to arrive makes 100 pointless (RFC 9110 §10.1.1 lets it go).
                let request = parser.request
                if request.expectsContinue && (request.isChunked || (request.contentLength ?? 0) > 0)
                    && inputStart == inputEnd {
                    output.write("HTTP/1.1 100 Continue\r\n\r\n")
                }
            case .complete:
                let request = parser.request
                phase = .responding(
                    Pending(version: request.version, isHead: request.isHead, keepAlive: request.keepAlive))
                return .request(request)
            case .failed(let e):
                error = e
                let response = HTTPResponse(
                    status: e.status, contentType: "text/plain; charset=utf-8",
                    body: .string("\(e.status.code) \(e.status.reasonPhrase.description): \(e.description)\n"),
                    closeConnection: true)
                encoder.writeComplete(response, isHeadRequest: false, connection: .close, date: nil, into: &output)
                enterClosing()
                return .close
            case .needMoreInput:
                if endOfInput {
                    closedAtEndOfInput = true
                    enterClosing()
                    return .close
                }
                return .needMoreInput
            }
        }
    }

    private mutating func enterClosing() {
        phase = .closing
        inputStart = 0
        inputEnd = 0
    }

    // MARK: - Responses

    /// Answers the current request with a complete response (Content-Length framing). `date`, when given, is
    /// sent as the Date field. A response with a 1xx status or an invalid field is replaced by 500.
    public mutating func respond(_ response: HTTPResponse, date: WallTime? = nil) {
        guard case .responding(let pending) = phase else {
            preconditionFailure("HTTPServerConnection: no request to respond to")
        }
        var response = response
        if response.status.isInformational || !response.hasValidFields {
            response = HTTPResponse(status: .internalServerError, closeConnection: response.closeConnection)
        }
        let close = !pending.keepAlive || response.closeConnection || response.headersRequestClose
        encoder.writeComplete(
            response, isHeadRequest: pending.isHead, connection: directive(close: close, pending.version), date: date,
            into: &output)
        finishResponse(close: close)
    }

    /// Starts a response whose content follows in pieces (`sendBodyChunk`) and whose length is not known in
    /// advance. HTTP/1.1 clients get the chunked coding; HTTP/1.0 clients get content delimited by closing the
    /// connection (RFC 9112 §6.3 item 8). The response's `body` is ignored. A 1xx status or an invalid field
    /// sends a complete 500 instead, and later chunks are discarded.
    public mutating func beginStreamingResponse(_ head: HTTPResponse, date: WallTime? = nil) {
        guard case .responding(let pending) = phase else {
            preconditionFailure("HTTPServerConnection: no request to respond to")
        }
        if head.status.isInformational || !head.hasValidFields {
            let response = HTTPResponse(status: .internalServerError, closeConnection: true)
            encoder.writeComplete(response, isHeadRequest: pending.isHead, connection: .close, date: date, into: &output)
            phase = .streaming(Stream(chunked: false, suppressContent: true, close: true))
            return
        }
        var close = !pending.keepAlive || head.closeConnection || head.headersRequestClose
        let framing: HTTPResponseFraming
        var chunked = false
        if head.status.forbidsContent {
            framing = .none
        } else if pending.version.isAtLeast1_1 {
            framing = .chunked
            chunked = true
        } else {
            framing = .none
            close = true
        }
        encoder.writeHead(
            head, framing: framing, connection: directive(close: close, pending.version), date: date, into: &output)
        let suppress = pending.isHead || head.status.forbidsContent
        phase = .streaming(Stream(chunked: chunked && !suppress, suppressContent: suppress, close: close))
    }

    /// Queues a piece of streamed content (nothing for HEAD, for statuses without content, or for empty input).
    public mutating func sendBodyChunk(_ bytes: UnsafeRawBufferPointer) {
        guard case .streaming(let stream) = phase else {
            preconditionFailure("HTTPServerConnection: no streaming response in progress")
        }
        if stream.suppressContent || bytes.isEmpty { return }
        if stream.chunked {
            HTTPResponseEncoder.writeChunk(bytes, into: &output)
        } else {
            output.write(bytes)
        }
    }

    /// Ends a streamed response (the last chunk for the chunked coding).
    public mutating func finishStreamingResponse() {
        guard case .streaming(let stream) = phase else {
            preconditionFailure("HTTPServerConnection: no streaming response in progress")
        }
        if stream.chunked { HTTPResponseEncoder.writeLastChunk(into: &output) }
        finishResponse(close: stream.close)
    }

    /// Whether a request is waiting for its response.
    public var isAwaitingResponse: Bool {
        if case .responding = phase { return true }
        return false
    }

    /// Whether a streamed response is in progress.
    public var isStreaming: Bool {
        if case .streaming = phase { return true }
        return false
    }

    private func directive(close: Bool, _ version: HTTPVersion) -> HTTPConnectionDirective {
        close ? .close : (version.isAtLeast1_1 ? .none : .keepAlive)
    }

    private mutating func finishResponse(close: Bool) {
        responsesCompleted += 1
        if close { enterClosing() } else { phase = .reading }
    }

    // MARK: - Output

    /// Whether bytes are waiting to be sent.
    public var hasPendingOutput: Bool { outputStart < output.count }

    /// The number of bytes waiting to be sent.
    public var pendingOutputCount: Int { output.count - outputStart }

    /// The bytes waiting to be sent (a view; no copy).
    public var pendingOutput: ArraySlice<UInt8> { output[outputStart..<output.count] }

    /// Calls `body` with the bytes waiting to be sent.
    public func withPendingOutput<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let (start, end) = (outputStart, output.count)
        return output.storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }

    /// Writes all pending output to `transport` in one `write`. Returns false (output stays pending) if the
    /// transport failed.
    public mutating func send<Transport: HTTPTransport>(to transport: inout Transport) -> Bool {
        guard hasPendingOutput else { return true }
        let (start, end) = (outputStart, output.count)
        let ok = output.storage.withUnsafeBytes { transport.write(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        if ok { consumeOutput(pendingOutputCount) }
        return ok
    }

    /// Marks the first `count` pending bytes as sent.
    public mutating func consumeOutput(_ count: Int) {
        outputStart += min(max(count, 0), pendingOutputCount)
        if outputStart == output.count {
            output.removeAll()
            outputStart = 0
        }
    }
}
