/// Small-code versions of standard-library operations, for code that runs in guest images.
///
/// In Embedded Swift every generic standard-library algorithm is specialized into the image for each element type
/// it is used with, and iterating a `String`'s `utf8` view inlines the view's index machinery (about 300 bytes of
/// code per loop, plus the UTF-16 and foreign-string paths it can reach). These helpers do the same work with
/// less code; they are not faster, and are meant for short inputs.

extension String {
    /// Calls `body` with the string's UTF-8 bytes, valid only during the call, without allocating (native Swift
    /// strings, all strings in a guest image, store contiguous UTF-8).
    @inline(__always)
    public func withUTF8Bytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let result = utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        // A bridged (foreign) string, possible only in hosted builds: make a native copy.
        var copy = self
        copy.makeContiguousUTF8()
        return copy.utf8.withContiguousStorageIfAvailable { body(UnsafeRawBufferPointer($0)) }!
    }

    /// Whether the string's UTF-8 bytes equal `bytes`.
    public func utf8Equals(_ bytes: UnsafeRawBufferPointer) -> Bool {
        withUTF8Bytes { own in
            guard own.count == bytes.count else { return false }
            for i in 0..<own.count where own[i] != bytes[i] { return false }
            return true
        }
    }
}

extension Array {
    /// Sorts the array in place, stably, by insertion: quadratic, for arrays of a few dozen elements (memory-map
    /// entries, PCI functions), where it keeps the standard library's merge sort (about 2 KB of code per element
    /// type) out of the image.
    public mutating func insertionSort(by less: (Element, Element) -> Bool) {
        guard count > 1 else { return }
        for i in 1..<count {
            let item = self[i]
            var j = i
            while j > 0 && less(item, self[j - 1]) {
                self[j] = self[j - 1]
                j -= 1
            }
            self[j] = item
        }
    }
}

/// Text assembled as UTF-8 bytes: the small-code counterpart of string interpolation, for messages built in guest
/// code. (Each interpolated segment costs a `String` append with its own growth and encoding checks, and each
/// integer type interpolated brings its own generic formatter.)
public struct CompactText {
    /// The UTF-8 bytes so far.
    public private(set) var bytes: [UInt8] = []

    /// Empty text.
    public init() {}

    /// Appends `text`.
    public mutating func append(_ text: String) {
        text.withUTF8Bytes { bytes.append(contentsOf: $0) }
    }

    /// Appends `text`.
    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: UnsafeRawBufferPointer($0)) }
    }

    /// Appends `value` in decimal, preceded by as many `padding` bytes (ASCII) as it takes to fill `width`.
    public mutating func append(decimal value: UInt64, width: Int = 0, padding: UInt8 = 0x20) {
        var digits: (UInt64, Int) = (1, 1)  // (the power of ten of the leading digit, digit count)
        while digits.1 < 20 && value / digits.0 >= 10 { digits = (digits.0 * 10, digits.1 + 1) }
        var pad = width - digits.1
        while pad > 0 {
            bytes.append(padding)
            pad -= 1
        }
        var divisor = digits.0
        while divisor > 0 {
            bytes.append(UInt8(truncatingIfNeeded: 0x30 + value / divisor % 10))
            divisor /= 10
        }
    }

    /// The text as a `String`.
    public var string: String { String(decoding: bytes, as: UTF8.self) }
}
