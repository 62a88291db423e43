import Testing
import Interfaces

@Suite struct CompactAlgorithmsTests {
    @Test func insertionSortIsStable() {
        var items = [(3, "a"), (1, "b"), (3, "c"), (2, "d"), (1, "e")]
        items.insertionSort { $0.0 < $1.0 }
        #expect(items.map(\.1) == ["b", "e", "d", "a", "c"])
    }

    @Test func insertionSortHandlesEmptySingleAndReversedArrays() {
        var empty: [Int] = []
        empty.insertionSort(by: <)
        #expect(empty.isEmpty)
        var one = [7]
        one.insertionSort(by: <)
        #expect(one == [7])
        var reversed = Array((0..<50).reversed())
        reversed.insertionSort(by: <)
        #expect(reversed == Array(0..<50))
    }

    @Test func utf8BytesOfSmallLargeAndNonASCIIStrings() {
        let large = String(repeating: "xyz", count: 40)
        for text in ["", "abc", large, "Grüße, 世界"] {
            #expect(text.withUTF8Bytes { Array($0) } == Array(text.utf8))
        }
    }

    @Test func utf8Equality() {
        let bytes: [UInt8] = Array("ip".utf8)
        #expect(bytes.withUnsafeBytes { "ip".utf8Equals($0) })
        #expect(!bytes.withUnsafeBytes { "ipx".utf8Equals($0) })
        #expect(!bytes.withUnsafeBytes { "iq".utf8Equals($0) })
        #expect([UInt8]().withUnsafeBytes { "".utf8Equals($0) })
    }

    @Test func compactTextMatchesStringFormattingOfDecimals() {
        for value: UInt64 in [0, 1, 9, 10, 99, 100, 12_345, 1_000_000, UInt64(Int64.max), UInt64.max - 1, UInt64.max] {
            var text = CompactText()
            text.append(decimal: value)
            #expect(text.string == String(value))
        }
        var text = CompactText()
        text.append("[")
        text.append(decimal: 7, width: 4)
        text.append(StaticString("."))
        text.append(decimal: 1234, width: 6, padding: UInt8(ascii: "0"))
        text.append(decimal: 123_456, width: 3)
        text.append("] é")
        #expect(text.string == "[   7.001234123456] é")
        #expect(text.bytes.count == 22)
    }
}
