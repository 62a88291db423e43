import Interfaces

/// A domain name in DNS wire form (RFC 1035 §3.1): length-prefixed labels ending with the zero-length root
/// label, uncompressed.
///
/// Invariants: every label is 1...63 bytes; the whole encoding, root label included, is at most 255 bytes.
/// Comparison ignores ASCII case (RFC 4343).
public struct DNSName: Equatable, CustomStringConvertible {
    /// The longest encoded name (RFC 1035 §2.3.4).
    public static let maximumLength = 255
    /// The longest label (RFC 1035 §2.3.4).
    public static let maximumLabelLength = 63

    /// The encoded name, root label included.
    public private(set) var wire: [UInt8]

    /// The root name (a single zero byte).
    public init() { wire = [0] }

    /// Encodes dotted text (`"www.example.com"`, a trailing dot allowed). Throws `malformedName` for an empty
    /// label (`"a..b"`), a label longer than 63 bytes, or a name longer than 255 bytes encoded. Label bytes are
    /// taken as given (no IDNA processing).
    public init(_ text: String) throws(WireFormatError) {
        var out: [UInt8] = [0]
        var labelStart = 0
        var sawAny = false
        let wellFormed = text.withUTF8Bytes { bytes -> Bool in
            for b in bytes {
                if b == UInt8(ascii: ".") {
                    guard out.count - 1 > labelStart else { return false }
                    out[labelStart] = UInt8(out.count - 1 - labelStart)
                    labelStart = out.count
                    out.append(0)
                    sawAny = false
                } else {
                    out.append(b)
                    sawAny = true
                    guard out.count - 1 - labelStart <= DNSName.maximumLabelLength,
                          out.count + 1 <= DNSName.maximumLength else { return false }
                }
            }
            return true
        }
        guard wellFormed else { throw .malformedName }
        if sawAny {
            out[labelStart] = UInt8(out.count - 1 - labelStart)
            out.append(0)
        } else if out.count > 1 || labelStart != 0 {
            // Text ended with a dot: the placeholder written after it is already the root label.
        } else {
            throw .malformedName
        }
        wire = out
    }

    /// Wraps an encoding already checked by the parser.
    init(checkedWire: [UInt8]) { wire = checkedWire }

    /// The number of labels, not counting the root.
    public var labelCount: Int {
        var n = 0
        var i = 0
        while i < wire.count, wire[i] != 0 { n += 1; i += 1 + Int(wire[i]) }
        return n
    }

    /// Whether the two names are equal ignoring ASCII case.
    public static func == (a: DNSName, b: DNSName) -> Bool {
        guard a.wire.count == b.wire.count else { return false }
        for i in 0..<a.wire.count where DNSName.fold(a.wire[i]) != DNSName.fold(b.wire[i]) { return false }
        return true
    }

    private static func fold(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

    /// Dotted text with a trailing dot omitted (`"."` for the root). Bytes outside printable ASCII, and dots
    /// inside labels, are shown as `\DDD` (RFC 1035 §5.1).
    public var description: String {
        if wire.count <= 1 { return "." }
        var text = ""
        var i = 0
        while i < wire.count, wire[i] != 0 {
            if i > 0 { text += "." }
            let n = Int(wire[i])
            for j in 1...n {
                let c = wire[i + j]
                if c > 0x20 && c < 0x7F && c != UInt8(ascii: ".") && c != UInt8(ascii: "\\") {
                    text.unicodeScalars.append(Unicode.Scalar(c))
                } else {
                    text += "\\"
                    if c < 100 { text += "0" }
                    if c < 10 { text += "0" }
                    text += "\(c)"
                }
            }
            i += 1 + n
        }
        return text
    }
}

/// DNS response codes (RFC 1035 §4.1.1).
public enum DNSResponseCode {
    /// No error.
    public static let noError: UInt8 = 0
    /// The server could not interpret the query.
    public static let formatError: UInt8 = 1
    /// The server failed.
    public static let serverFailure: UInt8 = 2
    /// NXDOMAIN: the name does not exist.
    public static let nameError: UInt8 = 3
    /// Query kind not implemented.
    public static let notImplemented: UInt8 = 4
    /// The server refused.
    public static let refused: UInt8 = 5
}

/// DNS record types and classes used here (RFC 1035 §3.2.2, §3.2.4).
public enum DNSRecordType {
    /// A host address (IPv4).
    public static let a: UInt16 = 1
    /// A canonical name.
    public static let cname: UInt16 = 5
    /// The Internet class.
    public static let classIN: UInt16 = 1
}

/// One A record from an answer section.
public struct DNSAddressRecord: Equatable {
    /// The address.
    public var address: IPv4Address
    /// Time to live in seconds.
    public var ttl: UInt32

    /// Creates a record.
    public init(address: IPv4Address, ttl: UInt32) {
        self.address = address
        self.ttl = ttl
    }
}

/// A parsed DNS response, as far as an A-record client needs it.
public struct DNSResponse: Equatable {
    /// The message id.
    public var id: UInt16
    /// The RCODE (see `DNSResponseCode`).
    public var responseCode: UInt8
    /// TC: the message was truncated to fit the transport.
    public var isTruncated: Bool
    /// AA: the answer is authoritative.
    public var isAuthoritative: Bool
    /// The first question's name, if there was a question.
    public var questionName: DNSName?
    /// The first question's type.
    public var questionType: UInt16
    /// The Internet-class A records of the answer section, in order (at most `maximumAddresses`).
    public var addresses: [DNSAddressRecord]

    /// The most A records kept from one response.
    public static let maximumAddresses = 16
}

/// A view of a DNS message (RFC 1035 §4.1): a 12-byte header and sections parsed on demand.
///
/// Name decompression is bounded: every compression pointer must point strictly before every position already
/// read for that name (so pointers cannot loop), label types 01 and 10 are rejected, and the decoded name may
/// not exceed 255 bytes.
///
/// Invariant: `bytes.count >= 12`.
public struct DNSMessage {
    /// The header length.
    public static let headerLength = 12
    /// The UDP port of DNS servers.
    public static let port: UInt16 = 53
    /// The largest DNS message over UDP without EDNS (RFC 1035 §4.2.1).
    public static let maximumUDPLength = 512

    /// The message.
    public let bytes: UnsafeRawBufferPointer

    /// Validates the header length.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireFormatError) {
        guard bytes.count >= DNSMessage.headerLength else {
            throw .truncated(needed: DNSMessage.headerLength, available: bytes.count)
        }
        self.bytes = bytes
    }

    /// The message id.
    public var id: UInt16 { NetBytes.u16(bytes, 0) }
    /// QR: a response.
    public var isResponse: Bool { bytes[2] & 0x80 != 0 }
    /// OPCODE (0: standard query).
    public var opcode: UInt8 { (bytes[2] >> 3) & 0x0F }
    /// AA.
    public var isAuthoritative: Bool { bytes[2] & 0x04 != 0 }
    /// TC.
    public var isTruncated: Bool { bytes[2] & 0x02 != 0 }
    /// RD.
    public var recursionDesired: Bool { bytes[2] & 0x01 != 0 }
    /// RA.
    public var recursionAvailable: Bool { bytes[3] & 0x80 != 0 }
    /// RCODE.
    public var responseCode: UInt8 { bytes[3] & 0x0F }
    /// QDCOUNT.
    public var questionCount: Int { Int(NetBytes.u16(bytes, 4)) }
    /// ANCOUNT.
    public var answerCount: Int { Int(NetBytes.u16(bytes, 6)) }
    /// NSCOUNT.
    public var authorityCount: Int { Int(NetBytes.u16(bytes, 8)) }
    /// ARCOUNT.
    public var additionalCount: Int { Int(NetBytes.u16(bytes, 10)) }

    /// Reads the (possibly compressed) name at `offset`; returns it and the offset just past it in the message.
    public func readName(at offset: Int) throws(WireFormatError) -> (name: DNSName, next: Int) {
        var out: [UInt8] = []
        var position = offset
        var lowest = offset
        var next: Int? = nil
        while true {
            guard position < bytes.count else { throw .truncated(needed: position + 1, available: bytes.count) }
            let length = Int(bytes[position])
            switch length >> 6 {
            case 0:
                if length == 0 {
                    out.append(0)
                    return (DNSName(checkedWire: out), next ?? position + 1)
                }
                guard position + 1 + length <= bytes.count else {
                    throw .truncated(needed: position + 1 + length, available: bytes.count)
                }
                guard out.count + 1 + length + 1 <= DNSName.maximumLength else { throw .malformedName }
                out.append(UInt8(length))
                for i in 0..<length { out.append(bytes[position + 1 + i]) }
                position += 1 + length
            case 3:
                guard position + 1 < bytes.count else { throw .truncated(needed: position + 2, available: bytes.count) }
                let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < lowest else { throw .malformedName }
                if next == nil { next = position + 2 }
                lowest = target
                position = target
            default:
                throw .malformedName
            }
        }
    }

    /// Parses the question and answer sections of a response. Records other than Internet-class A records are
    /// skipped; an A record whose data is not 4 bytes is malformed. The authority and additional sections are
    /// not read.
    public func parseResponse() throws(WireFormatError) -> DNSResponse {
        var response = DNSResponse(id: id, responseCode: responseCode, isTruncated: isTruncated,
                                   isAuthoritative: isAuthoritative, questionName: nil, questionType: 0,
                                   addresses: [])
        var offset = DNSMessage.headerLength
        var questions = questionCount
        while questions > 0 {
            let (name, next) = try readName(at: offset)
            guard next + 4 <= bytes.count else { throw .truncated(needed: next + 4, available: bytes.count) }
            if response.questionName == nil {
                response.questionName = name
                response.questionType = NetBytes.u16(bytes, next)
            }
            offset = next + 4
            questions -= 1
        }
        var answers = answerCount
        while answers > 0 {
            let (_, next) = try readName(at: offset)
            guard next + 10 <= bytes.count else { throw .truncated(needed: next + 10, available: bytes.count) }
            let type = NetBytes.u16(bytes, next)
            let rclass = NetBytes.u16(bytes, next + 2)
            let ttl = NetBytes.u32(bytes, next + 4)
            let dataLength = Int(NetBytes.u16(bytes, next + 8))
            let dataStart = next + 10
            guard dataStart + dataLength <= bytes.count else {
                throw .truncated(needed: dataStart + dataLength, available: bytes.count)
            }
            if type == DNSRecordType.a && rclass == DNSRecordType.classIN {
                guard dataLength == 4 else { throw .badLength(dataLength) }
                if response.addresses.count < DNSResponse.maximumAddresses {
                    // RFC 2181 §8: a TTL with the top bit set is treated as zero.
                    response.addresses.append(DNSAddressRecord(address: IPv4Address(bytes: bytes, offset: dataStart),
                                                               ttl: ttl & 0x8000_0000 != 0 ? 0 : ttl))
                }
            }
            offset = dataStart + dataLength
            answers -= 1
        }
        return response
    }

    /// The length of a query for `name`.
    public static func queryLength(for name: DNSName) -> Int { headerLength + name.wire.count + 4 }

    /// Writes a standard query (opcode 0, RD set) with one question for `name`, type `type`, class IN, into
    /// `buffer[0..<queryLength(for:)]`. Precondition: the buffer is long enough.
    public static func emitQuery(into buffer: UnsafeMutableRawBufferPointer, id: UInt16, name: DNSName,
                                 type: UInt16 = DNSRecordType.a) {
        let length = queryLength(for: name)
        precondition(buffer.count >= length, "DNS buffer too short")
        NetBytes.zero(buffer, 0, headerLength)
        NetBytes.put16(buffer, 0, id)
        buffer[2] = 0x01
        NetBytes.put16(buffer, 4, 1)
        var offset = headerLength
        for b in name.wire { buffer[offset] = b; offset += 1 }
        NetBytes.put16(buffer, offset, type)
        NetBytes.put16(buffer, offset + 2, DNSRecordType.classIN)
    }
}
