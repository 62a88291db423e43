import Interfaces

/// A token bucket: at most `burst` events at once, refilled at one token per `interval`. Used to rate-limit
/// ICMP error messages (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2).
///
/// Pure: time comes in as an argument. The bucket starts full.
public struct TokenBucket: Equatable {
    /// The most tokens held.
    public let burst: Int
    /// Time to earn one token.
    public let interval: Duration
    private var tokens: Int
    private var lastRefill: Instant?

    /// A full bucket of `burst` tokens earning one per `interval`.
    public init(burst: Int, interval: Duration) {
        self.burst = max(burst, 0)
        self.interval = interval
        tokens = max(burst, 0)
    }

    /// Takes a token if one is available at `now`.
    public mutating func take(now: Instant) -> Bool {
        refill(now: now)
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }

    private mutating func refill(now: Instant) {
        guard let last = lastRefill else { lastRefill = now; return }
        let step = interval.nanosecondsClamped
        guard step > 0 else { tokens = burst; lastRefill = now; return }
        let elapsed = now.duration(since: last).nanosecondsClamped
        let earned = elapsed / step
        guard earned > 0 else { return }
        if earned >= Int64(burst - tokens) {
            tokens = burst
            lastRefill = now
        } else {
            tokens += Int(earned)
            lastRefill = last + .nanoseconds(earned * step)
        }
    }
}
