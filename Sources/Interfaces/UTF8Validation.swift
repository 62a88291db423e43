/// Strict UTF-8 validation, shared by every module that accepts names or paths as bytes (RamFS archives, HTTP
/// paths): shortest form only, no surrogates, nothing above U+10FFFF (Unicode §3.9 Table 3-7; RFC 3629 §4).
public enum UTF8Validation {
    /// Whether `bytes` is well-formed UTF-8.
    public static func isWellFormed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; hi = 0x9F
            case 0xF0: length = 4; lo = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; hi = 0x8F
            default: return false  // 0x80...0xC1 (continuation or overlong lead), 0xF5...0xFF
            }
            guard n - i >= length else { return false }
            let b1 = bytes[i + 1]
            guard b1 >= lo && b1 <= hi else { return false }
            for k in 2..<max(length, 2) where bytes[i + k] & 0xC0 != 0x80 { return false }
            i += length
        }
        return true
    }
}
