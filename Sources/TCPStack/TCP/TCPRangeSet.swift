import Interfaces

/// A bounded set of disjoint, non-adjacent sequence ranges `[start, end)`, kept sorted.
///
/// Used twice: by the receiver to track out-of-order data held in the receive ring (and to generate SACK blocks,
/// RFC 2018 §4), and by the sender as the SACK scoreboard (RFC 6675 §3). The set never holds more than
/// `limit` ranges; an insertion that would need more is refused and changes nothing, which bounds memory and
/// per-segment work. Storage is reserved once; insertions within the limit do not allocate.
///
/// Every range is assumed to lie within 2^31 of the others (they all sit inside one TCP window).
struct TCPRangeSet {
    struct Range {
        var start: TCPSeqNumber
        var end: TCPSeqNumber
        /// Insertion stamp of the most recent segment that touched this range (for SACK block order).
        var stamp: UInt32
    }

    private(set) var ranges: [Range] = []
    /// The most ranges held at once.
    let limit: Int
    private var clock: UInt32 = 0

    init(limit: Int) {
        self.limit = max(limit, 1)
        ranges.reserveCapacity(self.limit + 1)
    }

    var isEmpty: Bool { ranges.isEmpty }
    var count: Int { ranges.count }

    /// The first sequence number of the lowest range.
    var lowest: TCPSeqNumber? { ranges.first?.start }
    /// The end of the highest range.
    var highest: TCPSeqNumber? { ranges.last?.end }

    mutating func removeAll() { ranges.removeAll(keepingCapacity: true) }

    /// Empties the set and gives its storage back (for connections that will never use it again).
    mutating func releaseStorage() { ranges = [] }

    /// Adds `[start, end)`, merging with overlapping or adjacent ranges. Returns false, changing nothing, if the
    /// result would exceed `limit` ranges. Empty ranges are accepted and ignored.
    @discardableResult
    mutating func insert(_ start: TCPSeqNumber, _ end: TCPSeqNumber) -> Bool {
        guard start < end else { return true }
        clock &+= 1
        // First range whose end is at or after `start` (it may merge).
        var first = 0
        while first < ranges.count && ranges[first].end < start { first += 1 }
        // One past the last range whose start is at or before `end`.
        var last = first
        while last < ranges.count && !(end < ranges[last].start) { last += 1 }
        if first == last {
            // No overlap: a new range at `first`.
            guard ranges.count < limit else { return false }
            ranges.insert(Range(start: start, end: end, stamp: clock), at: first)
            return true
        }
        let merged = Range(start: TCPSeqNumber.earlier(start, ranges[first].start),
                           end: TCPSeqNumber.later(end, ranges[last - 1].end), stamp: clock)
        ranges[first] = merged
        if last - first > 1 { ranges.removeSubrange((first + 1)..<last) }
        return true
    }

    /// Forgets everything below `seq`, trimming a range that straddles it.
    mutating func removeBelow(_ seq: TCPSeqNumber) {
        var drop = 0
        while drop < ranges.count && !(seq < ranges[drop].end) { drop += 1 }
        if drop > 0 { ranges.removeSubrange(0..<drop) }
        if let first = ranges.first, first.start < seq { ranges[0].start = seq }
    }

    /// If the lowest range begins at or before `seq`, removes it and returns its end (the new contiguous edge);
    /// otherwise returns `seq`.
    mutating func advance(from seq: TCPSeqNumber) -> TCPSeqNumber {
        guard let first = ranges.first, !(seq < first.start) else { return seq }
        ranges.removeFirst()
        return TCPSeqNumber.later(seq, first.end)
    }

    /// The range containing `seq`, if any.
    func range(containing seq: TCPSeqNumber) -> Range? {
        for r in ranges {
            if seq < r.start { return nil }
            if seq < r.end { return r }
        }
        return nil
    }

    /// The start of the first range beginning after `seq`, if any.
    func nextStart(after seq: TCPSeqNumber) -> TCPSeqNumber? {
        for r in ranges where seq < r.start { return r.start }
        return nil
    }

    /// Bytes covered by the set inside `[from, to)`.
    func coveredBytes(from: TCPSeqNumber, to: TCPSeqNumber) -> Int {
        guard from < to else { return 0 }
        var total = 0
        for r in ranges {
            let s = TCPSeqNumber.later(r.start, from)
            let e = TCPSeqNumber.earlier(r.end, to)
            if s < e { total += e - s }
        }
        return total
    }

    /// The first sequence number at or after `seq` and before `limit` not covered by the set, if any.
    func firstUncovered(from seq: TCPSeqNumber, before limit: TCPSeqNumber) -> TCPSeqNumber? {
        var s = seq
        for r in ranges {
            if s < r.start { break }
            if s < r.end { s = r.end }
        }
        return s < limit ? s : nil
    }

    /// Up to `maximum` blocks, most recently touched first (RFC 2018 §4: the first block holds the segment that
    /// triggered the ACK, the rest are the most recently reported ones).
    func recentBlocks(maximum: Int) -> TCPSackBlockList {
        var list = TCPSackBlockList()
        var previousStamp: UInt32? = nil
        // Repeated selection of the next most recent stamp: at most 4 passes over at most `limit` ranges.
        for _ in 0..<min(maximum, TCPSackBlockList.capacity) {
            var best: Range? = nil
            for r in ranges {
                // Stamps are unique; after the first pass only strictly older ranges qualify.
                if let p = previousStamp, Int32(bitPattern: r.stamp &- p) >= 0 { continue }
                if best == nil || Int32(bitPattern: r.stamp &- best!.stamp) > 0 { best = r }
            }
            guard let chosen = best else { break }
            list.append(TCPSackBlock(start: chosen.start, end: chosen.end))
            previousStamp = chosen.stamp
        }
        return list
    }
}
