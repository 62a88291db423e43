import Interfaces

/// Severity of a log message. Messages below `Log.level` are not formatted at all.
public enum LogLevel: Int, Comparable, Sendable {
    case debug = 0, info, warning, error, off

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    /// Parses `debug`, `info`, `warning`, `error` or `off`.
    public init?(name: String) {
        var candidate = LogLevel.debug
        while true {
            let matches = candidate.label.withUTF8Buffer { label in CommandLineParser.equal(Array(label), name) }
            if matches { self = candidate; return }
            guard let next = LogLevel(rawValue: candidate.rawValue + 1) else { return nil }
            candidate = next
        }
    }

    var label: StaticString {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .warning: return "warning"
        case .error: return "error"
        case .off: return "off"
        }
    }
}

/// Leveled logging to the console: `[seconds.micros] level: message`, timestamps from the monotonic clock.
///
/// The level comes from the `unikernel.log=<level>` command-line option (default `info`), or is set in code.
public enum Log {
    /// Messages below this level are dropped (their text is never built).
    nonisolated(unsafe) public static var level: LogLevel = .info

    /// Logs at `debug`.
    public static func debug(_ message: @autoclosure () -> String) { write(.debug, message) }
    /// Logs at `info`.
    public static func info(_ message: @autoclosure () -> String) { write(.info, message) }
    /// Logs at `warning`.
    public static func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    /// Logs at `error`.
    public static func error(_ message: @autoclosure () -> String) { write(.error, message) }

    static func write(_ messageLevel: LogLevel, _ message: () -> String) {
        guard messageLevel >= level, messageLevel != .off else { return }
        print("[\(formatTimestamp(System.now))] \(messageLevel.label): \(message())")
    }

    /// `seconds.microseconds`, right-aligned to 4 digits of seconds, e.g. `   0.001234`.
    public static func formatTimestamp(_ instant: Instant) -> String {
        let micros = instant.nanoseconds / 1000
        var digits: [UInt8] = []
        var seconds = micros / 1_000_000
        repeat {
            digits.append(0x30 + UInt8(seconds % 10))
            seconds /= 10
        } while seconds > 0
        while digits.count < 4 { digits.append(0x20) }
        var text = [UInt8](digits.reversed())
        text.append(UInt8(ascii: "."))
        var fraction = micros % 1_000_000
        var fractionDigits = [UInt8](repeating: 0x30, count: 6)
        for i in stride(from: 5, through: 0, by: -1) {
            fractionDigits[i] = 0x30 + UInt8(fraction % 10)
            fraction /= 10
        }
        return String(decoding: text + fractionDigits, as: UTF8.self)
    }
}
