/// The names in one directory: an open-addressing hash table (linear probing, backward-shift deletion) over a dense
/// array of entries.
///
/// Lookups hash the name's bytes straight out of the caller's path buffer, so resolving a path allocates nothing.
/// Names are compared byte for byte (no Unicode comparison).
///
/// Invariants:
/// - `slots.count` is zero or a power of two, and at least twice `entries.count` (load factor at most 1/2), so every
///   probe sequence reaches an empty slot.
/// - Every entry index `i` appears exactly once in `slots`, as `i + 1`; `0` marks an empty slot.
/// - An entry's slot is reachable from `hash & mask` without crossing an empty slot.
/// - No two entries have equal names.
struct DirectoryTable {
    /// One name and what it refers to.
    struct Entry {
        /// The name's bytes (one path component: not empty, no `/`, no NUL, not `.` or `..`).
        var name: [UInt8]
        /// `DirectoryTable.hash(name)`.
        var hash: UInt64
        /// The file or directory.
        var node: Node
    }

    /// The entries, in insertion order except where removals moved the last entry into a hole.
    private(set) var entries: [Entry] = []
    /// Entry index + 1, or 0 for an empty slot.
    private var slots: [Int32] = []

    /// Number of names.
    var count: Int { entries.count }

    /// Whether the directory has no names.
    var isEmpty: Bool { entries.isEmpty }

    /// FNV-1a (64-bit) of `bytes`.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// The index in `entries` of the entry called `name`, or nil.
    func find(_ name: UnsafeRawBufferPointer) -> Int? {
        if slots.isEmpty { return nil }
        let h = DirectoryTable.hash(name)
        let mask = slots.count - 1
        var position = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = Int(slots[position])
            if slot == 0 { return nil }
            let entry = entries[slot - 1]
            if entry.hash == h, entry.name.count == name.count,
               entry.name.withUnsafeBytes({ $0.elementsEqual(name) }) {
                return slot - 1
            }
            position = (position + 1) & mask
        }
    }

    /// The node called `name`, or nil.
    @inline(__always)
    func lookup(_ name: UnsafeRawBufferPointer) -> Node? {
        guard let index = find(name) else { return nil }
        return entries[index].node
    }

    /// Adds `node` under `name`, which must not be present.
    mutating func insert(_ name: UnsafeRawBufferPointer, _ node: Node) {
        if (entries.count + 1) * 2 > slots.count { grow() }
        let h = DirectoryTable.hash(name)
        entries.append(Entry(name: Array(name), hash: h, node: node))
        place(index: entries.count - 1, hash: h)
    }

    /// Removes the entry at `index` (from `find`). The last entry moves into its place.
    mutating func remove(at index: Int) {
        let mask = slots.count - 1
        // Find the slot that holds `index`, then close the gap by shifting later members of its cluster back
        // (Knuth vol. 3 §6.4, Algorithm R), so no probe sequence is broken.
        var hole = slotPosition(of: index)
        var next = hole
        while true {
            next = (next + 1) & mask
            let slot = Int(slots[next])
            if slot == 0 { break }
            let home = Int(truncatingIfNeeded: entries[slot - 1].hash) & mask
            // The member at `next` may move to `hole` unless its home lies cyclically in (hole, next].
            let staysPut = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next)
            if !staysPut {
                slots[hole] = slots[next]
                hole = next
            }
        }
        slots[hole] = 0
        let last = entries.count - 1
        if index != last {
            let moved = slotPosition(of: last)
            slots[moved] = Int32(index + 1)
            entries.swapAt(index, last)
        }
        entries.removeLast()
        if entries.isEmpty { slots = [] }
    }

    // MARK: - Private

    /// The slot position holding entry `index` (which must be present).
    private func slotPosition(of index: Int) -> Int {
        let mask = slots.count - 1
        var position = Int(truncatingIfNeeded: entries[index].hash) & mask
        while Int(slots[position]) != index + 1 { position = (position + 1) & mask }
        return position
    }

    /// Puts entry `index` with hash `hash` into the first free slot of its probe sequence.
    private mutating func place(index: Int, hash: UInt64) {
        let mask = slots.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while slots[position] != 0 { position = (position + 1) & mask }
        slots[position] = Int32(index + 1)
    }

    /// Doubles the slot array (at least 8 slots) and re-places every entry.
    private mutating func grow() {
        let capacity = Swift.max(8, slots.count * 2)
        slots = [Int32](repeating: 0, count: capacity)
        for index in entries.indices { place(index: index, hash: entries[index].hash) }
    }
}
