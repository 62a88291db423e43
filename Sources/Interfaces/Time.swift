/// A point on the monotonic clock: nanoseconds since the clock's origin (boot, for the guest's TSC clock).
///
/// Pure components never read a clock themselves; they take an `Instant` as an argument (`poll(now:)`), so tests
/// drive them with a manual clock. Arithmetic saturates at the ends instead of trapping: a deadline "infinitely
/// far away" is `Instant.distantFuture`.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: UInt64

    /// Creates an instant `nanoseconds` after the origin.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The clock's origin.
    public static let zero = Instant(nanoseconds: 0)
    /// An instant later than any the clock will reach; use it for "no deadline".
    public static let distantFuture = Instant(nanoseconds: .max)

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// The instant `d` later (saturating; negative durations move earlier, not below zero).
    public static func + (a: Instant, d: Duration) -> Instant {
        let delta = d.nanosecondsClamped
        if delta >= 0 {
            let (sum, overflow) = a.nanoseconds.addingReportingOverflow(UInt64(delta))
            return Instant(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = UInt64(-(delta + 1)) + 1
        return Instant(nanoseconds: a.nanoseconds >= magnitude ? a.nanoseconds - magnitude : 0)
    }

    /// The instant `d` earlier (saturating at zero).
    public static func - (a: Instant, d: Duration) -> Instant { a + (.zero - d) }

    /// The signed time from `b` to `a`.
    public static func - (a: Instant, b: Instant) -> Duration {
        if a >= b { return .nanoseconds(Int64(clamping: a.nanoseconds - b.nanoseconds)) }
        return .zero - .nanoseconds(Int64(clamping: b.nanoseconds - a.nanoseconds))
    }

    /// The time elapsed from `earlier` to this instant, or zero if `earlier` is later.
    public func duration(since earlier: Instant) -> Duration {
        self > earlier ? self - earlier : .zero
    }

    public var description: String { "\(nanoseconds)ns" }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to the `Int64` range (about ±292 years).
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }

    /// The duration in whole microseconds (truncated toward zero).
    public var microsecondsClamped: Int64 { nanosecondsClamped / 1000 }

    /// The duration in whole milliseconds (truncated toward zero).
    public var millisecondsClamped: Int64 { nanosecondsClamped / 1_000_000 }
}

/// A source of monotonic time. The guest's implementation reads the TSC; tests use `ManualClock`.
public protocol MonotonicClock {
    /// The current instant. Never decreases.
    var now: Instant { get }
}

/// A clock that only moves when told to: the time source of host tests and simulations.
public final class ManualClock: MonotonicClock {
    /// The current instant.
    public private(set) var now: Instant

    /// Creates a clock that reads `start` until advanced.
    public init(start: Instant = .zero) { now = start }

    /// Moves the clock forward by `d` (negative durations are ignored: the clock is monotonic).
    public func advance(by d: Duration) {
        if d > .zero { now = now + d }
    }

    /// Moves the clock to `instant` if it is later than the current one.
    public func advance(to instant: Instant) {
        if instant > now { now = instant }
    }
}

/// Seconds and nanoseconds since 1970-01-01T00:00:00Z (the Unix epoch), for wall-clock time.
public struct WallTime: Comparable, Hashable, Sendable {
    /// Whole seconds since the epoch.
    public var secondsSinceEpoch: Int64
    /// Nanoseconds within the second, 0..<1_000_000_000.
    public var nanoseconds: UInt32

    /// Creates a wall time; `nanoseconds` must be below one second.
    public init(secondsSinceEpoch: Int64, nanoseconds: UInt32 = 0) {
        precondition(nanoseconds < 1_000_000_000, "nanoseconds out of range")
        self.secondsSinceEpoch = secondsSinceEpoch
        self.nanoseconds = nanoseconds
    }

    public static func < (a: WallTime, b: WallTime) -> Bool {
        (a.secondsSinceEpoch, a.nanoseconds) < (b.secondsSinceEpoch, b.nanoseconds)
    }
}

extension WallTime {
    /// The wall time of a proleptic-Gregorian UTC calendar date, or nil if a field is out of range
    /// (month 1-12, day 1-31 and valid for the month, hour 0-23, minute 0-59, second 0-60).
    public init?(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute),
              (0...60).contains(second), day <= WallTime.daysInMonth(year: year, month: month)
        else { return nil }
        let days = WallTime.daysSinceEpoch(year: year, month: month, day: day)
        self.init(secondsSinceEpoch: Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second))
    }

    /// Whether `year` is a Gregorian leap year.
    public static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    /// The number of days in `month` (1-12) of `year`.
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to the given date (negative before it). Counts whole 400-year eras (146,097 days
    /// each) from 0000-03-01, so that leap days fall at the end of each counted year.
    public static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year                 // years start in March
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400                        // 0...399
        let monthFromMarch = (month + 9) % 12                // March = 0 ... February = 11
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468            // 719,468 days from 0000-03-01 to 1970-01-01
    }
}
