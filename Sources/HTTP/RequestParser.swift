/// What a call to `HTTPRequestParser.parse(_:)` achieved.
public enum HTTPParseResult: Hashable, Sendable, CustomStringConvertible {
    /// Every given byte was consumed and the request is not complete yet.
    case needMoreInput
    /// The header section just ended. `request` holds the request line and headers (no content yet); call
    /// `parse` again, even with no new bytes, to continue with the content. This pause is where a server sends
    /// `100 Continue` (RFC 9110 §10.1.1).
    case headComplete
    /// The request is complete and available in `request`. Bytes after it were not consumed.
    case complete
    /// The request is invalid; the parser stays in this state until `reset()`.
    case failed(HTTPRequestError)

    /// A short English explanation.
    public var description: String {
        switch self {
        case .needMoreInput: return "need more input"
        case .headComplete: return "head complete"
        case .complete: return "complete"
        case .failed(let e): return "failed: \(e)"
        }
    }
}

/// The outcome of one `parse` call: how many bytes were consumed and what happened.
public struct HTTPParseStep: Hashable, Sendable {
    /// Bytes consumed from the front of the input (never more than were given).
    public var consumed: Int
    /// What the parser reached.
    public var result: HTTPParseResult
}

/// An incremental HTTP/1.1 request parser (RFC 9112).
///
/// Feed it bytes in pieces of any size, down to one byte at a time; the outcome never depends on where the input
/// was split (each decision is a function of the bytes seen so far). It stops consuming at the end of each
/// request, so pipelined requests stay in the caller's buffer, and it never reads beyond the input it was given.
///
/// Content is delivered **complete**: the body of a request (with any chunked coding removed) is buffered up to
/// `HTTPLimits.maxBodySize` and handed over with the request; there is no streaming of request content.
///
/// Accepted syntax, and where it is stricter than the grammar requires:
/// - Lines end in CRLF; a bare LF is accepted as a line terminator (RFC 9112 §2.2 permits it); a CR not followed
///   by LF is an error (`bareCarriageReturn`). Up to `maxLeadingEmptyLines` empty lines before a request are
///   skipped (RFC 9112 §2.2).
/// - Request line: exactly one SP between method, request-target and version (RFC 9112 §3). Targets in origin,
///   absolute (`http`/`https`), authority (CONNECT only) and asterisk (OPTIONS only) form.
/// - Field lines: `token ":" OWS value OWS`; no whitespace before the colon (RFC 9112 §5.1); a line starting with
///   whitespace is obsolete folding and rejected (RFC 9112 §5.2); values may hold VCHAR, obs-text, SP and HTAB.
/// - Framing (RFC 9112 §6.3): Transfer-Encoding must end in `chunked`, applied once; other codings before it get
///   501; Transfer-Encoding with Content-Length, or in HTTP/1.0, is refused; Content-Length must be one field of
///   digits only; a request with neither has no content.
/// - Chunked coding (RFC 9112 §7.1): hex sizes with overflow and limit checks, extensions checked for forbidden
///   bytes and ignored, trailer fields parsed like header fields and kept apart in `request.trailers`.
public struct HTTPRequestParser: Sendable {
    enum State: Sendable {
        case requestLine
        case headerLine
        case headComplete
        case fixedBody
        case chunkSize
        case chunkExtension
        case chunkSizeLF
        case chunkData
        case chunkDataCR
        case chunkDataLF
        case trailerLine
        case complete
        case failed(HTTPRequestError)
    }

    /// The limits this parser enforces.
    public let limits: HTTPLimits
    /// The request being parsed; complete once `parse` returned `.complete`.
    public private(set) var request = HTTPRequest()

    var state = State.requestLine
    /// Index in `request.head` where the line being accumulated starts.
    var lineStart = 0
    var emptyLines = 0
    /// Bytes of completed header and trailer field lines, terminators included.
    var fieldBytes = 0
    /// Bytes still expected: of the content (fixed length) or of the current chunk's data.
    var remaining = 0
    var chunkSize = 0
    var chunkLineLength = 0
    var chunkExtensionStarted = false

    /// `limits.maxBodySize` clamped to 0...2^56, so that size arithmetic can never overflow.
    let bodyLimit: Int

    /// Creates a parser enforcing `limits`.
    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
        bodyLimit = min(max(limits.maxBodySize, 0), 1 << 56)
    }

    /// Whether the parser holds part of a request: some bytes of it were consumed but it is not complete.
    public var hasPartialRequest: Bool {
        switch state {
        case .requestLine: return !request.head.isEmpty
        case .complete, .failed: return false
        default: return true
        }
    }

    /// Whether the last request completed (`request` is valid).
    public var isComplete: Bool {
        if case .complete = state { return true }
        return false
    }

    /// Forgets everything and waits for a new request. Buffers keep their capacity.
    public mutating func reset() {
        request.head.removeAll()
        request.records.removeAll(keepingCapacity: true)
        request.body.removeAll(keepingCapacity: true)
        request.headerRecordCount = 0
        request.method = .get
        request.version = .http1_1
        request.targetForm = .origin
        request.contentLength = nil
        request.isChunked = false
        request.expectsContinue = false
        request.keepAlive = true
        request.hasQuery = false
        state = .requestLine
        lineStart = 0
        emptyLines = 0
        fieldBytes = 0
        remaining = 0
        chunkSize = 0
        chunkLineLength = 0
        chunkExtensionStarted = false
    }

    /// Consumes bytes from the front of `input` until the request's head or the whole request is complete, the
    /// input is exhausted, or an error is found. After `.complete`, the next call starts a new request.
    public mutating func parse(_ input: UnsafeRawBufferPointer) -> HTTPParseStep {
        if case .complete = state { reset() }
        var i = 0
        let n = input.count
        while true {
            switch state {
            case .failed(let error):
                return HTTPParseStep(consumed: i, result: .failed(error))
            case .complete:
                return HTTPParseStep(consumed: i, result: .complete)
            case .headComplete:
                beginContent()
                continue
            case .requestLine, .headerLine, .trailerLine:
                if i == n { return HTTPParseStep(consumed: i, result: .needMoreInput) }
                let lineDone = accumulateLine(input, &i)
                if let error = lineDone ? finishLine() : checkPartialLine() {
                    state = .failed(error)
                    continue
                }
                if case .headComplete = state { return HTTPParseStep(consumed: i, result: .headComplete) }
            case .fixedBody, .chunkData:
                if i == n { return HTTPParseStep(consumed: i, result: .needMoreInput) }
                let take = min(remaining, n - i)
                request.body.appendBytes(UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                i += take
                remaining -= take
                if remaining == 0 {
                    if case .fixedBody = state { state = .complete } else { state = .chunkDataCR }
                }
            case .chunkSize, .chunkExtension, .chunkSizeLF, .chunkDataCR, .chunkDataLF:
                if i == n { return HTTPParseStep(consumed: i, result: .needMoreInput) }
                let byte = input[i]
                i += 1
                if let error = chunkFraming(byte) { state = .failed(error) }
            }
        }
    }

    // MARK: - Lines

    /// Appends input up to and excluding the next LF to `head`; consumes the LF too. True if a line ended.
    ///
    /// Appends at most one byte more than the current line's budget (its limit plus a possible CR), so that
    /// `head` never grows beyond the limits whatever the size of `input`; `checkPartialLine` then refuses it.
    private mutating func accumulateLine(_ input: UnsafeRawBufferPointer, _ i: inout Int) -> Bool {
        let budget: Int
        if case .requestLine = state {
            budget = limits.maxRequestLineLength
        } else {
            budget = limits.maxHeaderBytes - fieldBytes
        }
        let room = budget > Int.max / 2 ? Int.max / 2 : max(budget + 2 - (request.head.count - lineStart), 1)
        var j = i
        let n = input.count - i <= room ? input.count : i + room
        while j < n && input[j] != HTTPSyntax.lf { j += 1 }
        if j > i { request.head.appendBytes(UnsafeRawBufferPointer(rebasing: input[i..<j])) }
        if j < n {
            i = j + 1
            return true
        }
        i = j
        return false
    }

    /// Length of the line being accumulated, not counting a final CR (it may be the first half of CRLF).
    private var partialLineLength: Int {
        let raw = request.head.count - lineStart
        return raw > 0 && request.head[request.head.count - 1] == HTTPSyntax.cr ? raw - 1 : raw
    }

    /// Enforces the length limits on an unfinished line, so that memory stays bounded.
    private func checkPartialLine() -> HTTPRequestError? {
        switch state {
        case .requestLine:
            if partialLineLength > limits.maxRequestLineLength { return .requestLineTooLong }
        case .headerLine, .trailerLine:
            if fieldBytes + partialLineLength > limits.maxHeaderBytes { return .headerSectionTooLarge }
        default: break
        }
        return nil
    }

    /// Handles a complete line (its LF consumed, not stored; a final CR is removed here).
    private mutating func finishLine() -> HTTPRequestError? {
        var terminator = 1
        if request.head.count > lineStart && request.head[request.head.count - 1] == HTTPSyntax.cr {
            request.head.removeLast()
            terminator = 2
        }
        let length = request.head.count - lineStart
        switch state {
        case .requestLine:
            if length == 0 {
                emptyLines += 1
                return emptyLines > limits.maxLeadingEmptyLines ? .tooManyEmptyLines : nil
            }
            if length > limits.maxRequestLineLength { return .requestLineTooLong }
            if let error = parseRequestLine() { return error }
            lineStart = request.head.count
            state = .headerLine
            return nil
        case .headerLine, .trailerLine:
            let isTrailer: Bool
            if case .trailerLine = state { isTrailer = true } else { isTrailer = false }
            if length == 0 {
                if isTrailer {
                    state = .complete
                    return nil
                }
                request.headerRecordCount = request.records.count
                state = .headComplete
                return interpretHeaders()
            }
            fieldBytes += length + terminator
            if fieldBytes > limits.maxHeaderBytes { return .headerSectionTooLarge }
            if request.records.count + 1 > limits.maxHeaderCount { return .tooManyHeaderFields }
            if let error = parseFieldLine(start: lineStart, end: request.head.count) { return error }
            lineStart = request.head.count
            return nil
        default:
            return nil
        }
    }

    /// Offsets found in a request line.
    private struct RequestLine {
        var methodEnd: Int
        var targetStart: Int
        var targetEnd: Int
        var version: HTTPVersion
    }

    /// Parses `method SP request-target SP HTTP-version` in `head[0..<count]` (RFC 9112 §3).
    private mutating func parseRequestLine() -> HTTPRequestError? {
        let end = request.head.count
        let parsed = request.head.storage.withUnsafeBufferPointer { head in
            Self.scanRequestLine(UnsafeBufferPointer(rebasing: head[0..<end]))
        }
        let line: RequestLine
        switch parsed {
        case .success(let l): line = l
        case .failure(let e): return e
        }
        request.methodEnd = line.methodEnd
        request.targetStart = line.targetStart
        request.targetEnd = line.targetEnd
        request.version = line.version
        request.method = HTTPMethod(token: request.head[0..<line.methodEnd])
        return classifyTarget()
    }

    private static func scanRequestLine(_ head: UnsafeBufferPointer<UInt8>) -> Result<RequestLine, HTTPRequestError> {
        let end = head.count
        var i = 0
        while i < end && head[i] != HTTPSyntax.space { i += 1 }
        if i == 0 || i == end { return .failure(.malformedRequestLine) }
        for k in 0..<i where !HTTPSyntax.isTokenChar(head[k]) {
            return .failure(head[k] == HTTPSyntax.cr ? .bareCarriageReturn : .invalidMethod)
        }
        let methodEnd = i
        let targetStart = i + 1
        i = targetStart
        while i < end && head[i] != HTTPSyntax.space { i += 1 }
        if i == targetStart || i == end { return .failure(.malformedRequestLine) }
        let targetEnd = i
        for k in targetStart..<targetEnd where !HTTPSyntax.isTargetChar(head[k]) {
            return .failure(head[k] == HTTPSyntax.cr ? .bareCarriageReturn : .invalidTarget)
        }
        // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3); the name is case-sensitive.
        let v = targetEnd + 1
        guard end - v == 8, head[v] == 0x48, head[v + 1] == 0x54, head[v + 2] == 0x54, head[v + 3] == 0x50,
              head[v + 4] == HTTPSyntax.slash, head[v + 6] == HTTPSyntax.dot,
              head[v + 5] >= 0x30, head[v + 5] <= 0x39, head[v + 7] >= 0x30, head[v + 7] <= 0x39
        else {
            for k in v..<end where head[k] == HTTPSyntax.cr { return .failure(.bareCarriageReturn) }
            return .failure(.malformedVersion)
        }
        let version = HTTPVersion(major: head[v + 5] - 0x30, minor: head[v + 7] - 0x30)
        if version.major != 1 { return .failure(.unsupportedVersion(version)) }
        return .success(RequestLine(methodEnd: methodEnd, targetStart: targetStart, targetEnd: targetEnd, version: version))
    }

    /// Determines the target's form and locates its path and query (RFC 9112 §3.2).
    private mutating func classifyTarget() -> HTTPRequestError? {
        let start = request.targetStart
        let end = request.targetEnd
        var pathStart = start
        if request.method == .connect {
            // authority-form: host ":" port, nothing else.
            for k in start..<end where request.head[k] == HTTPSyntax.slash || request.head[k] == HTTPSyntax.question {
                return .invalidTarget
            }
            request.targetForm = .authority
            request.pathStart = end
            request.pathEnd = end
            return nil
        }
        if request.head[start] == HTTPSyntax.slash {
            request.targetForm = .origin
        } else if end - start == 1 && request.head[start] == 0x2A {
            guard request.method == .options else { return .invalidTarget }
            request.targetForm = .asterisk
            request.pathStart = end
            request.pathEnd = end
            return nil
        } else {
            // absolute-form: "http://" or "https://" (scheme is case-insensitive, RFC 3986 §3.1), authority, path.
            var k = start
            while k < end && request.head[k] != HTTPSyntax.colon { k += 1 }
                guard HTTPSyntax.equalsIgnoringCase(request.head[start..<k], "http")
                    || HTTPSyntax.equalsIgnoringCase(request.head[start..<k], "https"),
                  end - k >= 3, request.head[k + 1] == HTTPSyntax.slash, request.head[k + 2] == HTTPSyntax.slash
            else { return .invalidTarget }
            let authorityStart = k + 3
            k = authorityStart
            while k < end && request.head[k] != HTTPSyntax.slash && request.head[k] != HTTPSyntax.question { k += 1 }
            if k == authorityStart { return .invalidTarget }
            request.targetForm = .absolute
            pathStart = k
        }
        var q = pathStart
        while q < end && request.head[q] != HTTPSyntax.question { q += 1 }
        if q < end {
            request.hasQuery = true
            request.queryStart = q + 1
            request.queryEnd = end
        }
        if q == pathStart {
            // absolute-form without a path: its path is "/" (RFC 9110 §4.2.3). Keep one "/" after the line.
            request.head.append(HTTPSyntax.slash)
            request.pathStart = request.head.count - 1
            request.pathEnd = request.head.count
        } else {
            request.pathStart = pathStart
            request.pathEnd = q
        }
        return nil
    }

    /// Parses one field line in `head[start..<end]` and records it (RFC 9112 §5).
    private mutating func parseFieldLine(start: Int, end: Int) -> HTTPRequestError? {
        let parsed = request.head.storage.withUnsafeBufferPointer { Self.scanFieldLine($0, start: start, end: end) }
        switch parsed {
        case .success(let record):
            request.records.append(record)
            return nil
        case .failure(let e):
            return e
        }
    }

    private static func scanFieldLine(
        _ head: UnsafeBufferPointer<UInt8>, start: Int, end: Int
    ) -> Result<FieldRecord, HTTPRequestError> {
        if HTTPSyntax.isWhitespace(head[start]) { return .failure(.obsoleteLineFolding) }
        var colon = start
        while colon < end && head[colon] != HTTPSyntax.colon {
            if !HTTPSyntax.isTokenChar(head[colon]) {
                return .failure(head[colon] == HTTPSyntax.cr ? .bareCarriageReturn : .malformedHeaderField)
            }
            colon += 1
        }
        if colon == start || colon == end { return .failure(.malformedHeaderField) }
        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd && HTTPSyntax.isWhitespace(head[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && HTTPSyntax.isWhitespace(head[valueEnd - 1]) { valueEnd -= 1 }
        for k in valueStart..<valueEnd where !HTTPSyntax.isFieldValueChar(head[k]) {
            return .failure(head[k] == HTTPSyntax.cr ? .bareCarriageReturn : .malformedHeaderField)
        }
        return .success(FieldRecord(nameStart: start, nameEnd: colon, valueStart: valueStart, valueEnd: valueEnd))
    }

    // MARK: - Header semantics

    /// Applies the fields that matter to framing and connection management (RFC 9112 §3.2, §6, §9; RFC 9110
    /// §10.1.1) and decides how the content is delimited.
    private mutating func interpretHeaders() -> HTTPRequestError? {
        var hostCount = 0
        var contentLengthCount = 0
        var contentLength = 0
        var contentLengthValid = true
        var sawTransferEncoding = false
        var codingInvalid = false
        var lastCodingIsChunked = false
        var sawUnknownCoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var expectContinue = false
        let limit = bodyLimit
        let records = request.records
        let fieldCount = request.headerRecordCount
        // Scan over the raw storage: no slices to retain per field on this per-request path.
        request.head.storage.withUnsafeBufferPointer { head in
            for r in records[0..<fieldCount] {
                let name = head[r.nameStart..<r.nameEnd]
                let value = head[r.valueStart..<r.valueEnd]
                func hasName(_ lowercase: StaticString) -> Bool { HTTPSyntax.equalsIgnoringCase(name, lowercase) }
                switch name.count {
                case 4 where hasName("host"):
                    hostCount += 1
                case 6 where hasName("expect"):
                    if HTTPSyntax.listContains(value, "100-continue") { expectContinue = true }
                case 10 where hasName("connection"):
                    if HTTPSyntax.listContains(value, "close") { connectionClose = true }
                    if HTTPSyntax.listContains(value, "keep-alive") { connectionKeepAlive = true }
                case 14 where hasName("content-length"):
                    contentLengthCount += 1
                    // Content-Length = 1*DIGIT (RFC 9110 §8.6). Stop growing above the limit: it is refused anyway.
                    if value.isEmpty { contentLengthValid = false }
                    var length = 0
                    for b in value {
                        guard b >= 0x30 && b <= 0x39 else { contentLengthValid = false; break }
                        if length <= limit { length = length * 10 + Int(b - 0x30) }  // limit <= 2^56: no overflow
                    }
                    contentLength = length
                case 17 where hasName("transfer-encoding"):
                    sawTransferEncoding = true
                    HTTPSyntax.forEachListElement(value) { coding in
                        if lastCodingIsChunked { codingInvalid = true }  // chunked must be last, and only once
                        var k = coding.startIndex
                        while k < coding.endIndex && HTTPSyntax.isTokenChar(coding[k]) { k += 1 }
                        let name = coding[coding.startIndex..<k]
                        if name.isEmpty { codingInvalid = true }
                        if HTTPSyntax.equalsIgnoringCase(name, "chunked") {
                            if k != coding.endIndex { codingInvalid = true }  // chunked takes no parameters
                            lastCodingIsChunked = true
                        } else {
                            sawUnknownCoding = true
                            lastCodingIsChunked = false
                        }
                        return true
                    }
                default:
                    break
                }
            }
        }
        let version = request.version
        if !version.isAtLeast1_1 {
            if hostCount > 1 { return .invalidHost }
        } else if hostCount != 1 {
            return .invalidHost
        }
        if contentLengthCount > 1 || (contentLengthCount == 1 && !contentLengthValid) { return .invalidContentLength }
        if sawTransferEncoding {
            if !version.isAtLeast1_1 { return .transferEncodingInHTTP10 }
            if contentLengthCount > 0 { return .contentLengthWithTransferEncoding }
            if codingInvalid || !lastCodingIsChunked { return .invalidTransferEncoding }
            if sawUnknownCoding { return .unsupportedTransferCoding }
            request.isChunked = true
        } else if contentLengthCount == 1 {
            if contentLength > limit { return .bodyTooLarge }
            request.contentLength = contentLength
        }
        request.keepAlive = version.isAtLeast1_1 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        request.expectsContinue = expectContinue && version.isAtLeast1_1
        return nil
    }

    /// Leaves the `.headComplete` pause: sets up reading the content, if there is any.
    private mutating func beginContent() {
        if request.isChunked {
            startChunkLine()
        } else if let length = request.contentLength, length > 0 {
            remaining = length
            state = .fixedBody
        } else {
            state = .complete
        }
    }

    // MARK: - Chunked coding (RFC 9112 §7.1)

    private mutating func startChunkLine() {
        state = .chunkSize
        chunkSize = 0
        chunkLineLength = 0
        chunkExtensionStarted = false
    }

    /// Advances the chunk framing by one byte (everything except chunk data and trailer lines).
    private mutating func chunkFraming(_ byte: UInt8) -> HTTPRequestError? {
        switch state {
        case .chunkSize, .chunkExtension:
            if byte == HTTPSyntax.cr || byte == HTTPSyntax.lf {
                if chunkLineLength == 0 { return .malformedChunk }                   // no size digits
                if case .chunkExtension = state, !chunkExtensionStarted { return .malformedChunk }  // stray BWS
                if byte == HTTPSyntax.cr {
                    state = .chunkSizeLF
                    return nil
                }
                return endChunkLine()
            }
            chunkLineLength += 1
            if chunkLineLength > limits.maxChunkLineLength { return .chunkLineTooLong }
            if case .chunkSize = state, let digit = HTTPSyntax.hexValue(byte) {
                // chunkSize <= bodyLimit <= 2^56 before this digit, so this cannot overflow.
                chunkSize = chunkSize * 16 + digit
                if chunkSize > bodyLimit - request.body.count { return .bodyTooLarge }
                return nil
            }
            if chunkLineLength == 1 { return .malformedChunk }  // the line must start with a digit
            if case .chunkSize = state { state = .chunkExtension }
            // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): only whitespace may precede the first ";".
            if byte == HTTPSyntax.semicolon {
                chunkExtensionStarted = true
            } else if !HTTPSyntax.isWhitespace(byte) {
                if !chunkExtensionStarted || !HTTPSyntax.isFieldValueChar(byte) { return .malformedChunk }
            }
            return nil
        case .chunkSizeLF:
            guard byte == HTTPSyntax.lf else { return .bareCarriageReturn }
            return endChunkLine()
        case .chunkDataCR:
            if byte == HTTPSyntax.cr {
                state = .chunkDataLF
            } else if byte == HTTPSyntax.lf {
                startChunkLine()
            } else {
                return .malformedChunk
            }
            return nil
        case .chunkDataLF:
            guard byte == HTTPSyntax.lf else { return .bareCarriageReturn }
            startChunkLine()
            return nil
        default:
            return nil
        }
    }

    /// A chunk-size line ended: read its data, or the trailer section after the last chunk.
    private mutating func endChunkLine() -> HTTPRequestError? {
        if chunkSize == 0 {
            lineStart = request.head.count
            state = .trailerLine
        } else {
            remaining = chunkSize
            state = .chunkData
        }
        return nil
    }
}
