/// The map from a segment's four-tuple to its connection's slot in `TCPEngine` (the demultiplexing of
/// RFC 9293 §3.3.1: a connection is named by its pair of sockets).
///
/// An open-addressing hash table with linear probing, kept at most half full, and deletion by backward shift
/// (so no tombstones build up under connection churn). The hash is SipHash-2-4 keyed with a secret drawn at engine
/// creation (`TCPSecrets.tableKey`): a peer choosing its addresses and ports cannot predict which tuples collide,
/// so it cannot grow one probe sequence on purpose (hash flooding).
///
/// It is its own type rather than a `Dictionary` to keep the standard library's hashed-collection code, the
/// unkeyed `Hasher`, out of guest images (about 4.6 KB in HelloHTTP); the keyed hasher is already linked for
/// RFC 6528 sequence numbers.
///
/// Invariants: `entries.count` is 0 or a power of two, at least twice `count`; an entry with `slot < 0` is empty;
/// every occupied entry is reachable from `home(of: hash)` by probing forward without crossing an empty entry.
struct TCPConnectionTable {
    private struct Entry {
        var tuple: TCPFourTuple
        /// The connection slot; negative when the entry is empty.
        var slot: Int32
        /// The tuple's keyed hash, kept so that growing and backward shifts never hash again.
        var hash: UInt32
    }

    private var entries: [Entry] = []
    private let key: TCPSipKey
    /// Tuples in the table.
    private(set) var count = 0

    /// An empty table whose hash is keyed with `key`.
    init(key: TCPSipKey) {
        self.key = key
    }

    private func hash(_ tuple: TCPFourTuple) -> UInt32 {
        var h = key.hasher
        tuple.feed(&h)
        return UInt32(truncatingIfNeeded: h.finalize())
    }

    private var mask: Int { entries.count - 1 }

    /// The index where probing for a tuple with this hash starts.
    private func home(of hash: UInt32) -> Int { Int(hash) & mask }

    /// The index holding `tuple`, or `nil`.
    private func index(of tuple: TCPFourTuple) -> Int? {
        guard count > 0 else { return nil }
        var i = home(of: hash(tuple))
        while entries[i].slot >= 0 {
            if entries[i].tuple == tuple { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    /// The slot of the connection named by `tuple`, or `nil`.
    func slot(for tuple: TCPFourTuple) -> Int? {
        index(of: tuple).map { Int(entries[$0].slot) }
    }

    /// Maps `tuple` to `slot` (0 ..< Int32.max), replacing any previous mapping of `tuple`.
    mutating func set(_ slot: Int, for tuple: TCPFourTuple) {
        precondition(slot >= 0 && slot < Int(Int32.max), "connection slot out of range")
        if (count + 1) * 2 > entries.count { grow() }
        let h = hash(tuple)
        var i = home(of: h)
        while entries[i].slot >= 0 {
            if entries[i].tuple == tuple {
                entries[i].slot = Int32(slot)
                return
            }
            i = (i + 1) & mask
        }
        entries[i] = Entry(tuple: tuple, slot: Int32(slot), hash: h)
        count += 1
    }

    /// Removes `tuple` if it maps to `slot` (a newer connection on the same tuple keeps its entry).
    mutating func remove(_ tuple: TCPFourTuple, ifSlot slot: Int) {
        guard let found = index(of: tuple), Int(entries[found].slot) == slot else { return }
        // Backward shift: walk the probe run after the hole and move back every entry whose home does not lie
        // cyclically in (hole, j], i.e. every entry that probing would otherwise no longer reach.
        var hole = found
        var j = found
        while true {
            j = (j + 1) & mask
            if entries[j].slot < 0 { break }
            let h = home(of: entries[j].hash)
            let reachableWithoutHole = hole < j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !reachableWithoutHole {
                entries[hole] = entries[j]
                hole = j
            }
        }
        entries[hole].slot = -1
        count -= 1
    }

    /// Doubles the capacity (16 entries at first) and re-inserts every entry at its new home.
    private mutating func grow() {
        let old = entries
        let empty = Entry(tuple: TCPFourTuple(localAddress: .any, localPort: 0, remoteAddress: .any, remotePort: 0),
                          slot: -1, hash: 0)
        entries = Array(repeating: empty, count: Swift.max(16, old.count * 2))
        for e in old where e.slot >= 0 {
            var i = home(of: e.hash)
            while entries[i].slot >= 0 { i = (i + 1) & mask }
            entries[i] = e
        }
    }

    /// Checks the invariants (for tests): capacity, count, and that every entry is found by probing.
    func invariantsHold() -> Bool {
        if entries.isEmpty { return count == 0 }
        guard entries.count & mask == 0, count * 2 <= entries.count else { return false }
        var occupied = 0
        for e in entries where e.slot >= 0 {
            occupied += 1
            guard e.hash == hash(e.tuple), let i = index(of: e.tuple), entries[i].slot == e.slot else { return false }
        }
        return occupied == count
    }
}
