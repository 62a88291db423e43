import Interfaces

// Congestion control is split as in RFC 5681 / RFC 6582 / RFC 6675: the connection detects loss and decides
// which bytes to (re)send (fast retransmit, NewReno partial ACKs, the SACK scoreboard, dupack window
// inflation); a `TCPCongestionControl` object only owns `cwnd` and `ssthresh` and is told about the events
// that change them. Two implementations ship: `TCPNewReno` (RFC 5681 AIMD with the RFC 6582 recovery exit) and
// `TCPCubic` (RFC 9438). To write your own, implement the protocol and hand the engine a factory:
//
//     let config = TCPConfiguration(congestionControl: TCPCongestionControlFactory { mss in MyAlgorithm(mss: mss) })
//
// or pass a factory per connection in `TCPConnectionOptions`.

/// What the connection tells the congestion controller about an ACK that acknowledged new data outside loss
/// recovery.
public struct TCPAckEvent: Sendable {
    /// Bytes newly acknowledged by this ACK (SYN and FIN count as none).
    public var bytesAcknowledged: Int
    /// Bytes outstanding just before this ACK arrived (RFC 5681 "FlightSize").
    public var flightSize: Int
    /// The RTT measured from this ACK, if any.
    public var rttSample: Duration?
    /// The connection's smoothed RTT (RFC 6298), if measured.
    public var smoothedRTT: Duration?
    /// When the ACK arrived.
    public var now: Instant

    /// Creates an event.
    public init(bytesAcknowledged: Int, flightSize: Int, rttSample: Duration?, smoothedRTT: Duration?, now: Instant) {
        self.bytesAcknowledged = bytesAcknowledged
        self.flightSize = flightSize
        self.rttSample = rttSample
        self.smoothedRTT = smoothedRTT
        self.now = now
    }
}

/// A congestion control algorithm: owns the congestion window and slow-start threshold of one connection.
///
/// All sizes are in bytes. The connection never sends more than `congestionWindow` bytes beyond what it
/// estimates to be in the network, except for the window inflation of NewReno fast recovery without SACK
/// (RFC 6582 §3.2), which it adds itself. Every method receives the time; none may read a clock.
public protocol TCPCongestionControl: AnyObject {
    /// cwnd in bytes; at least one segment.
    var congestionWindow: Int { get }
    /// ssthresh in bytes.
    var slowStartThreshold: Int { get }
    /// A short name for diagnostics ("newreno", "cubic").
    var name: String { get }
    /// The connection is synchronized and its effective send MSS is known: set the initial window
    /// (RFC 5681 §3.1).
    func start(maximumSegmentSize: Int, now: Instant)
    /// New data was acknowledged outside loss recovery: grow the window (slow start or congestion avoidance).
    func onAcknowledgment(_ event: TCPAckEvent)
    /// Loss detected by duplicate ACKs or SACK; fast retransmit happens now (RFC 5681 §3.2 step 2; RFC 9438
    /// §4.6). `flightSize` is the data outstanding.
    func onFastRecoveryEntered(flightSize: Int, now: Instant)
    /// The ACK covering the recovery point arrived (RFC 6582 §3.2 step 3). `flightSize` is the data still
    /// outstanding after it.
    func onFastRecoveryExited(flightSize: Int, now: Instant)
    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4, RFC 9438 §4.8). `firstTimeout` is false for a
    /// repeated expiry of the same data, for which ssthresh is held constant.
    func onRetransmissionTimeout(flightSize: Int, firstTimeout: Bool, now: Instant)
    /// The connection was idle for longer than an RTO and is about to send (RFC 5681 §4.1): reduce cwnd to at
    /// most the restart window.
    func onIdleRestart(now: Instant)
}

/// Makes one congestion controller per connection. Choose per engine in `TCPConfiguration` or per connection in
/// `TCPConnectionOptions`.
public struct TCPCongestionControlFactory {
    /// Creates a controller for a connection whose initial MSS guess is the argument (`start` gives the real
    /// one).
    public let make: (_ maximumSegmentSize: Int) -> any TCPCongestionControl

    /// Wraps a constructor.
    public init(_ make: @escaping (_ maximumSegmentSize: Int) -> any TCPCongestionControl) { self.make = make }

    /// RFC 5681 slow start and congestion avoidance with the RFC 6582 NewReno recovery exit.
    public static var newReno: TCPCongestionControlFactory { TCPCongestionControlFactory { TCPNewReno(mss: $0) } }
    /// CUBIC (RFC 9438).
    public static var cubic: TCPCongestionControlFactory { TCPCongestionControlFactory { TCPCubic(mss: $0) } }
}

/// The RFC 5681 §3.1 initial window: 2 to 4 segments depending on the MSS.
@inline(__always)
func tcpInitialWindow(mss: Int) -> Int {
    if mss > 2190 { return 2 * mss }
    if mss > 1095 { return 3 * mss }
    return 4 * mss
}

/// Upper bound on any congestion window (1 GiB, the largest window TCP can advertise, RFC 7323 §2.3).
let tcpMaximumWindow = 1 << 30

/// RFC 5681 congestion control with the RFC 6582 (NewReno) fast-recovery window rules.
///
/// Slow start adds min(N, SMSS) per ACK (§3.1 eq. 2); congestion avoidance adds one SMSS per cwnd of
/// acknowledged bytes (byte counting, §3.1); fast recovery sets ssthresh = max(FlightSize/2, 2·SMSS) (eq. 4)
/// and cwnd = ssthresh (the connection adds the 3·SMSS and per-dupack inflation when SACK is off); the full ACK
/// sets cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) (RFC 6582 §3.2 step 3, option 1); a timeout sets
/// cwnd to the loss window of one SMSS.
public final class TCPNewReno: TCPCongestionControl {
    /// cwnd in bytes (see `TCPCongestionControl`).
    public private(set) var congestionWindow: Int
    /// ssthresh in bytes; "infinite" (1 GiB) until the first loss.
    public private(set) var slowStartThreshold: Int = tcpMaximumWindow
    private var mss: Int
    private var bytesAckedInAvoidance = 0

    /// Creates the controller with an initial MSS guess.
    public init(mss: Int) {
        self.mss = max(mss, 1)
        congestionWindow = tcpInitialWindow(mss: self.mss)
    }

    /// Always "newreno".
    public var name: String { "newreno" }

    /// Sets the initial window for the now-known MSS (RFC 5681 §3.1).
    public func start(maximumSegmentSize: Int, now: Instant) {
        mss = max(maximumSegmentSize, 1)
        congestionWindow = tcpInitialWindow(mss: mss)
        bytesAckedInAvoidance = 0
    }

    /// Slow start or congestion avoidance growth for newly acknowledged bytes.
    public func onAcknowledgment(_ event: TCPAckEvent) {
        let n = max(event.bytesAcknowledged, 0)
        if congestionWindow < slowStartThreshold {
            congestionWindow = min(congestionWindow + min(n, mss), tcpMaximumWindow)
        } else {
            bytesAckedInAvoidance += n
            if bytesAckedInAvoidance >= congestionWindow {
                bytesAckedInAvoidance -= congestionWindow
                congestionWindow = min(congestionWindow + mss, tcpMaximumWindow)
            }
        }
    }

    /// Multiplicative decrease on entering fast recovery.
    public func onFastRecoveryEntered(flightSize: Int, now: Instant) {
        slowStartThreshold = max(flightSize / 2, 2 * mss)
        congestionWindow = slowStartThreshold
        bytesAckedInAvoidance = 0
    }

    /// Window after the recovery point is acknowledged.
    public func onFastRecoveryExited(flightSize: Int, now: Instant) {
        congestionWindow = max(min(slowStartThreshold, max(flightSize, mss) + mss), mss)
    }

    /// Loss window after a retransmission timeout.
    public func onRetransmissionTimeout(flightSize: Int, firstTimeout: Bool, now: Instant) {
        if firstTimeout { slowStartThreshold = max(flightSize / 2, 2 * mss) }
        congestionWindow = mss
        bytesAckedInAvoidance = 0
    }

    /// Restart window after idleness (RFC 5681 §4.1).
    public func onIdleRestart(now: Instant) {
        congestionWindow = min(congestionWindow, tcpInitialWindow(mss: mss))
    }
}

/// CUBIC congestion control (RFC 9438).
///
/// Windows are kept in segments as `Double` internally. Constants: C = 0.4, β_cubic = 0.7 (§4.1). In
/// congestion avoidance the window follows W_cubic(t) = C·(t − K)³ + W_max (§4.2), never below the
/// Reno-friendly estimate W_est (§4.3), growing by (W_cubic(t+RTT) − cwnd)/cwnd per acknowledged segment with
/// the target clamped to [cwnd, 1.5·cwnd] (§4.4, §4.5). A congestion event sets ssthresh = FlightSize·β and
/// applies fast convergence (§4.6, §4.7); a timeout sets cwnd to one segment (§4.8). Slow start is RFC 5681's.
public final class TCPCubic: TCPCongestionControl {
    /// C (§4.1), in segments per second cubed.
    public static let c = 0.4
    /// β_cubic (§4.1).
    public static let beta = 0.7

    private var mss: Int
    private var cwnd: Double            // segments
    private var ssthresh: Double        // segments
    private var wMax: Double = 0        // segments, window before the last reduction
    private var k: Double = 0           // seconds
    private var epochStart: Instant?
    private var wEst: Double = 0        // segments

    /// Creates the controller with an initial MSS guess.
    public init(mss: Int) {
        self.mss = max(mss, 1)
        cwnd = Double(tcpInitialWindow(mss: self.mss)) / Double(self.mss)
        ssthresh = Double(tcpMaximumWindow)
    }

    /// Always "cubic".
    public var name: String { "cubic" }

    /// cwnd in bytes (see `TCPCongestionControl`).
    public var congestionWindow: Int { Self.bytes(cwnd, mss: mss) }
    /// ssthresh in bytes; "infinite" (1 GiB) until the first loss.
    public var slowStartThreshold: Int { Self.bytes(ssthresh, mss: mss) }

    /// Segments to bytes, clamped to [1 segment, 1 GiB] (never traps on NaN or overflow).
    static func bytes(_ segments: Double, mss: Int) -> Int {
        let value = segments * Double(mss)
        if !(value >= Double(mss)) { return mss }
        if value >= Double(tcpMaximumWindow) { return tcpMaximumWindow }
        return Int(value)
    }

    /// Real cube root by Newton's method from above (no libm in the guest). Exact to ~1e-12 relative.
    static func cubeRoot(_ x: Double) -> Double {
        if x == 0 || !x.isFinite { return 0 }
        let a = x < 0 ? -x : x
        var y = a > 1 ? a : 1
        for _ in 0..<200 {
            let next = (2 * y + a / (y * y)) / 3
            if !(next < y) { break }
            y = next
        }
        return x < 0 ? -y : y
    }

    /// Sets the initial window for the now-known MSS (RFC 5681 §3.1).
    public func start(maximumSegmentSize: Int, now: Instant) {
        mss = max(maximumSegmentSize, 1)
        cwnd = Double(tcpInitialWindow(mss: mss)) / Double(mss)
        epochStart = nil
    }

    private func wCubic(_ t: Double) -> Double {
        let d = t - k
        return Self.c * d * d * d + wMax
    }

    /// Slow start or congestion avoidance growth for newly acknowledged bytes.
    public func onAcknowledgment(_ event: TCPAckEvent) {
        let acked = Double(max(event.bytesAcknowledged, 0)) / Double(mss)
        if cwnd < ssthresh {
            cwnd += min(acked, 1)
            return
        }
        if epochStart == nil {
            epochStart = event.now
            if cwnd < wMax {
                k = Self.cubeRoot((wMax - cwnd) / Self.c)
            } else {
                k = 0
                wMax = cwnd
            }
            wEst = cwnd
        }
        let t = Double(event.now.duration(since: epochStart!).nanosecondsClamped) / 1e9
        let rtt = Double((event.smoothedRTT ?? .milliseconds(100)).nanosecondsClamped) / 1e9
        var target = wCubic(t + rtt)
        if target < cwnd { target = cwnd }
        if target > 1.5 * cwnd { target = 1.5 * cwnd }
        let alpha = wEst >= wMax ? 1.0 : 3 * (1 - Self.beta) / (1 + Self.beta)
        wEst += alpha * acked / cwnd
        if wCubic(t) < wEst {
            if wEst > cwnd { cwnd = wEst }
        } else {
            cwnd += (target - cwnd) / cwnd * acked
        }
        let cap = Double(tcpMaximumWindow) / Double(mss)
        if cwnd > cap { cwnd = cap }
    }

    private func reduce(flightSize: Int) {
        epochStart = nil
        wMax = cwnd < wMax ? cwnd * (1 + Self.beta) / 2 : cwnd
        let flight = Double(max(flightSize, 0)) / Double(mss)
        ssthresh = max(flight * Self.beta, 2)
    }

    /// Multiplicative decrease on entering fast recovery.
    public func onFastRecoveryEntered(flightSize: Int, now: Instant) {
        reduce(flightSize: flightSize)
        cwnd = ssthresh
    }

    /// Window after the recovery point is acknowledged.
    public func onFastRecoveryExited(flightSize: Int, now: Instant) {
        let flight = Double(max(flightSize, mss)) / Double(mss)
        cwnd = max(min(ssthresh, flight + 1), 1)
    }

    /// Loss window after a retransmission timeout.
    public func onRetransmissionTimeout(flightSize: Int, firstTimeout: Bool, now: Instant) {
        if firstTimeout {
            reduce(flightSize: flightSize)
        } else {
            epochStart = nil
        }
        cwnd = 1
    }

    /// Restart window after idleness (RFC 5681 §4.1).
    public func onIdleRestart(now: Instant) {
        let restart = Double(tcpInitialWindow(mss: mss)) / Double(mss)
        if cwnd > restart { cwnd = restart }
        epochStart = nil
    }
}
