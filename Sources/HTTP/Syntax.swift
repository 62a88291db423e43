/// Byte-level syntax helpers shared by the parser, the serializer and the static-site helpers.
///
/// Everything here works on `UInt8` values: HTTP syntax is defined over octets (RFC 9110 §5.6, RFC 9112 §2), and
/// comparing bytes instead of `String`s keeps the Unicode tables out of guest images.
enum HTTPSyntax {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
    static let slash: UInt8 = 0x2F
    static let question: UInt8 = 0x3F
    static let percent: UInt8 = 0x25
    static let dot: UInt8 = 0x2E

    /// Whether `b` is a `tchar` (RFC 9110 §5.6.2): the characters a `token` (method, field name) is made of.
    @inline(__always)
    static func isTokenChar(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true  // DIGIT, ALPHA
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E:
            return true  // ! # $ % & ' * + - . ^ _ ` | ~
        default: return false
        }
    }

    /// Whether `b` may appear inside a field value (RFC 9110 §5.5): VCHAR, obs-text, SP or HTAB.
    @inline(__always)
    static func isFieldValueChar(_ b: UInt8) -> Bool {
        b == tab || (b >= 0x20 && b != 0x7F)
    }

    /// Whether `b` is optional whitespace (OWS, RFC 9110 §5.6.3).
    @inline(__always)
    static func isWhitespace(_ b: UInt8) -> Bool { b == space || b == tab }

    /// Whether `b` may appear in a request-target: visible ASCII except `#` (a fragment is never sent,
    /// RFC 9110 §4.2.5). Controls, space, DEL and non-ASCII bytes must be percent-encoded (RFC 3986 §2).
    @inline(__always)
    static func isTargetChar(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7F && b != 0x23 }

    /// The value of a hexadecimal digit, or nil.
    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: return Int(b - 0x30)
        case 0x41...0x46: return Int(b - 0x41 + 10)
        case 0x61...0x66: return Int(b - 0x61 + 10)
        default: return nil
        }
    }

    /// ASCII lower-casing of one byte (letters only).
    @inline(__always)
    static func lowercased(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    /// Whether `bytes` equals `lowercaseName` ignoring ASCII case. `lowercaseName` must be lower-case ASCII.
    static func equalsIgnoringCase<C: Collection>(_ bytes: C, _ lowercaseName: StaticString) -> Bool
    where C.Element == UInt8 {
        lowercaseName.withUTF8Buffer { name in
            guard bytes.count == name.count else { return false }
            var i = 0
            for b in bytes {
                if lowercased(b) != name[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// Whether two byte collections are equal ignoring ASCII case.
    static func equalsIgnoringCase<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        guard a.count == b.count else { return false }
        var j = b.startIndex
        for x in a {
            if lowercased(x) != lowercased(b[j]) { return false }
            j = b.index(after: j)
        }
        return true
    }

    /// Calls `body` with each non-empty element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed.
    /// Stops early and returns false when `body` returns false.
    @discardableResult
    static func forEachListElement<C: Collection>(
        _ value: C, _ body: (C.SubSequence) -> Bool
    ) -> Bool where C.Element == UInt8, C.Index == Int {
        var start = value.startIndex
        while start <= value.endIndex {
            var end = start
            while end < value.endIndex && value[end] != comma { end += 1 }
            var lo = start
            var hi = end
            while lo < hi && isWhitespace(value[lo]) { lo += 1 }
            while hi > lo && isWhitespace(value[hi - 1]) { hi -= 1 }
            if lo < hi && !body(value[lo..<hi]) { return false }
            start = end + 1
        }
        return true
    }

    /// Whether a comma-separated list contains `token` (compared ignoring ASCII case).
    static func listContains<C: Collection>(_ value: C, _ token: StaticString) -> Bool
    where C.Element == UInt8, C.Index == Int {
        var found = false
        forEachListElement(value) { element in
            if equalsIgnoringCase(element, token) { found = true; return false }
            return true
        }
        return found
    }
}

extension Array where Element == UInt8 {
    /// Appends raw bytes with one copy (through a typed view, which `append(contentsOf:)` copies in bulk).
    @inline(__always)
    mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        bytes.withMemoryRebound(to: UInt8.self) { append(contentsOf: $0) }
    }
}

/// A reusable byte buffer: `storage` only grows (doubling), `count` bytes of it are in use. Writing is a bounds
/// check and a copy, with none of `Array.append`'s per-call overhead; clearing keeps the memory. Copies share
/// storage until written (copy-on-write through `storage`).
struct ByteBuffer: Sendable {
    var storage: [UInt8] = []
    /// Bytes in use: `storage[0..<count]`.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Reads a byte in use.
    @inline(__always)
    subscript(index: Int) -> UInt8 { storage[index] }

    /// The bytes in `range` (which must lie within `0..<count`) as a slice of the storage.
    @inline(__always)
    subscript(range: Range<Int>) -> ArraySlice<UInt8> { storage[range] }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if storage.count - count < extra { grow(count + extra) }
    }

    @inline(never)
    private mutating func grow(_ needed: Int) {
        let size = max(needed, storage.count * 2, 256)
        storage.append(contentsOf: repeatElement(0, count: size - storage.count))
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let source = bytes.baseAddress else { return }
        reserve(n)
        let at = count
        storage.withUnsafeMutableBytes { ($0.baseAddress! + at).copyMemory(from: source, byteCount: n) }
        count += n
    }

    mutating func removeLast() {
        if count > 0 { count -= 1 }
    }

    /// Forgets the bytes in use; the storage stays.
    mutating func removeAll() { count = 0 }
}
