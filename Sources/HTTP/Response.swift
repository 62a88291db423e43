import Interfaces

/// Bytes for a response: a static string (no allocation), a byte array, or a `String`.
///
/// String literals become `.staticString`, which is what a fixed response should use: serializing it copies
/// bytes from the binary's read-only data without touching the heap.
public enum HTTPBytes: ExpressibleByStringLiteral, Sendable {
    /// Bytes of a string literal.
    case staticString(StaticString)
    /// Bytes in an array.
    case bytes([UInt8])
    /// The UTF-8 bytes of a string.
    case string(String)

    /// No bytes.
    public static var empty: HTTPBytes { .staticString("") }

    /// Wraps a string literal.
    public init(stringLiteral value: StaticString) { self = .staticString(value) }

    /// The number of bytes.
    public var count: Int {
        switch self {
        case .staticString(let s): return s.utf8CodeUnitCount
        case .bytes(let b): return b.count
        case .string(let s): return s.utf8.count
        }
    }

    /// Calls `body` with the bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .staticString(let s):
            return s.withUTF8Buffer { body(UnsafeRawBufferPointer($0)) }
        case .bytes(let b):
            return b.withUnsafeBytes(body)
        case .string(let s):
            return s.withUTF8Bytes(body)
        }
    }
}

/// One response header field.
public struct HTTPHeaderField: Sendable {
    /// The field name: a token (RFC 9110 §5.1).
    public var name: HTTPBytes
    /// The field value: VCHAR, obs-text, SP and HTAB only, no CR or LF (RFC 9110 §5.5).
    public var value: HTTPBytes

    /// Creates a field.
    public init(name: HTTPBytes, value: HTTPBytes) {
        self.name = name
        self.value = value
    }

    /// Whether the name is a token and the value holds only allowed bytes without surrounding whitespace.
    /// Serializing an invalid field is refused: a CR or LF in a value would let it inject headers.
    public var isValid: Bool {
        let nameOK = name.withUnsafeBytes { n in
            !n.isEmpty && n.allSatisfy { HTTPSyntax.isTokenChar($0) }
        }
        return nameOK && HTTPHeaderField.isValidValue(value)
    }

    static func isValidValue(_ value: HTTPBytes) -> Bool {
        value.withUnsafeBytes { v in
            if v.isEmpty { return true }
            if HTTPSyntax.isWhitespace(v[0]) || HTTPSyntax.isWhitespace(v[v.count - 1]) { return false }
            return v.allSatisfy { HTTPSyntax.isFieldValueChar($0) }
        }
    }
}

/// A response: status, header fields and content.
///
/// The server adds the framing itself: `Content-Length` (or chunked coding when streaming), `Connection`,
/// and optionally `Server` and `Date`. Fields named Content-Length, Transfer-Encoding or Connection in `headers`
/// are therefore not sent; a `Connection` field containing `close` closes the connection after the response, as
/// `closeConnection` does. The same response can answer GET and HEAD: for HEAD the content is left out but
/// Content-Length still announces its size (RFC 9110 §9.3.2).
public struct HTTPResponse: Sendable {
    /// The status (must be final: 200...999; a 1xx status is answered with 500 instead).
    public var status: HTTPStatus
    /// The Content-Type value, sent when not nil (kept out of `headers` so that a typical response needs no
    /// array).
    public var contentType: HTTPBytes?
    /// Further header fields, sent in order after Server, Date and Content-Type.
    public var headers: [HTTPHeaderField]
    /// The content (not sent for HEAD requests and for 204 and 304 responses).
    public var body: HTTPBytes
    /// Close the connection after this response.
    public var closeConnection: Bool

    /// Creates a response.
    public init(
        status: HTTPStatus = .ok, contentType: HTTPBytes? = nil, headers: [HTTPHeaderField] = [],
        body: HTTPBytes = .empty, closeConnection: Bool = false
    ) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
        self.closeConnection = closeConnection
    }

    /// Whether every field (and the content type) may be serialized.
    public var hasValidFields: Bool {
        if let type = contentType, !HTTPHeaderField.isValidValue(type) { return false }
        for field in headers where !field.isValid { return false }
        return true
    }

    /// Whether a `Connection` field in `headers` contains the `close` option.
    public var headersRequestClose: Bool {
        for field in headers {
            let isConnection = field.name.withUnsafeBytes { HTTPSyntax.equalsIgnoringCase($0, "connection") }
            guard isConnection else { continue }
            let close = field.value.withUnsafeBytes { HTTPSyntax.listContains($0, "close") }
            if close { return true }
        }
        return false
    }
}

/// How the end of a response's content is marked (RFC 9112 §6.3).
public enum HTTPResponseFraming: Hashable, Sendable {
    /// `Content-Length: n` followed by exactly n bytes (or no bytes for HEAD).
    case contentLength(Int)
    /// `Transfer-Encoding: chunked`; content follows as chunks (HTTP/1.1 clients only).
    case chunked
    /// Neither: the status has no content (1xx, 204, 304), or the content ends when the connection closes.
    case none
}

/// What the `Connection` field of a response says (RFC 9112 §9.3, §9.6).
public enum HTTPConnectionDirective: Hashable, Sendable {
    /// No Connection field: the version's default applies.
    case none
    /// `Connection: close`: the server closes after this response.
    case close
    /// `Connection: keep-alive`: persistence announced to an HTTP/1.0 client (RFC 9112 Appendix C.2.2).
    case keepAlive
}

/// Why a response could not be serialized.
public enum HTTPEncodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A header name is not a token, or a value holds a forbidden byte (CR, LF, NUL, ...).
    case invalidField
    /// The caller-provided buffer is too small for the response.
    case bufferTooSmall

    /// A short English explanation.
    public var description: String {
        switch self {
        case .invalidField: return "invalid header field"
        case .bufferTooSmall: return "buffer too small"
        }
    }
}

/// A destination for serialized bytes.
protocol HTTPByteSink {
    mutating func write(_ byte: UInt8)
    mutating func write(_ bytes: UnsafeRawBufferPointer)
}

extension HTTPByteSink {
    mutating func write(_ s: StaticString) {
        s.withUTF8Buffer { write(UnsafeRawBufferPointer($0)) }
    }

    mutating func writeBytes(_ b: HTTPBytes) {
        b.withUnsafeBytes { write($0) }
    }

    mutating func writeDecimal(_ value: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = UInt(max(value, 0))
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - count] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
                count += 1
            } while v > 0
            write(UnsafeRawBufferPointer(rebasing: d[(20 - count)...]))
        }
    }

    mutating func writeHex(_ value: Int) {
        let v = UInt(max(value, 0))
        var shift = 0
        while shift < 60 && (v >> (shift + 4)) != 0 { shift += 4 }
        while true {
            let nibble = UInt8(truncatingIfNeeded: (v >> shift) & 0xF)
            write(nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10)
            if shift == 0 { break }
            shift -= 4
        }
    }

    mutating func writeCRLF() {
        write("\r\n")
    }
}

extension ByteBuffer: HTTPByteSink {
    mutating func write(_ byte: UInt8) { append(byte) }
    mutating func write(_ bytes: UnsafeRawBufferPointer) { appendBytes(bytes) }
}

extension Array: HTTPByteSink where Element == UInt8 {
    mutating func write(_ byte: UInt8) { append(byte) }
    mutating func write(_ bytes: UnsafeRawBufferPointer) { appendBytes(bytes) }
}

/// A sink over a caller-provided buffer; records overflow instead of writing past the end.
struct FixedBufferSink: HTTPByteSink {
    let buffer: UnsafeMutableRawBufferPointer
    var count = 0
    var overflowed = false

    mutating func write(_ byte: UInt8) {
        guard count < buffer.count else { overflowed = true; return }
        buffer[count] = byte
        count += 1
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= buffer.count - count else { overflowed = true; return }
        if let base = buffer.baseAddress, let src = bytes.baseAddress, !bytes.isEmpty {
            (base + count).copyMemory(from: src, byteCount: bytes.count)
        }
        count += bytes.count
    }
}

/// Serializes responses (RFC 9112 §4, §6): status line, fields, framing and content.
///
/// Responses always carry `HTTP/1.1` in the status line, the highest version this server conforms to
/// (RFC 9110 §6.2), also when answering an HTTP/1.0 request.
public struct HTTPResponseEncoder: Sendable {
    /// The `Server` field value sent with each response (RFC 9110 §10.2.4), or nil for none. A `Server` field
    /// in a response's `headers` replaces it.
    public var serverName: [UInt8]?

    /// Creates an encoder that sends `serverName` (nil: no Server field). It must be a valid field value.
    public init(serverName: [UInt8]? = nil) {
        self.serverName = serverName
    }

    /// Appends the head of `response` to `buffer`: status line, fields, the framing chosen by `framing`, the
    /// Connection field chosen by `connection`, and the empty line. Nothing is appended when a field is
    /// invalid.
    public func encodeHead(
        _ response: HTTPResponse, framing: HTTPResponseFraming, connection: HTTPConnectionDirective,
        date: WallTime? = nil, into buffer: inout [UInt8]
    ) throws(HTTPEncodeError) {
        guard response.hasValidFields else { throw .invalidField }
        writeHead(response, framing: framing, connection: connection, date: date, into: &buffer)
    }

    /// Appends a complete response with `Content-Length` to `buffer`; for a HEAD request (`isHeadRequest`) or a
    /// status without content the content is left out. Nothing is appended when a field is invalid.
    public func encode(
        _ response: HTTPResponse, isHeadRequest: Bool = false, connection: HTTPConnectionDirective = .none,
        date: WallTime? = nil, into buffer: inout [UInt8]
    ) throws(HTTPEncodeError) {
        guard response.hasValidFields else { throw .invalidField }
        writeComplete(response, isHeadRequest: isHeadRequest, connection: connection, date: date, into: &buffer)
    }

    /// Writes a complete response into a caller-provided buffer and returns the number of bytes written.
    /// Throws `.bufferTooSmall` when it does not fit (the buffer's contents are then unspecified).
    public func encode(
        _ response: HTTPResponse, isHeadRequest: Bool = false, connection: HTTPConnectionDirective = .none,
        date: WallTime? = nil, into buffer: UnsafeMutableRawBufferPointer
    ) throws(HTTPEncodeError) -> Int {
        guard response.hasValidFields else { throw .invalidField }
        var sink = FixedBufferSink(buffer: buffer)
        writeComplete(response, isHeadRequest: isHeadRequest, connection: connection, date: date, into: &sink)
        if sink.overflowed { throw .bufferTooSmall }
        return sink.count
    }

    /// Appends one chunk of chunked content: size in hex, CRLF, data, CRLF (RFC 9112 §7.1). An empty `data`
    /// appends nothing (a zero-size chunk would end the content).
    public static func encodeChunk(_ data: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        writeChunk(data, into: &buffer)
    }

    static func writeChunk<S: HTTPByteSink>(_ data: UnsafeRawBufferPointer, into buffer: inout S) {
        guard !data.isEmpty else { return }
        buffer.writeHex(data.count)
        buffer.writeCRLF()
        buffer.write(data)
        buffer.writeCRLF()
    }

    /// Appends the last chunk and an empty trailer section: `0` CRLF CRLF.
    public static func encodeLastChunk(into buffer: inout [UInt8]) {
        buffer.write("0\r\n\r\n")
    }

    static func writeLastChunk<S: HTTPByteSink>(into buffer: inout S) {
        buffer.write("0\r\n\r\n")
    }

    func writeComplete<S: HTTPByteSink>(
        _ response: HTTPResponse, isHeadRequest: Bool, connection: HTTPConnectionDirective, date: WallTime?,
        into sink: inout S
    ) {
        let noContent = response.status.forbidsContent
        let framing: HTTPResponseFraming = noContent ? .none : .contentLength(response.body.count)
        writeHead(response, framing: framing, connection: connection, date: date, into: &sink)
        if !noContent && !isHeadRequest { sink.writeBytes(response.body) }
    }

    func writeHead<S: HTTPByteSink>(
        _ response: HTTPResponse, framing: HTTPResponseFraming, connection: HTTPConnectionDirective,
        date: WallTime?, into sink: inout S
    ) {
        sink.write("HTTP/1.1 ")
        sink.writeDecimal(response.status.code)
        sink.write(HTTPSyntax.space)
        sink.write(response.status.reasonPhrase)
        sink.writeCRLF()
        var ownServer = false
        var ownDate = false
        for field in response.headers {
            field.name.withUnsafeBytes { n in
                if HTTPSyntax.equalsIgnoringCase(n, "server") { ownServer = true }
                if HTTPSyntax.equalsIgnoringCase(n, "date") { ownDate = true }
            }
        }
        if !ownServer, let server = serverName {
            sink.write("Server: ")
            server.withUnsafeBytes { sink.write($0) }
            sink.writeCRLF()
        }
        if !ownDate, let date {
            HTTPDate.write(date, into: &sink)
        }
        if let type = response.contentType {
            sink.write("Content-Type: ")
            sink.writeBytes(type)
            sink.writeCRLF()
        }
        for field in response.headers {
            let framingField = field.name.withUnsafeBytes { n in
                HTTPSyntax.equalsIgnoringCase(n, "content-length")
                    || HTTPSyntax.equalsIgnoringCase(n, "transfer-encoding")
                    || HTTPSyntax.equalsIgnoringCase(n, "connection")
            }
            if framingField { continue }
            sink.writeBytes(field.name)
            sink.write(": ")
            sink.writeBytes(field.value)
            sink.writeCRLF()
        }
        switch framing {
        case .contentLength(let length):
            sink.write("Content-Length: ")
            sink.writeDecimal(length)
            sink.writeCRLF()
        case .chunked:
            sink.write("Transfer-Encoding: chunked\r\n")
        case .none:
            break
        }
        switch connection {
        case .none: break
        case .close: sink.write("Connection: close\r\n")
        case .keepAlive: sink.write("Connection: keep-alive\r\n")
        }
        sink.writeCRLF()
    }
}
