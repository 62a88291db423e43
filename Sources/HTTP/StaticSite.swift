import Interfaces

/// Why a request path cannot name a file under the site root.
public enum HTTPPathError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The path does not start with `/` (not origin-form).
    case notAbsolute
    /// A `%` not followed by two hexadecimal digits (RFC 3986 §2.1).
    case malformedPercentEncoding
    /// `%2F` or `%5C`: a separator hidden from segment splitting.
    case encodedSeparator
    /// A raw backslash (a separator on some file systems).
    case backslash
    /// NUL or another control byte, raw or percent-encoded.
    case controlCharacter
    /// Decoded bytes that are not well-formed UTF-8: overlong encodings (such as `%C0%AE` for `.`), surrogates,
    /// values above U+10FFFF, truncated or stray continuation bytes.
    case invalidUTF8
    /// Two slashes in a row (an empty segment) before the last segment.
    case emptySegment
    /// A `..` segment that would leave the root.
    case escapesRoot

    /// A short English explanation.
    public var description: String {
        switch self {
        case .notAbsolute: return "path does not start with /"
        case .malformedPercentEncoding: return "malformed percent-encoding"
        case .encodedSeparator: return "percent-encoded path separator"
        case .backslash: return "backslash in path"
        case .controlCharacter: return "control character in path"
        case .invalidUTF8: return "path is not well-formed UTF-8"
        case .emptySegment: return "empty path segment"
        case .escapesRoot: return "path escapes the root"
        }
    }

    /// The status to answer with: 400 for every case.
    public var status: HTTPStatus { .badRequest }
}

/// A request path made safe for looking up a file under a site root.
///
/// Invariants of `bytes`: it starts with `/`; its segments are non-empty, decoded exactly once, well-formed
/// UTF-8 without control bytes, `/` or `\`, and none is `.` or `..`; it ends with `/` only when it names a
/// directory (`isDirectory`), and is exactly `/` for the root. Joining it to a root therefore never leaves the
/// root.
public struct HTTPStaticPath: Hashable, Sendable {
    /// The normalized path.
    public let bytes: [UInt8]
    /// Whether the path ends with `/` (the request names a directory: serve its index).
    public let isDirectory: Bool

    /// The number of segments (0 for the root).
    public var segmentCount: Int {
        var n = 0
        for b in bytes where b == HTTPSyntax.slash { n += 1 }
        return isDirectory ? n - 1 : n
    }

    /// Normalizes a request path: the target is cut at `?` (the query is not part of the path); the rest is
    /// split at `/`, each segment percent-decoded once (RFC 3986 §2.1) and checked, `.` segments dropped and
    /// `..` segments resolved against the segments before them (RFC 3986 §5.2.4). Anything that could name a
    /// file outside the root, or name it ambiguously, is refused: see `HTTPPathError`. A final `/`, `/.` or
    /// `/..` makes the result a directory.
    public static func normalize<C: Collection>(_ target: C) throws(HTTPPathError) -> HTTPStaticPath
    where C.Element == UInt8 {
        var out: [UInt8] = [HTTPSyntax.slash]
        var segmentStarts: [Int] = []  // where each output segment begins in `out`
        var iterator = target.makeIterator()
        guard let first = iterator.next(), first == HTTPSyntax.slash else { throw .notAbsolute }
        var segment: [UInt8] = []
        var isDirectory = false
        var ended = false
        while !ended {
            // Collect one raw segment, decoding as we go.
            segment.removeAll(keepingCapacity: true)
            var terminatedBySlash = false
            while let b = iterator.next() {
                if b == HTTPSyntax.question || b == 0x23 { ended = true; break }
                if b == HTTPSyntax.slash { terminatedBySlash = true; break }
                var byte = b
                if b == HTTPSyntax.percent {
                    guard let h = iterator.next(), let hi = HTTPSyntax.hexValue(h),
                          let l = iterator.next(), let lo = HTTPSyntax.hexValue(l)
                    else { throw .malformedPercentEncoding }
                    byte = UInt8(hi * 16 + lo)
                    if byte == HTTPSyntax.slash || byte == 0x5C { throw .encodedSeparator }
                } else if b == 0x5C {
                    throw .backslash
                }
                if byte < 0x20 || byte == 0x7F { throw .controlCharacter }
                segment.append(byte)
            }
            if !terminatedBySlash { ended = true }
            let isLast = !terminatedBySlash
            guard segment.withUnsafeBytes({ UTF8Validation.isWellFormed($0) }) else { throw .invalidUTF8 }
            if segment.isEmpty {
                if !isLast { throw .emptySegment }
                isDirectory = true
            } else if segment.count == 1 && segment[0] == HTTPSyntax.dot {
                if isLast { isDirectory = true }
            } else if segment.count == 2 && segment[0] == HTTPSyntax.dot && segment[1] == HTTPSyntax.dot {
                guard let start = segmentStarts.popLast() else { throw .escapesRoot }
                out.removeSubrange((start == 1 ? 1 : start - 1)...)  // the segment and the slash before it
                if isLast { isDirectory = true }
            } else {
                if !segmentStarts.isEmpty { out.append(HTTPSyntax.slash) }
                segmentStarts.append(out.count)
                out.append(contentsOf: segment)
                isDirectory = false
            }
        }
        if segmentStarts.isEmpty {
            return HTTPStaticPath(bytes: [HTTPSyntax.slash], isDirectory: true)
        }
        if isDirectory { out.append(HTTPSyntax.slash) }
        return HTTPStaticPath(bytes: out, isDirectory: isDirectory)
    }
}

/// Media types for file extensions, for serving static files.
public enum HTTPContentType {
    /// The type for unknown extensions (RFC 2046 §4.5.1).
    public static let defaultType: StaticString = "application/octet-stream"

    /// The Content-Type for a path, chosen by the extension of its last segment (ASCII case ignored):
    /// html/htm, css, js/mjs, json, txt, md, xml, svg, png, jpg/jpeg, gif, webp, ico, wasm, pdf, woff, woff2.
    /// Text types carry `charset=utf-8`. Anything else, and names without an extension, get
    /// `application/octet-stream`.
    public static func forPath<C: BidirectionalCollection>(_ path: C) -> StaticString where C.Element == UInt8 {
        var dot = path.endIndex
        var i = path.endIndex
        while i != path.startIndex {
            let j = path.index(before: i)
            let b = path[j]
            if b == HTTPSyntax.slash { break }
            if b == HTTPSyntax.dot { dot = j; break }
            i = j
        }
        guard dot != path.endIndex else { return defaultType }
        // A leading dot names a hidden file, not an extension.
        if dot == path.startIndex || path[path.index(before: dot)] == HTTPSyntax.slash { return defaultType }
        return forExtension(path[path.index(after: dot)...])
    }

    /// The Content-Type for an extension without its dot (see `forPath`).
    public static func forExtension<C: Collection>(_ ext: C) -> StaticString where C.Element == UInt8 {
        func eq(_ name: StaticString) -> Bool { HTTPSyntax.equalsIgnoringCase(ext, name) }
        switch ext.count {
        case 2:
            if eq("js") { return "text/javascript; charset=utf-8" }
            if eq("md") { return "text/markdown; charset=utf-8" }
        case 3:
            if eq("htm") { return "text/html; charset=utf-8" }
            if eq("css") { return "text/css; charset=utf-8" }
            if eq("mjs") { return "text/javascript; charset=utf-8" }
            if eq("txt") { return "text/plain; charset=utf-8" }
            if eq("xml") { return "application/xml" }
            if eq("svg") { return "image/svg+xml" }
            if eq("png") { return "image/png" }
            if eq("jpg") { return "image/jpeg" }
            if eq("gif") { return "image/gif" }
            if eq("ico") { return "image/vnd.microsoft.icon" }
            if eq("pdf") { return "application/pdf" }
        case 4:
            if eq("html") { return "text/html; charset=utf-8" }
            if eq("json") { return "application/json" }
            if eq("jpeg") { return "image/jpeg" }
            if eq("webp") { return "image/webp" }
            if eq("wasm") { return "application/wasm" }
            if eq("woff") { return "font/woff" }
        case 5:
            if eq("woff2") { return "font/woff2" }
        default:
            break
        }
        return defaultType
    }
}
