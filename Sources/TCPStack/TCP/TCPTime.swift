import Interfaces

// Integer time arithmetic for the per-segment path. `Swift.Duration` is a 128-bit count of attoseconds: building
// one from nanoseconds multiplies, and reading it back (`components`) divides, in 128 bits, which cost more than
// the rest of an ACK's bookkeeping. Deadlines computed on every segment use these instead; timer values from
// the configuration are converted once (`TCPShared`).

extension Instant {
    /// The instant `nanoseconds` later (saturating at `Instant.distantFuture`; a negative span counts as zero).
    @inline(__always)
    func adding(nanoseconds: Int64) -> Instant {
        guard nanoseconds > 0 else { return self }
        let (sum, overflow) = self.nanoseconds.addingReportingOverflow(UInt64(nanoseconds))
        return Instant(nanoseconds: overflow ? .max : sum)
    }

    /// Nanoseconds from `earlier` to this instant: 0 if `earlier` is later, `Int64.max` if the span does not fit.
    @inline(__always)
    func nanoseconds(since earlier: Instant) -> Int64 {
        guard self.nanoseconds > earlier.nanoseconds else { return 0 }
        return Int64(clamping: self.nanoseconds - earlier.nanoseconds)
    }
}
