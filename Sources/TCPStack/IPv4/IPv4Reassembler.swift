import Interfaces

/// Limits of IPv4 fragment reassembly.
public struct IPv4ReassemblyConfiguration: Equatable {
    /// Datagrams reassembled at once; a new one evicts the oldest.
    public var maximumDatagrams: Int = 8
    /// Payload bytes buffered across all datagrams; when a fragment would exceed it, the oldest datagrams are
    /// discarded until it fits (a fragment that cannot fit alone discards its own datagram).
    public var memoryLimit: Int = 128 * 1024
    /// How long a datagram may take to complete, from its first fragment (RFC 791 suggests 15 s, RFC 1122
    /// §3.3.2 60 s to 120 s; 30 s as Linux uses).
    public var timeout: Duration = .seconds(30)
    /// Distinct fragments kept per datagram; more discard the datagram (a tiny-fragment flood costs bounded CPU).
    public var maximumFragmentsPerDatagram: Int = 64

    /// The defaults above.
    public init() {}
}

/// Counters of fragment reassembly.
public struct IPv4ReassemblyCounters: Equatable {
    /// Fragments accepted for reassembly.
    public var fragmentsReceived: UInt64 = 0
    /// Datagrams completed and delivered.
    public var datagramsReassembled: UInt64 = 0
    /// Datagrams discarded because they did not complete in time.
    public var timeouts: UInt64 = 0
    /// Datagrams discarded because a fragment overlapped earlier data with different bytes.
    public var overlapConflicts: UInt64 = 0
    /// Fragments that duplicated data already held (ignored).
    public var duplicates: UInt64 = 0
    /// Datagrams discarded to respect the memory limit or the datagram limit.
    public var evictions: UInt64 = 0
    /// Fragments or datagrams discarded as malformed (non-last fragment not a multiple of 8 bytes, data beyond
    /// 65535 bytes, inconsistent end, too many fragments).
    public var malformed: UInt64 = 0

    /// All zero.
    public init() {}
}

/// IPv4 fragment reassembly (RFC 791 §3.2, with RFC 815's idea of tracking what is missing).
///
/// Each datagram, keyed by (source, destination, protocol, identification), keeps the bytes received so far as
/// a sorted list of disjoint chunks. It completes when the last fragment (MF clear) has fixed the total length
/// and the chunks add up to it; the payload is then assembled into one reused buffer and handed over.
///
/// Overlaps are handled safely: bytes that overlap data already held must be identical (a retransmission) or the
/// whole datagram is discarded (RFC 5722's rule, applied to IPv4: conflicting overlaps are how IDS evasion and
/// "teardrop"-style attacks work). A fragment reaching past 65535 bytes ("ping of death"), a non-final fragment
/// whose length is not a multiple of 8, or one inconsistent with a known end discards the datagram.
///
/// Memory is charged for bytes actually held (plus `chunkOverhead` per chunk), not for the span they cover, so
/// a few tiny fragments at high offsets cannot push legitimate datagrams out; it is bounded by `memoryLimit`
/// (oldest datagrams are evicted first), datagrams by `maximumDatagrams`, time by `timeout`.
///
/// Pure state: time comes in as arguments, and completed datagrams are handed to a closure.
public struct IPv4Reassembler {
    struct Chunk {
        var start: Int
        var bytes: [UInt8]
        var end: Int { start + bytes.count }
    }

    struct Datagram {
        var source: IPv4Address
        var destination: IPv4Address
        var protocolNumber: UInt8
        var identification: UInt16
        var deadline: Instant
        var created: UInt64
        var chunks: [Chunk] = []
        var held = 0
        var total: Int? = nil
        var firstHeader: [UInt8] = []
        var fragments = 0

        /// Memory charged to this datagram.
        var cost: Int { held + chunks.count * IPv4Reassembler.chunkOverhead + firstHeader.count }
    }

    /// Bytes charged per stored chunk for bookkeeping.
    public static let chunkOverhead = 32

    /// The limits in force.
    public let configuration: IPv4ReassemblyConfiguration
    /// The counters.
    public var counters = IPv4ReassemblyCounters()

    private var datagrams: [Datagram] = []
    private var serial: UInt64 = 0
    private var assembly: [UInt8] = []

    /// An empty reassembler.
    public init(configuration: IPv4ReassemblyConfiguration = IPv4ReassemblyConfiguration()) {
        self.configuration = configuration
    }

    /// Datagrams in progress.
    public var pendingDatagrams: Int { datagrams.count }
    /// Memory charged to datagrams in progress (payload bytes held plus bookkeeping).
    public var bufferedBytes: Int { datagrams.reduce(0) { $0 + $1.cost } }

    /// Takes one fragment (`packet.isFragment` is true). When it completes its datagram, calls
    /// `deliver(header, payload)` with the first fragment's IPv4 header and the reassembled payload (both valid
    /// only during the call) before returning.
    public mutating func accept(_ packet: IPv4Packet, now: Instant,
                                deliver: (_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Void) {
        counters.fragmentsReceived += 1
        let offset = packet.fragmentOffset
        let data = packet.payload
        let end = offset + data.count
        let last = !packet.moreFragments
        var index = datagrams.firstIndex {
            $0.identification == packet.identification && $0.source == packet.source
                && $0.destination == packet.destination && $0.protocolNumber == packet.protocolNumber
        }
        // Structural checks on the fragment alone.
        if (!last && (data.count == 0 || data.count % 8 != 0)) || end > IPv4Header.maximumPayloadLength {
            counters.malformed += 1
            if let i = index { datagrams.remove(at: i) }
            return
        }
        if index == nil {
            if datagrams.count >= configuration.maximumDatagrams, let j = oldest(excluding: -1) {
                datagrams.remove(at: j)
                counters.evictions += 1
            }
            serial += 1
            datagrams.append(Datagram(source: packet.source, destination: packet.destination,
                                      protocolNumber: packet.protocolNumber, identification: packet.identification,
                                      deadline: now + configuration.timeout, created: serial))
            index = datagrams.count - 1
        }
        var i = index!
        datagrams[i].fragments += 1
        // Consistency with the known end.
        let known = datagrams[i].total
        let highest = datagrams[i].chunks.last?.end ?? 0
        let reachesPastKnownEnd = known.map { end > $0 } ?? false
        let conflictingEnd = last && ((known.map { $0 != end } ?? false) || highest > end)
        if reachesPastKnownEnd || conflictingEnd || datagrams[i].fragments > configuration.maximumFragmentsPerDatagram {
            counters.malformed += 1
            datagrams.remove(at: i)
            return
        }
        // Bytes overlapping data already held must be identical; collect the gaps the fragment fills.
        var gaps: [(start: Int, end: Int)] = []
        var cursor = offset
        var conflict = false
        for chunk in datagrams[i].chunks where chunk.start < end && chunk.end > offset {
            if chunk.start > cursor { gaps.append((cursor, chunk.start)) }
            let lo = max(chunk.start, offset), hi = min(chunk.end, end)
            chunk.bytes.withUnsafeBytes { held in
                if memcmpBytes(NetBytes.slice(held, lo - chunk.start, hi - chunk.start),
                               NetBytes.slice(data, lo - offset, hi - offset)) == false { conflict = true }
            }
            if conflict { break }
            cursor = max(cursor, hi)
        }
        if conflict {
            counters.overlapConflicts += 1
            datagrams.remove(at: i)
            return
        }
        if cursor < end { gaps.append((cursor, end)) }
        let addsEnd = last && known == nil
        let addsHeader = offset == 0 && datagrams[i].firstHeader.isEmpty
        if gaps.isEmpty && !addsEnd && !addsHeader {
            counters.duplicates += 1
            return
        }
        // Memory: evict the oldest other datagrams if this fragment's new bytes do not fit.
        var growth = gaps.reduce(0) { $0 + ($1.end - $1.start) } + gaps.count * IPv4Reassembler.chunkOverhead
        if addsHeader { growth += packet.headerLength }
        var used = bufferedBytes
        while used + growth > configuration.memoryLimit {
            guard let victim = oldest(excluding: i) else { break }
            used -= datagrams[victim].cost
            datagrams.remove(at: victim)
            counters.evictions += 1
            if victim < i { i -= 1 }
        }
        if used + growth > configuration.memoryLimit {
            counters.evictions += 1
            datagrams.remove(at: i)
            return
        }
        for gap in gaps where gap.end > gap.start {
            let chunk = Chunk(start: gap.start, bytes: Array(NetBytes.slice(data, gap.start - offset, gap.end - offset)))
            let position = datagrams[i].chunks.firstIndex { $0.start > gap.start } ?? datagrams[i].chunks.count
            datagrams[i].chunks.insert(chunk, at: position)
            datagrams[i].held += chunk.bytes.count
        }
        if last { datagrams[i].total = end }
        if addsHeader { datagrams[i].firstHeader = Array(packet.header) }
        // Complete when the end is known, the chunks cover 0..<total (they are disjoint, so their sizes add up to
        // it), and the first fragment's header is known.
        guard let total = datagrams[i].total, datagrams[i].held == total, !datagrams[i].firstHeader.isEmpty else {
            return
        }
        let finished = datagrams.remove(at: i)
        counters.datagramsReassembled += 1
        if assembly.count < total { assembly = [UInt8](repeating: 0, count: max(total, 1500)) }
        assembly.withUnsafeMutableBytes { out in
            for chunk in finished.chunks {
                chunk.bytes.withUnsafeBytes { NetBytes.slice(out, chunk.start, chunk.end).copyMemory(from: $0) }
            }
        }
        finished.firstHeader.withUnsafeBytes { header in
            assembly.withUnsafeBytes { payload in deliver(header, NetBytes.slice(payload, 0, total)) }
        }
    }

    /// Discards datagrams whose time ran out. For each that had received its first fragment, calls
    /// `expired(header, payloadPrefix)` (the first fragment's header and up to 8 payload bytes, what an ICMP
    /// "fragment reassembly time exceeded" message quotes, RFC 792).
    public mutating func poll(now: Instant,
                              expired: (_ header: UnsafeRawBufferPointer, _ payloadPrefix: UnsafeRawBufferPointer) -> Void) {
        var i = 0
        while i < datagrams.count {
            guard datagrams[i].deadline <= now else { i += 1; continue }
            let d = datagrams.remove(at: i)
            counters.timeouts += 1
            if !d.firstHeader.isEmpty, let first = d.chunks.first, first.start == 0 {
                d.firstHeader.withUnsafeBytes { header in
                    first.bytes.withUnsafeBytes { payload in
                        expired(header, NetBytes.slice(payload, 0, min(8, payload.count)))
                    }
                }
            }
        }
    }

    /// The earliest reassembly deadline.
    public var nextDeadline: Instant? {
        var best: Instant? = nil
        for d in datagrams where best == nil || d.deadline < best! { best = d.deadline }
        return best
    }

    /// Discards everything in progress.
    public mutating func removeAll() { datagrams.removeAll() }

    private func oldest(excluding: Int) -> Int? {
        var best: Int? = nil
        for j in datagrams.indices where j != excluding {
            if best == nil || datagrams[j].created < datagrams[best!].created { best = j }
        }
        return best
    }
}

/// Whether two buffers of equal length hold the same bytes.
private func memcmpBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var i = 0
    while i < a.count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
