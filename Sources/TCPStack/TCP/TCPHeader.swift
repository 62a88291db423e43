import Interfaces

// TCP segment wire format (RFC 9293 §3.1) with the options of RFC 9293 §3.2 (EOL, NOP, MSS), RFC 7323 (window
// scale, timestamps) and RFC 2018 (SACK-permitted, SACK).
//
// `TCPSegmentView` is a view over received bytes whose length is checked once in its initializer; afterwards no
// accessor can trap. `TCPHeader` is the value representation: `parse` from a view, `emit` into a buffer.

/// The control bits of a TCP header (RFC 9293 §3.1; ECE and CWR from RFC 3168).
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The bits as carried.
    public var rawValue: UInt8
    /// Flags from their bits as carried in the header.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// No more data from sender.
    public static let fin = TCPFlags(rawValue: 0x01)
    /// Synchronize sequence numbers.
    public static let syn = TCPFlags(rawValue: 0x02)
    /// Reset the connection.
    public static let rst = TCPFlags(rawValue: 0x04)
    /// Push function.
    public static let psh = TCPFlags(rawValue: 0x08)
    /// Acknowledgment field is significant.
    public static let ack = TCPFlags(rawValue: 0x10)
    /// Urgent pointer field is significant.
    public static let urg = TCPFlags(rawValue: 0x20)
    /// ECN-Echo (RFC 3168); never set by this implementation.
    public static let ece = TCPFlags(rawValue: 0x40)
    /// Congestion Window Reduced (RFC 3168); never set by this implementation.
    public static let cwr = TCPFlags(rawValue: 0x80)

    /// The set names, e.g. `SYN|ACK`.
    public var description: String {
        var text = ""
        func add(_ flag: TCPFlags, _ name: String) {
            if contains(flag) {
                if !text.isEmpty { text += "|" }
                text += name
            }
        }
        add(.syn, "SYN"); add(.fin, "FIN"); add(.rst, "RST"); add(.psh, "PSH"); add(.ack, "ACK")
        add(.urg, "URG"); add(.ece, "ECE"); add(.cwr, "CWR")
        return text.isEmpty ? "-" : text
    }
}

/// Why received bytes are not a valid TCP segment.
public enum TCPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than 20 bytes.
    case truncatedHeader(length: Int)
    /// The data offset is below 5 words or points past the end of the bytes.
    case badDataOffset(words: Int, length: Int)
    /// The checksum over the pseudo-header and segment does not verify.
    case badChecksum
    /// An option's length byte is missing, below 2, or runs past the option space (RFC 9293 §3.2).
    case truncatedOption(kind: UInt8, offset: Int)
    /// A known option has the wrong length for its kind.
    case badOptionLength(kind: UInt8, length: Int)

    /// A readable rendering for logs.
    public var description: String {
        switch self {
        case .truncatedHeader(let length): return "TCP header truncated (\(length) bytes)"
        case .badDataOffset(let words, let length): return "TCP data offset \(words) words invalid for \(length) bytes"
        case .badChecksum: return "TCP checksum mismatch"
        case .truncatedOption(let kind, let offset): return "TCP option \(kind) truncated at offset \(offset)"
        case .badOptionLength(let kind, let length): return "TCP option \(kind) has invalid length \(length)"
        }
    }
}

/// One SACK block: the received range `[start, end)` (RFC 2018 §3).
public struct TCPSackBlock: Hashable, Sendable, CustomStringConvertible {
    /// First sequence number of the block.
    public var start: TCPSeqNumber
    /// Sequence number immediately following the last byte of the block.
    public var end: TCPSeqNumber

    /// Creates the block `[start, end)`.
    public init(start: TCPSeqNumber, end: TCPSeqNumber) {
        self.start = start
        self.end = end
    }

    /// A readable rendering for logs.
    public var description: String { "[\(start),\(end))" }
}

/// Up to four SACK blocks, stored inline (no heap). A TCP option space of 40 bytes holds at most four blocks,
/// three when timestamps are present (RFC 2018 §3).
public struct TCPSackBlockList: Hashable, Sendable {
    /// The most blocks one segment can carry.
    public static let capacity = 4
    private var b0 = TCPSackBlock(start: TCPSeqNumber(0), end: TCPSeqNumber(0))
    private var b1 = TCPSackBlock(start: TCPSeqNumber(0), end: TCPSeqNumber(0))
    private var b2 = TCPSackBlock(start: TCPSeqNumber(0), end: TCPSeqNumber(0))
    private var b3 = TCPSackBlock(start: TCPSeqNumber(0), end: TCPSeqNumber(0))
    /// Number of blocks held, 0...4.
    public private(set) var count: Int = 0

    /// An empty list.
    public init() {}

    /// Whether the list holds no block.
    public var isEmpty: Bool { count == 0 }

    /// The block at `index` (0 ..< count); out-of-range indices return an empty block at 0 rather than trapping.
    public subscript(index: Int) -> TCPSackBlock {
        switch index {
        case 0: return b0
        case 1: return b1
        case 2: return b2
        case 3: return b3
        default: return TCPSackBlock(start: TCPSeqNumber(0), end: TCPSeqNumber(0))
        }
    }

    /// Appends a block; returns false (and changes nothing) when four are already held.
    @discardableResult
    public mutating func append(_ block: TCPSackBlock) -> Bool {
        switch count {
        case 0: b0 = block
        case 1: b1 = block
        case 2: b2 = block
        case 3: b3 = block
        default: return false
        }
        count += 1
        return true
    }

    /// Removes every block.
    public mutating func removeAll() { count = 0 }

    /// Equal when the same blocks are held in the same order.
    public static func == (a: TCPSackBlockList, b: TCPSackBlockList) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
    }

    /// Hashes the held blocks.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for i in 0..<count { hasher.combine(self[i]) }
    }
}

/// The RFC 7323 §3 Timestamps option.
public struct TCPTimestampOption: Hashable, Sendable {
    /// TSval: the sender's timestamp clock.
    public var value: UInt32
    /// TSecr: the echoed TS.Recent (significant only with ACK).
    public var echoReply: UInt32

    /// Creates a timestamps option.
    public init(value: UInt32, echoReply: UInt32) {
        self.value = value
        self.echoReply = echoReply
    }
}

/// The options of one segment, decoded. Unknown options are skipped on parse and never emitted.
public struct TCPOptions: Hashable, Sendable {
    /// Maximum Segment Size (kind 2, RFC 9293 §3.7.1); only meaningful on SYN segments.
    public var maximumSegmentSize: UInt16?
    /// Window scale shift count (kind 3, RFC 7323 §2). Parsed values above 14 are reduced to 14 (§2.3).
    public var windowScale: UInt8?
    /// SACK-permitted (kind 4, RFC 2018 §2); only meaningful on SYN segments.
    public var sackPermitted: Bool = false
    /// Timestamps (kind 8, RFC 7323 §3).
    public var timestamp: TCPTimestampOption?
    /// SACK blocks (kind 5, RFC 2018 §3), in the order carried.
    public var sackBlocks = TCPSackBlockList()

    /// No options.
    public init() {}

    /// Option kinds (IANA "TCP Option Kind Numbers").
    enum Kind {
        static let endOfList: UInt8 = 0
        static let noOperation: UInt8 = 1
        static let maximumSegmentSize: UInt8 = 2
        static let windowScale: UInt8 = 3
        static let sackPermitted: UInt8 = 4
        static let sack: UInt8 = 5
        static let timestamp: UInt8 = 8
    }

    /// Decodes the option bytes of a header (everything between the fixed 20 bytes and the data offset).
    ///
    /// Rejects (RFC 9293 §3.2, "MUST handle an illegal option length without crashing") an option whose length
    /// byte is missing, below 2 or past the end, and known options with a length that does not match their kind.
    /// Unknown kinds are skipped by their length; End of Option List stops parsing.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(TCPParseError) -> TCPOptions {
        var options = TCPOptions()
        let n = bytes.count
        if n == 0 { return options }
        // The layout of nearly every segment of a connection with timestamps (RFC 7323 Appendix A): NOP, NOP,
        // Timestamps. Decoded directly; anything else takes the general loop.
        if n == 12 && bytes[0] == Kind.noOperation && bytes[1] == Kind.noOperation && bytes[2] == Kind.timestamp
            && bytes[3] == 10 {
            options.timestamp = TCPTimestampOption(value: readUInt32(bytes, 4), echoReply: readUInt32(bytes, 8))
            return options
        }
        var i = 0
        while i < n {
            let kind = bytes[i]
            if kind == Kind.endOfList { break }
            if kind == Kind.noOperation {
                i += 1
                continue
            }
            guard i + 1 < n else { throw .truncatedOption(kind: kind, offset: i) }
            let length = Int(bytes[i + 1])
            guard length >= 2, i + length <= n else { throw .truncatedOption(kind: kind, offset: i) }
            switch kind {
            case Kind.maximumSegmentSize:
                guard length == 4 else { throw .badOptionLength(kind: kind, length: length) }
                options.maximumSegmentSize = UInt16(bytes[i + 2]) << 8 | UInt16(bytes[i + 3])
            case Kind.windowScale:
                guard length == 3 else { throw .badOptionLength(kind: kind, length: length) }
                options.windowScale = min(bytes[i + 2], 14)
            case Kind.sackPermitted:
                guard length == 2 else { throw .badOptionLength(kind: kind, length: length) }
                options.sackPermitted = true
            case Kind.sack:
                guard length >= 10, (length - 2) % 8 == 0 else { throw .badOptionLength(kind: kind, length: length) }
                var blocks = TCPSackBlockList()
                var j = i + 2
                while j + 8 <= i + length {
                    blocks.append(TCPSackBlock(start: TCPSeqNumber(readUInt32(bytes, j)),
                                               end: TCPSeqNumber(readUInt32(bytes, j + 4))))
                    j += 8
                }
                options.sackBlocks = blocks
            case Kind.timestamp:
                guard length == 10 else { throw .badOptionLength(kind: kind, length: length) }
                options.timestamp = TCPTimestampOption(value: readUInt32(bytes, i + 2),
                                                       echoReply: readUInt32(bytes, i + 6))
            default:
                break
            }
            i += length
        }
        return options
    }

    /// The number of bytes `encode` writes: a multiple of 4, at most 40 when at most 3 SACK blocks accompany a
    /// timestamp (the connection code never asks for more).
    public var encodedLength: Int {
        var length = 0
        if maximumSegmentSize != nil { length += 4 }
        if windowScale != nil { length += 4 }
        if timestamp != nil { length += 12 } else if sackPermitted { length += 4 }
        if !sackBlocks.isEmpty { length += 4 + 8 * sackBlocks.count }
        return length
    }

    /// Writes the options, NOP-padded so that 4-byte fields stay aligned, into `buffer`, which must hold at
    /// least `encodedLength` bytes. Returns the number of bytes written (`encodedLength`).
    @discardableResult
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var i = 0
        func put(_ b: UInt8) {
            buffer[i] = b
            i += 1
        }
        func put32(_ v: UInt32) {
            put(UInt8(v >> 24)); put(UInt8((v >> 16) & 0xff)); put(UInt8((v >> 8) & 0xff)); put(UInt8(v & 0xff))
        }
        if let mss = maximumSegmentSize {
            put(Kind.maximumSegmentSize); put(4); put(UInt8(mss >> 8)); put(UInt8(mss & 0xff))
        }
        if let shift = windowScale {
            put(Kind.noOperation); put(Kind.windowScale); put(3); put(shift)
        }
        if let ts = timestamp {
            if sackPermitted {
                put(Kind.sackPermitted); put(2)
            } else {
                put(Kind.noOperation); put(Kind.noOperation)
            }
            put(Kind.timestamp); put(10); put32(ts.value); put32(ts.echoReply)
        } else if sackPermitted {
            put(Kind.noOperation); put(Kind.noOperation); put(Kind.sackPermitted); put(2)
        }
        if !sackBlocks.isEmpty {
            put(Kind.noOperation); put(Kind.noOperation); put(Kind.sack); put(UInt8(2 + 8 * sackBlocks.count))
            for k in 0..<sackBlocks.count {
                put32(sackBlocks[k].start.rawValue)
                put32(sackBlocks[k].end.rawValue)
            }
        }
        return i
    }
}

@inline(__always)
func readUInt32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
        | UInt32(bytes[offset + 3])
}

@inline(__always)
func readUInt16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
}

@inline(__always)
func writeUInt16(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt16) {
    bytes[offset] = UInt8(value >> 8)
    bytes[offset + 1] = UInt8(value & 0xff)
}

@inline(__always)
func writeUInt32(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt32) {
    bytes[offset] = UInt8(value >> 24)
    bytes[offset + 1] = UInt8((value >> 16) & 0xff)
    bytes[offset + 2] = UInt8((value >> 8) & 0xff)
    bytes[offset + 3] = UInt8(value & 0xff)
}

/// A received TCP segment, viewed in place.
///
/// Invariant (established by `init(checking:)`): `bytes.count >= 20` and `20 <= headerLength <= bytes.count`, so
/// every accessor below reads in bounds. The view does not own the bytes; it is valid only as long as they are.
public struct TCPSegmentView {
    /// The whole segment: header, options and payload.
    public let bytes: UnsafeRawBufferPointer
    /// Header length in bytes (data offset × 4), 20...60.
    public let headerLength: Int

    /// Checks the fixed header and the data offset (RFC 9293 §3.1); the checksum and options are checked
    /// separately (`verifyChecksum`, `parseOptions`).
    public init(checking bytes: UnsafeRawBufferPointer) throws(TCPParseError) {
        guard bytes.count >= 20 else { throw .truncatedHeader(length: bytes.count) }
        let words = Int(bytes[12] >> 4)
        guard words >= 5, words * 4 <= bytes.count else { throw .badDataOffset(words: words, length: bytes.count) }
        self.bytes = bytes
        self.headerLength = words * 4
    }

    /// Source port.
    public var sourcePort: UInt16 { readUInt16(bytes, 0) }
    /// Destination port.
    public var destinationPort: UInt16 { readUInt16(bytes, 2) }
    /// Sequence number of the first octet (or of the SYN).
    public var sequenceNumber: TCPSeqNumber { TCPSeqNumber(readUInt32(bytes, 4)) }
    /// Acknowledgment number (significant when `.ack` is set).
    public var acknowledgmentNumber: TCPSeqNumber { TCPSeqNumber(readUInt32(bytes, 8)) }
    /// Control bits.
    public var flags: TCPFlags { TCPFlags(rawValue: bytes[13]) }
    /// Window field, unscaled.
    public var window: UInt16 { readUInt16(bytes, 14) }
    /// Checksum field.
    public var checksum: UInt16 { readUInt16(bytes, 16) }
    /// Urgent pointer field.
    public var urgentPointer: UInt16 { readUInt16(bytes, 18) }
    /// The option bytes (may be empty).
    public var optionBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[20..<headerLength]) }
    /// The payload bytes (may be empty).
    public var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[headerLength...]) }

    /// Decodes the options (see `TCPOptions.parse`).
    public func parseOptions() throws(TCPParseError) -> TCPOptions { try TCPOptions.parse(optionBytes) }

    /// Whether the checksum verifies over the IPv4 pseudo-header (RFC 9293 §3.1) and the whole segment.
    public func verifyChecksum(source: IPv4Address, destination: IPv4Address) -> Bool {
        TCPHeader.checksum(of: bytes, source: source, destination: destination) == 0
    }
}

/// A TCP header as a value: what `parse` reads and `emit` writes.
public struct TCPHeader: Hashable, Sendable {
    /// Source port.
    public var sourcePort: UInt16
    /// Destination port.
    public var destinationPort: UInt16
    /// Sequence number.
    public var sequenceNumber: TCPSeqNumber
    /// Acknowledgment number (written as is; set `.ack` to make it significant).
    public var acknowledgmentNumber: TCPSeqNumber
    /// Control bits.
    public var flags: TCPFlags
    /// Window field, already scaled down by the sender's shift.
    public var window: UInt16
    /// Urgent pointer.
    public var urgentPointer: UInt16
    /// Options.
    public var options: TCPOptions

    /// Creates a header.
    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: TCPSeqNumber,
                acknowledgmentNumber: TCPSeqNumber = TCPSeqNumber(0), flags: TCPFlags, window: UInt16 = 0,
                urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions()) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.urgentPointer = urgentPointer
        self.options = options
    }

    /// Reads the header of a checked view, decoding its options.
    public init(parsing view: TCPSegmentView) throws(TCPParseError) {
        self.init(sourcePort: view.sourcePort, destinationPort: view.destinationPort,
                  sequenceNumber: view.sequenceNumber, acknowledgmentNumber: view.acknowledgmentNumber,
                  flags: view.flags, window: view.window, urgentPointer: view.urgentPointer,
                  options: try view.parseOptions())
    }

    /// Header length in bytes including options: 20 + `options.encodedLength`.
    public var length: Int { 20 + options.encodedLength }

    /// Writes the header and options into the first `length` bytes of `buffer` with a zero checksum field. The
    /// caller writes the payload after it and then calls `TCPHeader.fillChecksum`.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        writeUInt16(buffer, 0, sourcePort)
        writeUInt16(buffer, 2, destinationPort)
        writeUInt32(buffer, 4, sequenceNumber.rawValue)
        writeUInt32(buffer, 8, acknowledgmentNumber.rawValue)
        buffer[12] = UInt8(length / 4) << 4
        buffer[13] = flags.rawValue
        writeUInt16(buffer, 14, window)
        writeUInt16(buffer, 16, 0)
        writeUInt16(buffer, 18, urgentPointer)
        options.encode(into: UnsafeMutableRawBufferPointer(rebasing: buffer[20...]))
    }

    /// The Internet checksum of `segment` with the IPv4 pseudo-header (source, destination, zero, protocol 6,
    /// TCP length) of RFC 9293 §3.1 prepended. It is 0 when `segment` carries a correct checksum.
    public static func checksum(of segment: UnsafeRawBufferPointer, source: IPv4Address,
                                destination: IPv4Address) -> UInt16 {
        var sum = InternetChecksum()
        sum.add(source.value)
        sum.add(destination.value)
        sum.add(UInt16(6))
        sum.add(UInt16(truncatingIfNeeded: segment.count))
        sum.add(segment)
        return sum.value
    }

    /// Computes the checksum of a complete segment (header with a zero checksum field, options, payload) and
    /// stores it in bytes 16-17. `segment.count` must be at least 20.
    public static func fillChecksum(_ segment: UnsafeMutableRawBufferPointer, source: IPv4Address,
                                    destination: IPv4Address) {
        writeUInt16(segment, 16, 0)
        let value = checksum(of: UnsafeRawBufferPointer(segment), source: source, destination: destination)
        writeUInt16(segment, 16, value)
    }
}
