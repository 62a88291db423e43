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
/// Each datagram, keyed by (source, destination, protocol, identification), collects its fragments into a
/// buffer and keeps the received byte ranges as a sorted list of disjoint intervals. It completes when the last
/// fragment (MF clear) has fixed the total length and the ranges cover `0..<total`.
///
/// Overlaps are handled safely: bytes that overlap data already held must be identical (a retransmission) or the
/// whole datagram is discarded (RFC 5722's rule, applied to IPv4: conflicting overlaps are how IDS evasion and
/// "teardrop"-style attacks work). A fragment reaching past 65535 bytes ("ping of death"), a non-final fragment
/// whose length is not a multiple of 8, or one inconsistent with a known end discards the datagram. Memory is
/// bounded by `memoryLimit`, datagrams by `maximumDatagrams`, time by `timeout`.
///
/// Pure state: time comes in as arguments, and completed datagrams are handed to a closure.
public struct IPv4Reassembler {
    struct Datagram {
        var source: IPv4Address
        var destination: IPv4Address
        var protocolNumber: UInt8
        var identification: UInt16
        var deadline: Instant
        var created: UInt64
        var buffer: [UInt8] = []
        var ranges: [(start: Int, end: Int)] = []
        var total: Int? = nil
        var firstHeader: [UInt8] = []
        var fragments = 0
    }

    /// The limits in force.
    public let configuration: IPv4ReassemblyConfiguration
    /// The counters.
    public var counters = IPv4ReassemblyCounters()

    private var datagrams: [Datagram] = []
    private var serial: UInt64 = 0

    /// An empty reassembler.
    public init(configuration: IPv4ReassemblyConfiguration = IPv4ReassemblyConfiguration()) {
        self.configuration = configuration
    }

    /// Datagrams in progress.
    public var pendingDatagrams: Int { datagrams.count }
    /// Payload bytes buffered.
    public var bufferedBytes: Int { datagrams.reduce(0) { $0 + $1.buffer.count } }

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
            if datagrams.count >= configuration.maximumDatagrams {
                evictOldest()
            }
            serial += 1
            datagrams.append(Datagram(source: packet.source, destination: packet.destination,
                                      protocolNumber: packet.protocolNumber, identification: packet.identification,
                                      deadline: now + configuration.timeout, created: serial))
            index = datagrams.count - 1
        }
        var i = index!
        // Consistency with the known end.
        let known = datagrams[i].total
        let reachesPastKnownEnd = known.map { end > $0 } ?? false
        let conflictingEnd = last && ((known.map { $0 != end } ?? false)
            || (datagrams[i].ranges.last.map { $0.end > end } ?? false))
        if reachesPastKnownEnd || conflictingEnd {
            counters.malformed += 1
            datagrams.remove(at: i)
            return
        }
        // Bytes that overlap data already held must be identical.
        var covered = 0
        var conflict = false
        for r in datagrams[i].ranges where r.start < end && r.end > offset {
            let lo = max(r.start, offset), hi = min(r.end, end)
            covered += hi - lo
            for k in lo..<hi where datagrams[i].buffer[k] != data[k - offset] { conflict = true; break }
            if conflict { break }
        }
        if conflict {
            counters.overlapConflicts += 1
            datagrams.remove(at: i)
            return
        }
        if covered == data.count && !(last && known == nil) && !(offset == 0 && datagrams[i].firstHeader.isEmpty) {
            counters.duplicates += 1
            return
        }
        datagrams[i].fragments += 1
        if datagrams[i].fragments > configuration.maximumFragmentsPerDatagram {
            counters.malformed += 1
            datagrams.remove(at: i)
            return
        }
        // Memory: grow the buffer to `end`, evicting the oldest other datagrams if needed.
        let growth = max(0, end - datagrams[i].buffer.count)
        if growth > 0 {
            var used = bufferedBytes
            while used + growth > configuration.memoryLimit {
                guard let victim = oldest(excluding: i) else { break }
                used -= datagrams[victim].buffer.count
                datagrams.remove(at: victim)
                counters.evictions += 1
                if victim < i { i -= 1 }
            }
            if used + growth > configuration.memoryLimit {
                counters.evictions += 1
                datagrams.remove(at: i)
                return
            }
            datagrams[i].buffer.append(contentsOf: repeatElement(0, count: growth))
        }
        datagrams[i].buffer.withUnsafeMutableBytes { buf in
            if data.count > 0 { NetBytes.slice(buf, offset, end).copyMemory(from: data) }
        }
        if data.count > 0 { insertRange(&datagrams[i].ranges, offset, end) }
        if last { datagrams[i].total = end }
        if offset == 0 && datagrams[i].firstHeader.isEmpty { datagrams[i].firstHeader = Array(packet.header) }
        // Complete?
        guard let total = datagrams[i].total else { return }
        let ranges = datagrams[i].ranges
        let complete = total == 0 ? !datagrams[i].firstHeader.isEmpty
            : (ranges.count == 1 && ranges[0].start == 0 && ranges[0].end == total
               && !datagrams[i].firstHeader.isEmpty)
        guard complete else { return }
        let finished = datagrams.remove(at: i)
        counters.datagramsReassembled += 1
        finished.firstHeader.withUnsafeBytes { header in
            finished.buffer.withUnsafeBytes { payload in deliver(header, NetBytes.slice(payload, 0, total)) }
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
            if !d.firstHeader.isEmpty, let first = d.ranges.first, first.start == 0 {
                let prefix = min(8, first.end)
                d.firstHeader.withUnsafeBytes { header in
                    d.buffer.withUnsafeBytes { payload in expired(header, NetBytes.slice(payload, 0, prefix)) }
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

    private mutating func evictOldest() {
        if let j = oldest(excluding: -1) {
            datagrams.remove(at: j)
            counters.evictions += 1
        }
    }

    /// Inserts `start..<end` into a sorted list of disjoint ranges, merging overlapping and adjacent ones.
    private func insertRange(_ ranges: inout [(start: Int, end: Int)], _ start: Int, _ end: Int) {
        var s = start, e = end
        var out: [(start: Int, end: Int)] = []
        out.reserveCapacity(ranges.count + 1)
        var placed = false
        for r in ranges {
            if r.end < s {
                out.append(r)
            } else if r.start > e {
                if !placed { out.append((s, e)); placed = true }
                out.append(r)
            } else {
                s = min(s, r.start)
                e = max(e, r.end)
            }
        }
        if !placed { out.append((s, e)) }
        ranges = out
    }
}
