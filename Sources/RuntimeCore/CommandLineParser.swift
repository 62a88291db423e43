import Interfaces

/// Splits the kernel command line into words and separates the runtime's own options from the application's.
///
/// Words are separated by spaces, tabs or newlines; double quotes group a word containing spaces (`"a b"` is one
/// word, the quotes removed); a backslash inside quotes escapes the next character. Words of the form
/// `unikernel.<name>=<value>` configure the runtime and are removed from the application's arguments.
/// (Everything is compared as bytes: no Unicode tables are needed.)
public struct CommandLineParser {
    /// Prefix of runtime options.
    public static let optionPrefix: StaticString = "unikernel."

    /// The application's arguments, in order.
    public private(set) var arguments: [String] = []
    private var optionNames: [[UInt8]] = []
    private var optionValues: [String] = []

    /// Parses `bytes` (the command line without its NUL). Invalid UTF-8 is repaired with U+FFFD.
    public init(_ bytes: [UInt8]) {
        for word in Self.split(bytes) {
            let prefixLength = Self.optionPrefix.utf8CodeUnitCount
            let isOption = word.count > prefixLength && Self.optionPrefix.withUTF8Buffer { prefix in
                var i = 0
                while i < prefix.count && prefix[i] == word[i] { i += 1 }
                return i == prefix.count
            }
            guard isOption else {
                arguments.append(String(decoding: word, as: UTF8.self))
                continue
            }
            var equals = prefixLength
            while equals < word.count && word[equals] != UInt8(ascii: "=") { equals += 1 }
            optionNames.append(Array(word[prefixLength..<equals]))
            optionValues.append(equals < word.count ? String(decoding: word[(equals + 1)...], as: UTF8.self) : "")
        }
    }

    /// The runtime options as (name, value) pairs, in order (`unikernel.log=debug` gives `("log", "debug")`).
    public var options: [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        for i in 0..<optionNames.count { result.append((String(decoding: optionNames[i], as: UTF8.self), optionValues[i])) }
        return result
    }

    /// The value of runtime option `name`, the last one winning.
    public func option(_ name: String) -> String? {
        var i = optionNames.count - 1
        while i >= 0 {
            if Self.equal(optionNames[i], name) { return optionValues[i] }
            i -= 1
        }
        return nil
    }

    /// Whether `bytes` are exactly the UTF-8 of `text`.
    static func equal(_ bytes: [UInt8], _ text: String) -> Bool {
        bytes.withUnsafeBytes { text.utf8Equals($0) }
    }

    /// Splits a command line into words (quotes and escapes as described on the type).
    public static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var current: [UInt8] = []
        var inWord = false
        var quoted = false
        var escaped = false
        for b in bytes {
            if escaped {
                current.append(b)
                escaped = false
            } else if quoted {
                if b == UInt8(ascii: "\\") { escaped = true }
                else if b == UInt8(ascii: "\"") { quoted = false }
                else { current.append(b) }
            } else if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") {
                if inWord {
                    words.append(current)
                    current.removeAll(keepingCapacity: true)
                    inWord = false
                }
            } else if b == UInt8(ascii: "\"") {
                quoted = true
                inWord = true
            } else {
                current.append(b)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
