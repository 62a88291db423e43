import Interfaces

/// One transmitted range of sequence space and what the sender knows about it: the per-segment state RACK needs
/// (RFC 8985 §5.2: the time of the most recent transmission, whether it was retransmitted, SACKed or is deemed
/// lost).
struct TCPSentSegment {
    /// First sequence number.
    var start: TCPSeqNumber
    /// One past the last sequence number (a FIN counts as one).
    var end: TCPSeqNumber
    /// When the range was last (re)transmitted.
    var sentAt: Instant
    /// The position of that transmission among all of the connection's transmissions: a strict order where send
    /// times tie (segments sent in one burst share an instant; RFC 8985 §6.2 breaks such ties by sequence
    /// number, which misorders a retransmission sent in the same instant as higher segments' originals).
    var order: UInt64
    /// The last transmission was a retransmission.
    var retransmitted = false
    /// The receiver has reported every byte of the range in SACK blocks.
    var sacked = false
    /// Loss detection (RACK, or the RFC 6675 DupThresh rule) declared the last transmission lost, and it has
    /// not been retransmitted since.
    var lost = false

    /// Bytes of sequence space covered.
    var length: Int { end - start }
}

/// The segments sent and not yet cumulatively acknowledged, in sequence order: contiguous, non-overlapping, and
/// covering exactly [SND.UNA, SND.MAX) once synchronized (the connection trims and appends as it acknowledges and
/// sends).
///
/// Bounded: storage for `limit` records is reserved once, when the connection is established, and never grows.
/// When it is full, a newly sent range is merged into the last record (which then carries the newest send time:
/// loss of the merged range is detected later, never earlier). No operation allocates.
struct TCPSentLog {
    private var records: [TCPSentSegment] = []
    /// Index of the first live record in `records`; the records before it are acknowledged and dead.
    private var head = 0
    /// The most records held.
    private(set) var limit = 0
    /// The `order` of the latest transmission recorded.
    private(set) var lastOrder: UInt64 = 0

    /// Reserves room for `limit` records (at least 8); called once.
    mutating func reserve(_ limit: Int) {
        self.limit = max(limit, 8)
        records.reserveCapacity(self.limit)
    }

    /// Gives the storage back (connections in TIME-WAIT or closed).
    mutating func releaseStorage() {
        records = []
        head = 0
        limit = 0
    }

    /// Whether storage was reserved (RACK runs only then).
    var isActive: Bool { limit > 0 }
    /// Records held.
    var count: Int { records.count - head }
    var isEmpty: Bool { records.count == head }

    /// The `i`th live record (0 ..< count).
    subscript(i: Int) -> TCPSentSegment {
        get { records[head + i] }
        set { records[head + i] = newValue }
    }

    /// The last record, if any.
    var last: TCPSentSegment? { isEmpty ? nil : records[records.count - 1] }

    /// Drops every record.
    mutating func removeAll() {
        records.removeAll(keepingCapacity: true)
        head = 0
    }

    /// Moves the live records to the front of the storage (memmove; the reserved capacity is kept).
    private mutating func compact() {
        guard head > 0 else { return }
        records.removeSubrange(0..<head)
        head = 0
    }

    /// Records a new transmission of `[start, end)`, which must begin where the last record ends (or the log be
    /// empty).
    mutating func append(start: TCPSeqNumber, end: TCPSeqNumber, at now: Instant) {
        guard isActive, start < end else { return }
        if records.count >= limit { compact() }
        if records.count >= limit {
            // Full: extend the last record.
            let i = records.count - 1
            lastOrder &+= 1
            records[i].end = end
            records[i].sentAt = now
            records[i].order = lastOrder
            records[i].sacked = false
            records[i].lost = false
            return
        }
        lastOrder &+= 1
        records.append(TCPSentSegment(start: start, end: end, sentAt: now, order: lastOrder))
    }

    /// Forgets everything below `seq` (cumulatively acknowledged), calling `delivered` for each record that is
    /// removed entirely; a record straddling `seq` is trimmed.
    mutating func removeBelow(_ seq: TCPSeqNumber, delivered: (TCPSentSegment) -> Void) {
        while head < records.count && !(seq < records[head].end) {
            delivered(records[head])
            head += 1
        }
        if head == records.count {
            records.removeAll(keepingCapacity: true)
            head = 0
        } else if records[head].start < seq {
            records[head].start = seq
        }
    }

    /// The index of the record containing `seq`, or of the first record after it, or `count` (binary search).
    func index(atOrAfter seq: TCPSeqNumber) -> Int {
        var lo = head, hi = records.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if records[mid].end <= seq { lo = mid + 1 } else { hi = mid }
        }
        return lo - head
    }

    /// Makes `seq` the start of a record by splitting the record that contains it (both halves keep its state).
    /// Does nothing if `seq` is already a boundary or outside the log, or (rarely) if the log is full, in which
    /// case the caller's marks apply to the whole record.
    mutating func split(at seq: TCPSeqNumber) {
        let i = index(atOrAfter: seq)
        guard i < count else { return }
        let r = self[i]
        guard r.start < seq && seq < r.end else { return }
        if records.count >= limit { compact() }
        guard records.count < limit else { return }
        var second = r
        second.start = seq
        records[head + i].end = seq
        records.insert(second, at: head + i + 1)
    }

    /// Records a retransmission of `[from, to)` at `now`: the records it covers become retransmitted and no
    /// longer lost (records are split so that only the covered ones change).
    mutating func markRetransmitted(from: TCPSeqNumber, to: TCPSeqNumber, at now: Instant) {
        guard isActive, from < to else { return }
        split(at: from)
        split(at: to)
        lastOrder &+= 1
        var i = index(atOrAfter: from)
        while i < count && self[i].start < to {
            records[head + i].sentAt = now
            records[head + i].order = lastOrder
            records[head + i].retransmitted = true
            records[head + i].lost = false
            i += 1
        }
    }
}
