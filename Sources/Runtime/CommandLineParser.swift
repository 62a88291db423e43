/// Splits the kernel command line into words and separates the runtime's own options from the application's.
///
/// Words are separated by spaces or tabs; double quotes group a word containing spaces (`"a b"` is one word,
/// the quotes removed); a backslash inside quotes escapes the next character. Words of the form
/// `unikernel.<name>=<value>` configure the runtime and are removed from the application's arguments.
public struct CommandLineParser {
    /// Prefix of runtime options.
    public static let optionPrefix = "unikernel."

    /// The application's arguments, in order.
    public var arguments: [String] = []
    /// Runtime options as (name, value) pairs, in order (`unikernel.log=debug` gives `("log", "debug")`).
    public var options: [(name: String, value: String)] = []

    /// Parses `bytes` (the command line without its NUL). Invalid UTF-8 is repaired with U+FFFD.
    public init(_ bytes: [UInt8]) {
        let prefix = Array(Self.optionPrefix.utf8)
        for word in Self.split(bytes) {
            if word.count >= prefix.count && word.prefix(prefix.count).elementsEqual(prefix) {
                let body = word.dropFirst(prefix.count)
                if let eq = body.firstIndex(of: UInt8(ascii: "=")) {
                    options.append((Self.string(body[..<eq]), Self.string(body[(eq + 1)...])))
                } else {
                    options.append((Self.string(body), ""))
                }
            } else {
                arguments.append(Self.string(word[...]))
            }
        }
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// The value of runtime option `name`, the last one winning. (Compared byte by byte: no Unicode tables.)
    public func option(_ name: String) -> String? {
        options.last { $0.name.utf8.elementsEqual(name.utf8) }?.value
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
