import Interfaces
import Testing

@testable import HTTP

@Suite("Static-site path normalization and content types")
struct StaticSiteTests {
    static let valid: [(String, String)] = [
        ("/", "/"),
        ("/index.html", "/index.html"),
        ("/a/b/c.txt", "/a/b/c.txt"),
        ("/a/b/../c", "/a/c"),
        ("/a/./b", "/a/b"),
        ("/./a", "/a"),
        ("/a/b/", "/a/b/"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/a/b/..", "/a/"),
        ("/a/../b/../c/", "/c/"),
        ("/..a/b..", "/..a/b.."),
        ("/...", "/..."),
        ("/.hidden", "/.hidden"),
        ("/%7Euser/file%20name.txt", "/~user/file name.txt"),
        ("/caf%C3%A9/%e2%82%ac", "/café/€"),
        ("/\u{E9}t\u{E9}", "/été"),
        ("/%F0%9F%98%80", "/😀"),
        ("/%2e", "/"),
        ("/a/%2E%2e", "/"),
        ("/a/%2e%2E/b", "/b"),
        ("/index.html?x=/../../etc", "/index.html"),
        ("/dir/?q", "/dir/"),
        ("/a%252e%252e", "/a%2e%2e"),  // decoded exactly once
        ("/%252e%252e/x", "/%2e%2e/x"),
    ]

    @Test("valid paths normalize as expected", arguments: 0..<valid.count)
    func validPath(index: Int) throws {
        let (input, expected) = Self.valid[index]
        let path = try HTTPStaticPath.normalize(bytes(input))
        #expect(text(path.bytes) == expected, "\(input)")
        #expect(path.isDirectory == expected.hasSuffix("/"))
    }

    static let hostile: [(String, HTTPPathError)] = [
        ("", .notAbsolute),
        ("index.html", .notAbsolute),
        ("http://x/a", .notAbsolute),
        ("/..", .escapesRoot),
        ("/../etc/passwd", .escapesRoot),
        ("/a/../../etc/passwd", .escapesRoot),
        ("/%2e%2e/etc/passwd", .escapesRoot),
        ("/%2E%2E/%2e%2e/etc", .escapesRoot),
        ("/.%2e/x", .escapesRoot),
        ("/a/b/../../..", .escapesRoot),
        ("/a/./../..", .escapesRoot),
        ("/a%2fb", .encodedSeparator),
        ("/..%2f..%2fetc", .encodedSeparator),
        ("/%2F", .encodedSeparator),
        ("/a%5cb", .encodedSeparator),
        ("/..%5c..%5cwindows", .encodedSeparator),
        ("/a\\b", .backslash),
        ("/..\\..\\x", .backslash),
        ("//", .emptySegment),
        ("//etc/passwd", .emptySegment),
        ("/a//b", .emptySegment),
        ("/a/.//b", .emptySegment),
        ("/a%00b", .controlCharacter),
        ("/a%00", .controlCharacter),
        ("/a\u{0}b", .controlCharacter),
        ("/a%0d%0aSet-Cookie", .controlCharacter),
        ("/a%7f", .controlCharacter),
        ("/a%09", .controlCharacter),
        ("/%c0%ae%c0%ae/etc", .invalidUTF8),
        ("/%C0%AF", .invalidUTF8),
        ("/%c1%9c", .invalidUTF8),
        ("/%e0%80%ae", .invalidUTF8),
        ("/%f0%80%80%ae", .invalidUTF8),
        ("/%ed%a0%80", .invalidUTF8),
        ("/%f4%90%80%80", .invalidUTF8),
        ("/%f8%88%80%80%80", .invalidUTF8),
        ("/%80", .invalidUTF8),
        ("/%c3", .invalidUTF8),
        ("/%e2%82", .invalidUTF8),
        ("/%c3%28", .invalidUTF8),
        ("/%", .malformedPercentEncoding),
        ("/%2", .malformedPercentEncoding),
        ("/%zz", .malformedPercentEncoding),
        ("/%%32%65", .malformedPercentEncoding),
        ("/a%2", .malformedPercentEncoding),
    ]

    @Test("hostile paths are refused with the right error", arguments: 0..<hostile.count)
    func hostilePath(index: Int) {
        let (input, expected) = Self.hostile[index]
        #expect(throws: expected, "\(input.debugDescription)") { try HTTPStaticPath.normalize(bytes(input)) }
        #expect(expected.status.code == 400)
    }

    @Test("raw non-UTF-8 bytes are refused")
    func rawInvalidBytes() {
        #expect(throws: HTTPPathError.invalidUTF8) { try HTTPStaticPath.normalize([0x2F, 0xC0, 0xAE]) }
        #expect(throws: HTTPPathError.invalidUTF8) { try HTTPStaticPath.normalize([0x2F, 0xFF]) }
    }

    @Test("normalization works directly on a request's path")
    func fromRequest() throws {
        let r = try #require(parse(bytes("GET /docs/../img/%6Cogo.PNG?v=2 HTTP/1.1\r\nHost: h\r\n\r\n")).request)
        var parser = HTTPRequestParser()
        let raw = bytes("GET /docs/../img/%6Cogo.PNG?v=2 HTTP/1.1\r\nHost: h\r\n\r\n")
        _ = raw.withUnsafeBytes { parser.parse($0) }
        let path = try HTTPStaticPath.normalize(parser.request.path)
        #expect(text(path.bytes) == "/img/logo.PNG")
        #expect(r.path == "/docs/../img/%6Cogo.PNG")
        #expect(HTTPContentType.forPath(path.bytes).description == "image/png")
        #expect(path.segmentCount == 2)
        #expect(try HTTPStaticPath.normalize(bytes("/")).segmentCount == 0)
        #expect(try HTTPStaticPath.normalize(bytes("/a/b/")).segmentCount == 2)
    }

    /// A reference normalizer written the obvious way with Strings and arrays (the model).
    static func model(_ input: [UInt8]) -> Result<String, HTTPPathError> {
        var raw = input
        if let q = raw.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) { raw = Array(raw[..<q]) }
        guard raw.first == UInt8(ascii: "/") else { return .failure(.notAbsolute) }
        let rawSegments = raw.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        var stack: [[UInt8]] = []
        var directory = false
        for (index, seg) in rawSegments.enumerated() {
            let last = index == rawSegments.count - 1
            var decoded: [UInt8] = []
            var k = seg.startIndex
            while k < seg.endIndex {
                let b = seg[k]
                if b == UInt8(ascii: "%") {
                    guard k + 2 < seg.endIndex,
                          seg[(k + 1)...(k + 2)].allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                          let v = UInt8(String(decoding: seg[(k + 1)...(k + 2)], as: UTF8.self), radix: 16)
                    else { return .failure(.malformedPercentEncoding) }
                    if v == UInt8(ascii: "/") || v == UInt8(ascii: "\\") { return .failure(.encodedSeparator) }
                    if v < 0x20 || v == 0x7F { return .failure(.controlCharacter) }
                    decoded.append(v)
                    k += 3
                } else {
                    if b == UInt8(ascii: "\\") { return .failure(.backslash) }
                    if b < 0x20 || b == 0x7F { return .failure(.controlCharacter) }
                    decoded.append(b)
                    k += 1
                }
            }
            if String(validating: decoded, as: UTF8.self) == nil { return .failure(.invalidUTF8) }
            switch String(decoding: decoded, as: UTF8.self) {
            case "":
                if !last { return .failure(.emptySegment) }
                directory = true
            case ".":
                if last { directory = true }
            case "..":
                if stack.popLast() == nil { return .failure(.escapesRoot) }
                if last { directory = true }
            default:
                stack.append(decoded)
                directory = false
            }
        }
        if stack.isEmpty { return .success("/") }
        return .success("/" + stack.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/") + (directory ? "/" : ""))
    }

    @Test("random hostile paths: never escape, and agree with the reference model")
    func randomPaths() {
        let pieces = ["/", "/", "/", "a", "b", "c.txt", ".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2f", "%5c", "\\",
                      "%00", "%c0%ae", "%c0%af", "%e2%82%ac", "%C3%A9", "%", "%4", "%41", "?", "x?y/../..", "...",
                      "%ed%a0%80", "%f4%90%80%80", "%+1", "%0a", "\u{E9}", "%e2", "%82"]
        let rng = SeededEntropy(seed: 0x9A7)
        var accepted = 0
        for _ in 0..<20_000 {
            var s = rng.next64() % 8 == 0 ? "" : "/"
            for _ in 0..<(1 + Int(rng.next64() % 8)) { s += pieces[Int(rng.next64() % UInt64(pieces.count))] }
            let input = bytes(s)
            let expected = Self.model(input)
            do {
                let path = try HTTPStaticPath.normalize(input)
                accepted += 1
                #expect(expected == .success(text(path.bytes)), "\(s)")
                // Invariants: absolute, no empty/dot segments, no separators or controls inside segments.
                let p = path.bytes
                #expect(p.first == UInt8(ascii: "/"))
                let segments = p.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                for (i, seg) in segments.enumerated() {
                    if seg.isEmpty { #expect(i == segments.count - 1, "\(s)") }
                    #expect(!(seg.elementsEqual(bytes(".")) || seg.elementsEqual(bytes(".."))), "\(s)")
                    #expect(!seg.contains(UInt8(ascii: "\\")) && !seg.contains { $0 < 0x20 }, "\(s)")
                }
            } catch {
                #expect(expected == .failure(error), "\(s)")
            }
        }
        #expect(accepted > 1000)
    }

    @Test("content types by extension, case-insensitive, default octet-stream")
    func contentTypes() {
        let table: [(String, String)] = [
            ("/index.html", "text/html; charset=utf-8"), ("/a.HTM", "text/html; charset=utf-8"),
            ("/s.css", "text/css; charset=utf-8"), ("/app.js", "text/javascript; charset=utf-8"),
            ("/m.mjs", "text/javascript; charset=utf-8"), ("/d.json", "application/json"),
            ("/r.txt", "text/plain; charset=utf-8"), ("/i.png", "image/png"), ("/p.jpg", "image/jpeg"),
            ("/p.JPEG", "image/jpeg"), ("/g.gif", "image/gif"), ("/v.svg", "image/svg+xml"),
            ("/favicon.ico", "image/vnd.microsoft.icon"), ("/m.wasm", "application/wasm"),
            ("/doc.pdf", "application/pdf"), ("/feed.xml", "application/xml"), ("/f.woff2", "font/woff2"),
            ("/f.woff", "font/woff"), ("/w.webp", "image/webp"), ("/README.md", "text/markdown; charset=utf-8"),
            ("/archive.tar.gz", "application/octet-stream"), ("/noext", "application/octet-stream"),
            ("/.html", "application/octet-stream"), ("/dir.html/file", "application/octet-stream"),
            ("/trailingdot.", "application/octet-stream"), ("", "application/octet-stream"),
            ("page.html", "text/html; charset=utf-8"), ("/x.htmlx", "application/octet-stream"),
        ]
        for (path, type) in table {
            #expect(HTTPContentType.forPath(bytes(path)).description == type, "\(path)")
        }
        #expect(HTTPContentType.forExtension(bytes("PNG")).description == "image/png")
    }
}
