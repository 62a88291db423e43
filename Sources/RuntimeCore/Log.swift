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
        var line = CompactText()
        line.append("[")
        appendTimestamp(System.now, to: &line)
        line.append("] ")
        line.append(messageLevel.label)
        line.append(": ")
        line.append(message())
        print(line.string)
    }

    /// `seconds.microseconds`, right-aligned to 4 digits of seconds, e.g. `   0.001234`.
    public static func formatTimestamp(_ instant: Instant) -> String {
        var text = CompactText()
        appendTimestamp(instant, to: &text)
        return text.string
    }

    private static func appendTimestamp(_ instant: Instant, to text: inout CompactText) {
        let micros = instant.nanoseconds / 1000
        text.append(decimal: micros / 1_000_000, width: 4)
        text.append(".")
        text.append(decimal: micros % 1_000_000, width: 6, padding: 0x30)
    }
}
