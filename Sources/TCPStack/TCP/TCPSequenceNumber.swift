import Interfaces

/// A TCP sequence number: a point on the circle of 2^32 values (RFC 9293 §3.4).
///
/// All arithmetic wraps modulo 2^32. Ordering is defined only between numbers less than 2^31 apart, which TCP
/// guarantees for every pair it compares (windows are at most 2^30 bytes, RFC 7323 §2.3): `a < b` means that `b`
/// lies in the half circle after `a`. The ordering is therefore not transitive over the whole circle; never sort
/// sequence numbers that span more than 2^31.
public struct TCPSeqNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 32-bit value as carried in the header.
    public var rawValue: UInt32

    /// Wraps a raw 32-bit value.
    @inline(__always)
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// The number `n` positions after `a` (before it when `n` is negative), modulo 2^32.
    @inline(__always)
    public static func + (a: TCPSeqNumber, n: Int) -> TCPSeqNumber {
        TCPSeqNumber(a.rawValue &+ UInt32(truncatingIfNeeded: n))
    }

    /// The number `n` positions before `a`, modulo 2^32.
    @inline(__always)
    public static func - (a: TCPSeqNumber, n: Int) -> TCPSeqNumber {
        TCPSeqNumber(a.rawValue &- UInt32(truncatingIfNeeded: n))
    }

    /// Advances `a` by `n` positions.
    @inline(__always)
    public static func += (a: inout TCPSeqNumber, n: Int) { a = a + n }

    /// The signed distance from `b` to `a` (positive when `a` is after `b`), in -2^31 ..< 2^31.
    @inline(__always)
    public static func - (a: TCPSeqNumber, b: TCPSeqNumber) -> Int {
        Int(Int32(bitPattern: a.rawValue &- b.rawValue))
    }

    /// Whether `a` comes before `b` on the circle (RFC 9293 §3.4: "=<" and "<" are modulo 2^32).
    @inline(__always)
    public static func < (a: TCPSeqNumber, b: TCPSeqNumber) -> Bool {
        Int32(bitPattern: a.rawValue &- b.rawValue) < 0
    }

    /// The later of two numbers.
    @inline(__always)
    public static func later(_ a: TCPSeqNumber, _ b: TCPSeqNumber) -> TCPSeqNumber { a < b ? b : a }

    /// The earlier of two numbers.
    @inline(__always)
    public static func earlier(_ a: TCPSeqNumber, _ b: TCPSeqNumber) -> TCPSeqNumber { a < b ? a : b }

    /// Whether `self` lies in the half-open interval `[start, end)` (modulo 2^32).
    @inline(__always)
    public func isIn(_ start: TCPSeqNumber, _ end: TCPSeqNumber) -> Bool {
        rawValue &- start.rawValue < end.rawValue &- start.rawValue
    }

    /// A readable rendering for logs.
    public var description: String { "\(rawValue)" }
}
