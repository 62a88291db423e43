import Interfaces

/// Keepalive probing (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): off unless asked for.
public struct TCPKeepalive: Sendable {
    /// Idle time before the first probe (RFC 1122: no less than two hours by default).
    public var idle: Duration
    /// Time between unanswered probes.
    public var interval: Duration
    /// Unanswered probes after which the connection fails with `.timedOut`.
    public var probeCount: Int

    /// Creates a keepalive setting; defaults follow RFC 1122 and common practice (2 h, 75 s, 9).
    public init(idle: Duration = .seconds(7200), interval: Duration = .seconds(75), probeCount: Int = 9) {
        self.idle = idle
        self.interval = interval
        self.probeCount = max(probeCount, 1)
    }
}

/// Engine-wide settings. Every limit here bounds memory or time; all have conservative defaults.
public struct TCPConfiguration {
    /// MSS advertised in our SYNs: the largest segment payload we accept (RFC 9293 §3.7.1). 1460 fits a
    /// 1500-byte Ethernet MTU. It also caps the MSS we send with.
    public var maximumSegmentSize: Int = 1460
    /// Bytes of unacknowledged plus unsent data a connection holds (`send` accepts at most this much).
    public var sendBufferSize: Int = 64 * 1024
    /// Bytes of received data a connection holds for the application, including out-of-order data. This is
    /// the largest window advertised (scaled if above 65535, RFC 7323).
    public var receiveBufferSize: Int = 64 * 1024
    /// Offer window scaling (RFC 7323 §2).
    public var windowScaling = true
    /// Offer timestamps, enabling RTTM and PAWS (RFC 7323 §3-5).
    public var timestamps = true
    /// Offer selective acknowledgments (RFC 2018).
    public var selectiveAcknowledgments = true
    /// Detect losses with RACK-TLP (RFC 8985) on connections that use SACK: time-based loss detection (which also
    /// finds lost retransmissions) and tail loss probes, so that such losses are repaired within a few round
    /// trips instead of waiting for the retransmission timer. Costs a bounded log of the segments in flight per
    /// connection. When off (or without SACK), loss detection is RFC 6675's DupThresh rule and the RTO.
    public var rackTLP = true
    /// At most this many out-of-order ranges are held by a receiver, and at most this many SACKed ranges are
    /// tracked by a sender; data that would need more is dropped (and retransmitted by the peer).
    public var maximumOutOfOrderRanges = 32
    /// RTO before any RTT sample (RFC 6298 §2.1).
    public var initialRTO: Duration = .seconds(1)
    /// RTO lower bound (RFC 6298 §2.4 says 1 s; lower it for LANs and simulations).
    public var minimumRTO: Duration = .seconds(1)
    /// RTO upper bound (RFC 6298 §2.5).
    public var maximumRTO: Duration = .seconds(60)
    /// Consecutive retransmission timeouts of established-connection data (or unanswered zero-window probes)
    /// after which the connection fails with `.timedOut` (RFC 9293 §3.8.3 "R2").
    public var maximumRetransmissions = 12
    /// SYN or SYN-ACK retransmissions before giving up (RFC 9293 §3.8.3: R2 for SYN at least 3 minutes with
    /// backoff from 1 s takes 7 tries).
    public var maximumSynRetransmissions = 6
    /// Time spent in TIME-WAIT: 2·MSL (RFC 9293 §3.4.2 suggests MSL = 2 minutes; 60 s total is common).
    public var timeWaitDuration: Duration = .seconds(60)
    /// An application-closed connection stuck in FIN-WAIT-2 (the peer never sends its FIN) is dropped after
    /// this long. Connections whose handle is still open wait forever, as RFC 9293 specifies.
    public var finWait2Timeout: Duration = .seconds(60)
    /// Longest delay of an ACK (RFC 9293 §3.8.6.3: under 0.5 s). Zero disables delayed ACKs.
    public var delayedAckTimeout: Duration = .milliseconds(200)
    /// An ACK is sent at once when this many data segments are unacknowledged (RFC 9293 §3.8.6.3: at least
    /// every second full-sized segment).
    public var ackEverySegments = 2
    /// Disable the Nagle algorithm (RFC 9293 §3.7.4) on new connections.
    public var noDelay = false
    /// Keepalive for new connections; nil (the default) disables it.
    public var keepalive: TCPKeepalive? = nil
    /// The congestion control algorithm of new connections.
    public var congestionControl: TCPCongestionControlFactory = .newReno
    /// Half-open (SYN-RECEIVED) connections a listener keeps. When full, further SYNs are answered with SYN
    /// cookies (or, with cookies off, the oldest half-open connection is evicted).
    public var synQueueLimit = 128
    /// Answer SYNs with SYN cookies when the SYN queue is full (RFC 4987 §3.6).
    public var synCookies = true
    /// Connections (in any state, including TIME-WAIT) the engine holds at once. When the table is full, the
    /// oldest connection in TIME-WAIT whose application handle is closed is ended early to make room for a new
    /// one (as Linux does when its TIME-WAIT table overflows); only if there is none is the new connection
    /// refused.
    public var maximumConnections = 4096
    /// First port of the ephemeral range used by `connect` (RFC 6335 §6: 49152-65535).
    public var ephemeralPortRange: ClosedRange<UInt16> = 49152...65535
    /// Challenge ACKs sent per second at most (RFC 5961 §7).
    public var challengeAckLimit = 1000

    /// Defaults everywhere.
    public init() {}

    /// Defaults with the given congestion control.
    public init(congestionControl: TCPCongestionControlFactory) {
        self.congestionControl = congestionControl
    }
}

/// Per-connection overrides of the engine configuration (for `connect` and `listen`; a listener applies its
/// options to every connection it accepts). Keepalive and Nagle can also be changed later on a live handle.
public struct TCPConnectionOptions {
    /// Disable Nagle (nil: the engine default).
    public var noDelay: Bool?
    /// Enable keepalive with these settings (nil: the engine default).
    public var keepalive: TCPKeepalive?
    /// Congestion control (nil: the engine default).
    public var congestionControl: TCPCongestionControlFactory?
    /// Send buffer size in bytes (nil: the engine default).
    public var sendBufferSize: Int?
    /// Receive buffer size in bytes (nil: the engine default).
    public var receiveBufferSize: Int?
    /// Local address to bind a `connect` to (nil: the engine's `localAddress`).
    public var localAddress: IPv4Address?
    /// Local port to bind a `connect` to (nil: an ephemeral port).
    public var localPort: UInt16?

    /// The given overrides; nil means "engine default".
    public init(noDelay: Bool? = nil, keepalive: TCPKeepalive? = nil,
                congestionControl: TCPCongestionControlFactory? = nil, sendBufferSize: Int? = nil,
                receiveBufferSize: Int? = nil, localAddress: IPv4Address? = nil, localPort: UInt16? = nil) {
        self.noDelay = noDelay
        self.keepalive = keepalive
        self.congestionControl = congestionControl
        self.sendBufferSize = sendBufferSize
        self.receiveBufferSize = receiveBufferSize
        self.localAddress = localAddress
        self.localPort = localPort
    }
}
