import Interfaces
import Testing
@testable import TCPStack

/// `TCPConnectionTable` against a `Dictionary` model: random inserts, replacements and removals, with the table's
/// invariants (capacity, count, every entry reachable by probing) checked after every step.
@Suite("TCP connection table")
struct TCPConnectionTableTests {
    /// A small tuple space, so that inserts hit existing tuples and removals hit present ones often.
    private static func tuple(_ n: Int) -> TCPFourTuple {
        TCPFourTuple(localAddress: IPv4Address(10, 0, 0, 1), localPort: 8080,
                     remoteAddress: IPv4Address(10, 0, 1, UInt8(n % 7)), remotePort: UInt16(40000 + n / 7))
    }

    @Test("random inserts, replacements and removals agree with a dictionary model; invariants hold throughout",
          arguments: [1 as UInt64, 2, 3])
    func matchesModel(seed: UInt64) {
        let entropy = SeededEntropy(seed: seed)
        var table = TCPConnectionTable(key: TCPSipKey(entropy: entropy))
        var model: [TCPFourTuple: Int] = [:]
        var rng = seed &* 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
            return Int(rng % UInt64(bound))
        }
        var removals = 0
        for step in 0..<20_000 {
            let t = Self.tuple(next(300))
            switch next(10) {
            case 0..<5:
                let slot = next(1000)
                table.set(slot, for: t)
                model[t] = slot
            case 5..<8:
                // Remove with the right slot half of the time, with a stale one otherwise (must be a no-op).
                let current = model[t]
                let slot = (current != nil && next(2) == 0) ? current! : 1000 + next(10)
                table.remove(t, ifSlot: slot)
                if current == slot { model[t] = nil; removals += 1 }
            default:
                #expect(table.slot(for: t) == model[t], "lookup at step \(step)")
            }
            #expect(table.count == model.count, "count at step \(step)")
            if step % 97 == 0 { #expect(table.invariantsHold(), "invariants at step \(step)") }
        }
        #expect(removals > 1000)
        for n in 0..<300 { #expect(table.slot(for: Self.tuple(n)) == model[Self.tuple(n)]) }
        #expect(table.invariantsHold())
    }

    @Test("filling to hundreds of entries and emptying again leaves an empty, consistent table")
    func fillAndDrain() {
        var table = TCPConnectionTable(key: TCPSipKey(k0: 1, k1: 2))
        #expect(table.slot(for: Self.tuple(0)) == nil)
        for n in 0..<600 { table.set(n, for: Self.tuple(n)) }
        #expect(table.count == 600)
        #expect(table.invariantsHold())
        for n in stride(from: 0, to: 600, by: 2) { table.remove(Self.tuple(n), ifSlot: n) }
        #expect(table.count == 300)
        #expect(table.invariantsHold())
        for n in 0..<600 { #expect(table.slot(for: Self.tuple(n)) == (n % 2 == 0 ? nil : n)) }
        for n in stride(from: 1, to: 600, by: 2) { table.remove(Self.tuple(n), ifSlot: n) }
        #expect(table.count == 0)
        #expect(table.invariantsHold())
        for n in 0..<600 { #expect(table.slot(for: Self.tuple(n)) == nil) }
    }

    @Test("the table key comes from the engine's entropy source, independent of the other four keys")
    func keyedByEntropy() {
        let a = TCPSecrets(entropy: SeededEntropy(seed: 1)).tableKey
        let b = TCPSecrets(entropy: SeededEntropy(seed: 2)).tableKey
        #expect(a.k0 != b.k0 || a.k1 != b.k1)
        let s = TCPSecrets(entropy: SeededEntropy(seed: 1))
        let keys = [s.isnKey, s.cookieKey, s.timestampKey, s.portKey, s.tableKey].map { [$0.k0, $0.k1] }
        #expect(Set(keys).count == 5, "the table key is drawn independently of the other four")
    }
}
