/// An HTTP protocol version as it appears in a request line (`HTTP-version`, RFC 9112 §2.3).
///
/// Only major version 1 is served; the parser answers any other major version with 505.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The major version digit.
    public var major: UInt8
    /// The minor version digit.
    public var minor: UInt8

    /// Creates a version from its two digits (each 0...9 in the wire syntax).
    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0 (RFC 1945): connections close after each response unless the client asks for keep-alive.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1 (RFC 9112): persistent connections by default.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// Whether this version has HTTP/1.1 semantics (persistence, chunked coding, 1xx responses): 1.1 and
    /// any later 1.x minor version (RFC 9110 §6.2: minor versions are backwards compatible).
    public var isAtLeast1_1: Bool { major == 1 && minor >= 1 }

    /// `HTTP/<major>.<minor>`.
    public var description: String { "HTTP/\(Int(major)).\(Int(minor))" }
}

/// A request method (RFC 9110 §9). Methods are case-sensitive tokens; any token other than the standard ones
/// is `.other` and its bytes are available from `HTTPRequest.methodBytes`.
public enum HTTPMethod: Hashable, Sendable, CustomStringConvertible {
    /// GET (RFC 9110 §9.3.1).
    case get
    /// HEAD: GET without content in the response (RFC 9110 §9.3.2).
    case head
    /// POST (RFC 9110 §9.3.3).
    case post
    /// PUT (RFC 9110 §9.3.4).
    case put
    /// DELETE (RFC 9110 §9.3.5).
    case delete
    /// CONNECT (RFC 9110 §9.3.6); its target is in authority-form.
    case connect
    /// OPTIONS (RFC 9110 §9.3.7); may target `*`.
    case options
    /// TRACE (RFC 9110 §9.3.8).
    case trace
    /// PATCH (RFC 5789).
    case patch
    /// A syntactically valid method token that is none of the above.
    case other

    /// Classifies a method token (compared byte for byte: methods are case-sensitive, RFC 9110 §9.1).
    public init<C: Collection>(token: C) where C.Element == UInt8 {
        func eq(_ name: StaticString) -> Bool {
            name.withUTF8Buffer { n in token.count == n.count && token.elementsEqual(n) }
        }
        switch token.count {
        case 3: self = eq("GET") ? .get : eq("PUT") ? .put : .other
        case 4: self = eq("HEAD") ? .head : eq("POST") ? .post : .other
        case 5: self = eq("PATCH") ? .patch : eq("TRACE") ? .trace : .other
        case 6: self = eq("DELETE") ? .delete : .other
        case 7: self = eq("CONNECT") ? .connect : eq("OPTIONS") ? .options : .other
        default: self = .other
        }
    }

    /// The method's name as sent on the wire (`OTHER` for `.other`).
    public var description: String {
        switch self {
        case .get: return "GET"
        case .head: return "HEAD"
        case .post: return "POST"
        case .put: return "PUT"
        case .delete: return "DELETE"
        case .connect: return "CONNECT"
        case .options: return "OPTIONS"
        case .trace: return "TRACE"
        case .patch: return "PATCH"
        case .other: return "OTHER"
        }
    }
}

/// A response status: a three-digit code and its reason phrase (RFC 9110 §15, RFC 9112 §4).
///
/// Invariant: `code` is in 100...999. The reason phrase is a static string so that serializing a status costs
/// no allocation; it must not contain CR or LF.
public struct HTTPStatus: Sendable, CustomStringConvertible {
    /// The status code.
    public let code: Int
    /// The reason phrase sent after the code.
    public let reasonPhrase: StaticString

    /// Creates a status; `code` must be in 100...999 (a programming error otherwise).
    public init(code: Int, reasonPhrase: StaticString) {
        precondition(code >= 100 && code <= 999, "HTTP status code out of range")
        self.code = code
        self.reasonPhrase = reasonPhrase
    }

    /// Whether the status is informational (1xx): not a final response.
    public var isInformational: Bool { code < 200 }

    /// Whether a response with this status never has content (RFC 9110 §6.4.1: 1xx, 204, 304).
    public var forbidsContent: Bool { code < 200 || code == 204 || code == 304 }

    /// `<code> <reason>`.
    public var description: String { "\(code) \(reasonPhrase.description)" }

    /// 100 Continue (RFC 9110 §15.2.1).
    public static let `continue` = HTTPStatus(code: 100, reasonPhrase: "Continue")
    /// 200 OK (RFC 9110 §15.3.1).
    public static let ok = HTTPStatus(code: 200, reasonPhrase: "OK")
    /// 201 Created (RFC 9110 §15.3.2).
    public static let created = HTTPStatus(code: 201, reasonPhrase: "Created")
    /// 202 Accepted (RFC 9110 §15.3.3).
    public static let accepted = HTTPStatus(code: 202, reasonPhrase: "Accepted")
    /// 204 No Content (RFC 9110 §15.3.5).
    public static let noContent = HTTPStatus(code: 204, reasonPhrase: "No Content")
    /// 206 Partial Content (RFC 9110 §15.3.7).
    public static let partialContent = HTTPStatus(code: 206, reasonPhrase: "Partial Content")
    /// 301 Moved Permanently (RFC 9110 §15.4.2).
    public static let movedPermanently = HTTPStatus(code: 301, reasonPhrase: "Moved Permanently")
    /// 302 Found (RFC 9110 §15.4.3).
    public static let found = HTTPStatus(code: 302, reasonPhrase: "Found")
    /// 303 See Other (RFC 9110 §15.4.4).
    public static let seeOther = HTTPStatus(code: 303, reasonPhrase: "See Other")
    /// 304 Not Modified (RFC 9110 §15.4.5).
    public static let notModified = HTTPStatus(code: 304, reasonPhrase: "Not Modified")
    /// 307 Temporary Redirect (RFC 9110 §15.4.8).
    public static let temporaryRedirect = HTTPStatus(code: 307, reasonPhrase: "Temporary Redirect")
    /// 308 Permanent Redirect (RFC 9110 §15.4.9).
    public static let permanentRedirect = HTTPStatus(code: 308, reasonPhrase: "Permanent Redirect")
    /// 400 Bad Request (RFC 9110 §15.5.1).
    public static let badRequest = HTTPStatus(code: 400, reasonPhrase: "Bad Request")
    /// 401 Unauthorized (RFC 9110 §15.5.2).
    public static let unauthorized = HTTPStatus(code: 401, reasonPhrase: "Unauthorized")
    /// 403 Forbidden (RFC 9110 §15.5.4).
    public static let forbidden = HTTPStatus(code: 403, reasonPhrase: "Forbidden")
    /// 404 Not Found (RFC 9110 §15.5.5).
    public static let notFound = HTTPStatus(code: 404, reasonPhrase: "Not Found")
    /// 405 Method Not Allowed (RFC 9110 §15.5.6).
    public static let methodNotAllowed = HTTPStatus(code: 405, reasonPhrase: "Method Not Allowed")
    /// 408 Request Timeout (RFC 9110 §15.5.9).
    public static let requestTimeout = HTTPStatus(code: 408, reasonPhrase: "Request Timeout")
    /// 409 Conflict (RFC 9110 §15.5.10).
    public static let conflict = HTTPStatus(code: 409, reasonPhrase: "Conflict")
    /// 411 Length Required (RFC 9110 §15.5.12).
    public static let lengthRequired = HTTPStatus(code: 411, reasonPhrase: "Length Required")
    /// 413 Content Too Large (RFC 9110 §15.5.14).
    public static let contentTooLarge = HTTPStatus(code: 413, reasonPhrase: "Content Too Large")
    /// 414 URI Too Long (RFC 9110 §15.5.15).
    public static let uriTooLong = HTTPStatus(code: 414, reasonPhrase: "URI Too Long")
    /// 415 Unsupported Media Type (RFC 9110 §15.5.16).
    public static let unsupportedMediaType = HTTPStatus(code: 415, reasonPhrase: "Unsupported Media Type")
    /// 417 Expectation Failed (RFC 9110 §15.5.18).
    public static let expectationFailed = HTTPStatus(code: 417, reasonPhrase: "Expectation Failed")
    /// 431 Request Header Fields Too Large (RFC 6585 §5).
    public static let requestHeaderFieldsTooLarge =
        HTTPStatus(code: 431, reasonPhrase: "Request Header Fields Too Large")
    /// 500 Internal Server Error (RFC 9110 §15.6.1).
    public static let internalServerError = HTTPStatus(code: 500, reasonPhrase: "Internal Server Error")
    /// 501 Not Implemented (RFC 9110 §15.6.2).
    public static let notImplemented = HTTPStatus(code: 501, reasonPhrase: "Not Implemented")
    /// 503 Service Unavailable (RFC 9110 §15.6.4).
    public static let serviceUnavailable = HTTPStatus(code: 503, reasonPhrase: "Service Unavailable")
    /// 505 HTTP Version Not Supported (RFC 9110 §15.6.6).
    public static let httpVersionNotSupported = HTTPStatus(code: 505, reasonPhrase: "HTTP Version Not Supported")
}

extension HTTPStatus: Equatable {
    /// Statuses are equal when their codes are (the reason phrase is advisory, RFC 9112 §4).
    public static func == (a: HTTPStatus, b: HTTPStatus) -> Bool { a.code == b.code }
}

/// Bounds on what one request may use (memory, parsing work). All counts are in bytes unless named otherwise.
///
/// A limit is inclusive: a request exactly at a limit is accepted, one byte (or field) more is refused with the
/// status listed for it.
public struct HTTPLimits: Sendable {
    /// Longest request line, excluding its CRLF (414 when exceeded).
    public var maxRequestLineLength: Int
    /// Most header fields in one request; trailer fields count too (431 when exceeded).
    public var maxHeaderCount: Int
    /// Most bytes in the header section: every field line including its line terminator, from the byte after the
    /// request line's terminator up to (not including) the empty line that ends the section. Trailer field lines
    /// count toward the same budget (431 when exceeded).
    public var maxHeaderBytes: Int
    /// Largest request content after removing the chunked coding (413 when exceeded).
    public var maxBodySize: Int
    /// Longest chunk-size line (size digits and any chunk extensions, excluding CRLF) (400 when exceeded).
    public var maxChunkLineLength: Int
    /// Most empty lines accepted before a request line (RFC 9112 §2.2 lets servers skip them) (400 beyond).
    public var maxLeadingEmptyLines: Int

    /// Creates limits; the defaults suit small services (8 KiB request line, 100 fields in 16 KiB, 1 MiB body).
    public init(
        maxRequestLineLength: Int = 8192,
        maxHeaderCount: Int = 100,
        maxHeaderBytes: Int = 16384,
        maxBodySize: Int = 1 << 20,
        maxChunkLineLength: Int = 1024,
        maxLeadingEmptyLines: Int = 8
    ) {
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderCount = maxHeaderCount
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodySize = maxBodySize
        self.maxChunkLineLength = maxChunkLineLength
        self.maxLeadingEmptyLines = maxLeadingEmptyLines
    }
}

/// Why a request was refused. Each case maps to the status the server answers with (`status`); after any of
/// them the connection is closed, because the framing of whatever follows can no longer be trusted.
public enum HTTPRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A CR not followed by LF (RFC 9112 §2.2).
    case bareCarriageReturn
    /// More empty lines before the request line than `maxLeadingEmptyLines`.
    case tooManyEmptyLines
    /// The request line is not `method SP request-target SP HTTP-version` (RFC 9112 §3).
    case malformedRequestLine
    /// The method is not a token (RFC 9110 §9.1).
    case invalidMethod
    /// The request-target is empty, has a forbidden byte, or is in a form not allowed for the method
    /// (RFC 9112 §3.2).
    case invalidTarget
    /// The version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3).
    case malformedVersion
    /// A well-formed version whose major number is not 1 (505, RFC 9110 §15.6.6).
    case unsupportedVersion(HTTPVersion)
    /// The request line is longer than `maxRequestLineLength` (414, RFC 9110 §15.5.15).
    case requestLineTooLong
    /// A field line is not `field-name ":" OWS field-value OWS` or has a forbidden byte (RFC 9112 §5).
    case malformedHeaderField
    /// A field line starting with whitespace: obsolete line folding, or whitespace before the first field
    /// (RFC 9112 §5.2, §2.2).
    case obsoleteLineFolding
    /// More field lines than `maxHeaderCount` (431, RFC 6585 §5).
    case tooManyHeaderFields
    /// More header bytes than `maxHeaderBytes` (431, RFC 6585 §5).
    case headerSectionTooLarge
    /// An HTTP/1.1 request without a Host field, or any request with more than one (RFC 9112 §3.2).
    case invalidHost
    /// A Content-Length that is not a single run of digits, or that appears more than once (RFC 9112 §6.3;
    /// RFC 9110 §8.6 allows rejecting repeated values, which this parser always does).
    case invalidContentLength
    /// Both Transfer-Encoding and Content-Length (RFC 9112 §6.3 item 3: a smuggling risk; refused).
    case contentLengthWithTransferEncoding
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: the framing is faulty).
    case transferEncodingInHTTP10
    /// Transfer-Encoding whose final coding is not `chunked`, `chunked` applied twice, or a malformed coding
    /// (400, RFC 9112 §6.3 item 4, §7).
    case invalidTransferEncoding
    /// A transfer coding other than `chunked` before the final `chunked` (501, RFC 9112 §6.1).
    case unsupportedTransferCoding
    /// Request content larger than `maxBodySize` (413, RFC 9110 §15.5.14).
    case bodyTooLarge
    /// The chunked framing is malformed: bad size, missing CRLF after data, bad extension bytes (RFC 9112 §7.1).
    case malformedChunk
    /// A chunk-size line longer than `maxChunkLineLength`.
    case chunkLineTooLong

    /// The status of the error response (400 unless noted on the case).
    public var status: HTTPStatus {
        switch self {
        case .requestLineTooLong: return .uriTooLong
        case .tooManyHeaderFields, .headerSectionTooLarge: return .requestHeaderFieldsTooLarge
        case .bodyTooLarge: return .contentTooLarge
        case .unsupportedTransferCoding: return .notImplemented
        case .unsupportedVersion: return .httpVersionNotSupported
        default: return .badRequest
        }
    }

    /// A short English explanation.
    public var description: String {
        switch self {
        case .bareCarriageReturn: return "bare CR in the message"
        case .tooManyEmptyLines: return "too many empty lines before the request line"
        case .malformedRequestLine: return "malformed request line"
        case .invalidMethod: return "invalid method"
        case .invalidTarget: return "invalid request-target"
        case .malformedVersion: return "malformed HTTP version"
        case .unsupportedVersion(let v): return "unsupported version \(v)"
        case .requestLineTooLong: return "request line too long"
        case .malformedHeaderField: return "malformed header field"
        case .obsoleteLineFolding: return "obsolete line folding"
        case .tooManyHeaderFields: return "too many header fields"
        case .headerSectionTooLarge: return "header section too large"
        case .invalidHost: return "missing or repeated Host"
        case .invalidContentLength: return "invalid Content-Length"
        case .contentLengthWithTransferEncoding: return "both Content-Length and Transfer-Encoding"
        case .transferEncodingInHTTP10: return "Transfer-Encoding in an HTTP/1.0 request"
        case .invalidTransferEncoding: return "invalid Transfer-Encoding"
        case .unsupportedTransferCoding: return "unsupported transfer coding"
        case .bodyTooLarge: return "content too large"
        case .malformedChunk: return "malformed chunked framing"
        case .chunkLineTooLong: return "chunk-size line too long"
        }
    }
}
