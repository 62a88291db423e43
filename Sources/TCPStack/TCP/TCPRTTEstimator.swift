import Interfaces

/// The retransmission timer computation of RFC 6298 §2: smoothed RTT, RTT variance and the RTO, with
/// exponential backoff (§5.5) and configurable bounds (§2.4 recommends a 1 s minimum; LANs may lower it).
///
/// Karn's rule (§3) is the caller's part: it must not feed samples from retransmitted segments unless the
/// sample comes from a timestamp echo (RFC 7323 §4.2).
public struct TCPRTTEstimator: Sendable {
    /// Smoothed round-trip time in nanoseconds, nil before the first sample.
    public private(set) var smoothedRTT: Int64?
    /// Round-trip time variation in nanoseconds.
    public private(set) var rttVariance: Int64 = 0
    /// The current RTO including backoff, in nanoseconds.
    public private(set) var rtoNanoseconds: Int64
    /// Lower bound of the RTO.
    public let minimumNanoseconds: Int64
    /// Upper bound of the RTO (RFC 6298 §2.5 allows a maximum of at least 60 s).
    public let maximumNanoseconds: Int64
    /// Clock granularity G (RFC 6298 §2): the timestamp clock ticks once per millisecond.
    static let granularity: Int64 = 1_000_000

    /// Creates an estimator whose RTO is `initial` (RFC 6298 §2.1: 1 s) until the first sample.
    public init(initial: Duration, minimum: Duration, maximum: Duration) {
        minimumNanoseconds = max(minimum.nanosecondsClamped, 1)
        maximumNanoseconds = max(maximum.nanosecondsClamped, minimumNanoseconds)
        rtoNanoseconds = min(max(initial.nanosecondsClamped, minimumNanoseconds), maximumNanoseconds)
    }

    /// The current retransmission timeout.
    public var retransmissionTimeout: Duration { .nanoseconds(rtoNanoseconds) }

    /// Folds in one measurement (RFC 6298 §2.2 for the first, §2.3 with alpha 1/8 and beta 1/4 afterwards),
    /// and recomputes the RTO, which also collapses any backoff.
    public mutating func addSample(_ rtt: Duration) {
        addSample(nanoseconds: rtt.nanosecondsClamped)
    }

    /// `addSample` for a measurement in nanoseconds (negative values count as zero).
    public mutating func addSample(nanoseconds: Int64) {
        let r = max(nanoseconds, 0)
        if let srtt = smoothedRTT {
            let delta = srtt > r ? srtt - r : r - srtt
            rttVariance = rttVariance - rttVariance / 4 + delta / 4
            smoothedRTT = srtt - srtt / 8 + r / 8
        } else {
            smoothedRTT = r
            rttVariance = r / 2
        }
        let candidate = smoothedRTT! + max(Self.granularity, 4 * rttVariance)
        rtoNanoseconds = min(max(candidate, minimumNanoseconds), maximumNanoseconds)
    }

    /// Doubles the RTO after a timer expiry (RFC 6298 §5.5), bounded by the maximum.
    public mutating func backoff() {
        rtoNanoseconds = min(rtoNanoseconds > maximumNanoseconds / 2 ? maximumNanoseconds : rtoNanoseconds * 2,
                             maximumNanoseconds)
    }

    /// Sets the RTO to `value` when no sample exists yet (RFC 6298 §5.7: 3 s after a retransmitted SYN).
    public mutating func resetIfUnmeasured(to value: Duration) {
        if smoothedRTT == nil {
            rtoNanoseconds = min(max(value.nanosecondsClamped, minimumNanoseconds), maximumNanoseconds)
        }
    }
}
