/// Where one field line's name and value lie in a request's head storage (indices into `HTTPRequest.head`).
struct FieldRecord: Sendable {
    var nameStart: Int
    var nameEnd: Int
    var valueStart: Int
    var valueEnd: Int
}

/// One header or trailer field: views of its name and value bytes.
///
/// The value has its surrounding whitespace removed (RFC 9112 §5.1). Both slices share the request's storage.
public struct HTTPField: Sendable {
    /// The field name as received (compare it ignoring ASCII case).
    public let name: ArraySlice<UInt8>
    /// The field value without leading or trailing whitespace.
    public let value: ArraySlice<UInt8>

    /// Whether the name equals `lowercaseName` ignoring ASCII case; `lowercaseName` must be lower-case.
    public func hasName(_ lowercaseName: StaticString) -> Bool {
        HTTPSyntax.equalsIgnoringCase(name, lowercaseName)
    }
}

/// The header (or trailer) fields of a request, in the order received. Lookups by name compare bytes,
/// ignoring ASCII case (field names are case-insensitive, RFC 9110 §5.1).
public struct HTTPFields: RandomAccessCollection, Sendable {
    let head: [UInt8]
    let records: ArraySlice<FieldRecord>

    /// The position of the first field.
    public var startIndex: Int { records.startIndex }
    /// The position after the last field.
    public var endIndex: Int { records.endIndex }

    /// The field at `position` (startIndex..<endIndex).
    public subscript(position: Int) -> HTTPField {
        let r = records[position]
        return HTTPField(name: head[r.nameStart..<r.nameEnd], value: head[r.valueStart..<r.valueEnd])
    }

    /// The value of the first field named `lowercaseName` (lower-case ASCII), or nil.
    public func first(_ lowercaseName: StaticString) -> ArraySlice<UInt8>? {
        for field in self where field.hasName(lowercaseName) { return field.value }
        return nil
    }

    /// The value of the first field whose name equals `name` ignoring ASCII case, or nil.
    public func first<C: Collection>(named name: C) -> ArraySlice<UInt8>? where C.Element == UInt8 {
        for field in self where HTTPSyntax.equalsIgnoringCase(field.name, name) { return field.value }
        return nil
    }

    /// How many fields are named `lowercaseName` (lower-case ASCII).
    public func count(_ lowercaseName: StaticString) -> Int {
        var n = 0
        for field in self where field.hasName(lowercaseName) { n += 1 }
        return n
    }
}

/// The form of a request-target (RFC 9112 §3.2).
public enum HTTPTargetForm: Hashable, Sendable, CustomStringConvertible {
    /// `/path?query`: the usual form.
    case origin
    /// `http://host/path?query`: sent to proxies; servers must accept it too (RFC 9112 §3.2.2).
    case absolute
    /// `host:port`: only with CONNECT (RFC 9112 §3.2.3).
    case authority
    /// `*`: only with OPTIONS (RFC 9112 §3.2.4).
    case asterisk

    /// The form's name in RFC 9112.
    public var description: String {
        switch self {
        case .origin: return "origin-form"
        case .absolute: return "absolute-form"
        case .authority: return "authority-form"
        case .asterisk: return "asterisk-form"
        }
    }
}

/// A complete, validated request: request line, header fields, content and trailer fields.
///
/// Storage: the request line and field lines are kept in one byte array (`head`) and the decoded content in
/// another (`body`); every accessor returns a slice of them, so reading a request allocates nothing. A parser
/// reuses these arrays for the next request on the same connection, so a handler that lets its request go
/// before asking for the next one causes no allocation at all (copy-on-write keeps retained requests intact).
public struct HTTPRequest: Sendable {
    /// Request line and field lines as received (line terminators removed); fields point into it.
    var head = ByteBuffer()
    var records: [FieldRecord] = []
    /// How many of `records` are header fields; the rest are trailer fields.
    var headerRecordCount = 0
    var methodEnd = 0
    var targetStart = 0
    var targetEnd = 0
    var pathStart = 0
    var pathEnd = 0
    var queryStart = 0
    var queryEnd = 0
    var hasQuery = false

    /// The method.
    public internal(set) var method: HTTPMethod = .get
    /// The protocol version from the request line.
    public internal(set) var version: HTTPVersion = .http1_1
    /// The form of the request-target.
    public internal(set) var targetForm: HTTPTargetForm = .origin
    /// The content, with any chunked coding removed. Empty when the request has none.
    public internal(set) var body: [UInt8] = []
    /// The Content-Length value, if the request had one.
    public internal(set) var contentLength: Int?
    /// Whether the content arrived with the chunked transfer coding.
    public internal(set) var isChunked = false
    /// Whether the request carried `Expect: 100-continue` (HTTP/1.1 only; RFC 9110 §10.1.1).
    public internal(set) var expectsContinue = false
    /// Whether the client asked to keep the connection open after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3).
    public internal(set) var keepAlive = true

    /// Creates an empty request (used by the parser; all fields are filled while parsing).
    init() {}

    /// The method token as received (useful when `method` is `.other`).
    public var methodBytes: ArraySlice<UInt8> { head[0..<methodEnd] }

    /// The request-target exactly as received.
    public var target: ArraySlice<UInt8> { head[targetStart..<targetEnd] }

    /// The path: for origin-form the target up to `?`; for absolute-form the part after the authority
    /// (`/` when the URI has no path). Empty for authority-form and asterisk-form. Still percent-encoded;
    /// `HTTPStaticPath.normalize` decodes and resolves it.
    public var path: ArraySlice<UInt8> { head[pathStart..<pathEnd] }

    /// The query (after `?`, without it), or nil when the target has no `?`.
    public var query: ArraySlice<UInt8>? { hasQuery ? head[queryStart..<queryEnd] : nil }

    /// The header fields in received order.
    public var headers: HTTPFields { HTTPFields(head: head.storage, records: records[0..<headerRecordCount]) }

    /// The trailer fields of a chunked request, in received order (RFC 9112 §7.1.2). Not merged into `headers`.
    public var trailers: HTTPFields {
        HTTPFields(head: head.storage, records: records[headerRecordCount..<records.count])
    }

    /// Whether this is a HEAD request, whose response carries no content (RFC 9110 §9.3.2).
    public var isHead: Bool { method == .head }
}
