import Interfaces

/// The connection states of RFC 9293 §3.3.2.
public enum TCPState: Equatable, Sendable, CustomStringConvertible {
    /// No connection (or the connection has ended).
    case closed
    /// Waiting for a connection request (listeners only).
    case listen
    /// SYN sent, waiting for a matching SYN.
    case synSent
    /// SYN received and answered, waiting for the ACK of our SYN.
    case synReceived
    /// Open: data flows both ways.
    case established
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    case finWait1
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    case finWait2
    /// The peer sent FIN; waiting for our application to close.
    case closeWait
    /// Both sent FIN simultaneously; waiting for the ACK of ours.
    case closing
    /// The peer closed first, we then sent FIN; waiting for its ACK.
    case lastAck
    /// Both FINs acknowledged; waiting 2·MSL so that stray segments die (RFC 9293 §3.4.2).
    case timeWait

    /// Whether the state is synchronized (RFC 9293 §3.10.7.4: ESTABLISHED and later).
    public var isSynchronized: Bool {
        switch self {
        case .closed, .listen, .synSent, .synReceived: return false
        default: return true
        }
    }

    /// A readable rendering for logs.
    public var description: String {
        switch self {
        case .closed: return "CLOSED"
        case .listen: return "LISTEN"
        case .synSent: return "SYN-SENT"
        case .synReceived: return "SYN-RECEIVED"
        case .established: return "ESTABLISHED"
        case .finWait1: return "FIN-WAIT-1"
        case .finWait2: return "FIN-WAIT-2"
        case .closeWait: return "CLOSE-WAIT"
        case .closing: return "CLOSING"
        case .lastAck: return "LAST-ACK"
        case .timeWait: return "TIME-WAIT"
        }
    }
}

/// Errors of the connection API. Connection failures (`connectionRefused`, `connectionReset`, `timedOut`) are
/// sticky: once a connection has failed, `send` and `receive` report the failure (after any data received
/// before it has been read).
public enum TCPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The handle does not name a live connection or listener (never issued, or already closed).
    case invalidHandle
    /// The peer answered our SYN with RST (RFC 9293 §3.10.7.3).
    case connectionRefused
    /// The peer reset an open connection (RFC 9293 §3.10.7.4).
    case connectionReset
    /// Retransmissions, SYN retries, zero-window probes or keepalive probes went unanswered.
    case timedOut
    /// The connection was aborted locally.
    case aborted
    /// `send` after `shutdown` or `close` (RFC 9293 §3.10.2 "connection closing").
    case connectionClosing
    /// The operation needs a connection that is not in this state.
    case invalidState(TCPState)
    /// A listener already exists on the port.
    case addressInUse
    /// No free ephemeral port towards that destination.
    case noFreePorts
    /// The engine already holds `maximumConnections` connections.
    case tooManyConnections
    /// No local address configured for the connection.
    case noLocalAddress

    /// A readable rendering for logs.
    public var description: String {
        switch self {
        case .invalidHandle: return "invalid handle"
        case .connectionRefused: return "connection refused"
        case .connectionReset: return "connection reset by peer"
        case .timedOut: return "connection timed out"
        case .aborted: return "connection aborted"
        case .connectionClosing: return "connection closing"
        case .invalidState(let state): return "invalid in state \(state)"
        case .addressInUse: return "address in use"
        case .noFreePorts: return "no free ephemeral ports"
        case .tooManyConnections: return "too many connections"
        case .noLocalAddress: return "no local address"
        }
    }
}

/// Names a connection owned by the application. A plain value; stale handles (after `close`/`abort`) are
/// detected by their generation and rejected with `.invalidHandle`.
public struct TCPConnectionHandle: Hashable, Sendable, CustomStringConvertible {
    let index: UInt32
    let generation: UInt32
    /// `conn#index.generation`.
    public var description: String { "conn#\(index).\(generation)" }
}

/// Names a listening port. Stale handles are rejected with `.invalidHandle`.
public struct TCPListenerHandle: Hashable, Sendable, CustomStringConvertible {
    let index: UInt32
    let generation: UInt32
    /// `listener#index.generation`.
    public var description: String { "listener#\(index).\(generation)" }
}

/// A handle whose readiness may have changed: drained with `TCPEngine.nextEvent()` by a socket layer to wake
/// threads blocked on that handle. Each handle is queued at most once until drained.
public enum TCPEvent: Hashable, Sendable, CustomStringConvertible {
    /// A connection became readable, writable, connected, closed or failed.
    case connection(TCPConnectionHandle)
    /// A listener has a connection to accept.
    case listener(TCPListenerHandle)

    /// A readable rendering for logs.
    public var description: String {
        switch self {
        case .connection(let h): return "event(\(h))"
        case .listener(let h): return "event(\(h))"
        }
    }
}

/// What a handle is ready for.
public struct TCPReadiness: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The bits as carried.
    public var rawValue: UInt8
    /// Readiness from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `receive` will not return `.wouldBlock` (data, end of stream, or an error is waiting).
    public static let readable = TCPReadiness(rawValue: 1)
    /// `send` will accept at least one byte or report an error.
    public static let writable = TCPReadiness(rawValue: 2)
    /// `accept` will return a connection (listeners).
    public static let acceptable = TCPReadiness(rawValue: 4)
    /// The handshake has completed (the connection was or is ESTABLISHED).
    public static let connected = TCPReadiness(rawValue: 8)
    /// The connection has failed or fully closed; nothing more will happen on it.
    public static let closed = TCPReadiness(rawValue: 16)

    /// A readable rendering for logs.
    public var description: String {
        var parts: [String] = []
        if contains(.readable) { parts.append("readable") }
        if contains(.writable) { parts.append("writable") }
        if contains(.acceptable) { parts.append("acceptable") }
        if contains(.connected) { parts.append("connected") }
        if contains(.closed) { parts.append("closed") }
        var text = "["
        for (i, p) in parts.enumerated() {
            if i > 0 { text += "," }
            text += p
        }
        return text + "]"
    }
}

/// The outcome of `TCPEngine.receive`.
public enum TCPReceiveResult: Equatable, Sendable, CustomStringConvertible {
    /// This many bytes (at least 1) were copied into the buffer.
    case bytes(Int)
    /// No data yet; wait for a `.readable` event.
    case wouldBlock
    /// The peer closed its side (FIN received) and every byte before it has been read.
    case endOfStream

    /// A readable rendering for logs.
    public var description: String {
        switch self {
        case .bytes(let n): return "bytes(\(n))"
        case .wouldBlock: return "wouldBlock"
        case .endOfStream: return "endOfStream"
        }
    }
}

/// A snapshot of one connection's internals, for diagnostics and tests.
public struct TCPConnectionInfo: Sendable {
    /// State.
    public var state: TCPState
    /// The four-tuple.
    public var tuple: TCPFourTuple
    /// Effective send MSS (payload bytes per full segment, before per-segment options).
    public var sendMSS: Int
    /// Whether window scaling is in effect, and the shifts applied to the peer's and our windows.
    public var windowScaling: Bool
    /// Shift applied to windows the peer advertises.
    public var sendWindowShift: UInt8
    /// Shift applied to windows we advertise.
    public var receiveWindowShift: UInt8
    /// Whether timestamps are in effect.
    public var timestamps: Bool
    /// Whether SACK is in effect.
    public var selectiveAcknowledgments: Bool
    /// The peer's current window in bytes.
    public var sendWindow: Int
    /// Congestion window in bytes.
    public var congestionWindow: Int
    /// Slow-start threshold in bytes.
    public var slowStartThreshold: Int
    /// Congestion control name.
    public var congestionControl: String
    /// Smoothed RTT, if measured.
    public var smoothedRTT: Duration?
    /// Current RTO.
    public var retransmissionTimeout: Duration
    /// Bytes sent and not yet acknowledged.
    public var bytesInFlight: Int
    /// Bytes queued by the application and not yet acknowledged (sent or not).
    public var bytesQueued: Int
    /// Bytes received and not yet read by the application.
    public var bytesReadable: Int
    /// Out-of-order ranges held.
    public var outOfOrderRanges: Int
    /// Ranges in the SACK scoreboard.
    public var sackedRanges: Int
    /// Whether the connection is in fast recovery.
    public var inFastRecovery: Bool
    /// Retransmitted segments so far.
    public var retransmissions: Int
    /// Retransmission timer expiries so far.
    public var timeouts: Int
    /// Fast-recovery episodes so far.
    public var fastRecoveries: Int
    /// Tail loss probes sent so far (RFC 8985 §7).
    public var tailLossProbes: Int = 0
    /// Segments RACK declared lost by time (RFC 8985 §6.2), including lost retransmissions.
    public var rackLosses: Int = 0
}

/// Engine-wide counters.
public struct TCPStatistics: Equatable, Sendable {
    /// Segments handed to `receive`.
    public var segmentsReceived = 0
    /// Segments sent.
    public var segmentsSent = 0
    /// Received segments dropped as malformed (header or options).
    public var malformedSegments = 0
    /// Received segments dropped for a bad checksum.
    public var checksumErrors = 0
    /// RSTs sent.
    public var resetsSent = 0
    /// RSTs the IPv4 layer refused (no route, full transmit queue) or that found the queue full; they are
    /// dropped, not retried: a RST is advisory (RFC 9293 §3.5.2) and the peer's retransmission draws another.
    public var resetsDropped = 0
    /// Challenge ACKs sent (RFC 5961).
    public var challengeAcks = 0
    /// Segments retransmitted.
    public var retransmissions = 0
    /// SYN cookies sent.
    public var synCookiesSent = 0
    /// Connections created from a valid SYN cookie.
    public var synCookiesAccepted = 0
    /// Half-open connections evicted because the SYN queue was full.
    public var synQueueEvictions = 0
    /// SYNs dropped (accept queue full, or connection table full without cookies).
    public var synsDropped = 0
    /// Segments not sent because the IPv4 layer refused them.
    public var sendFailures = 0
    /// TIME-WAIT connections ended early to make room when the connection table was full.
    public var timeWaitEvictions = 0
    /// Tail loss probes sent (RFC 8985 §7).
    public var tailLossProbes = 0
    /// Segments RACK declared lost by time (RFC 8985 §6.2), including lost retransmissions.
    public var rackLosses = 0
    /// Retransmission timer expiries of established connections' data.
    public var retransmissionTimeouts = 0
    /// Retransmissions found unnecessary (the original arrived: RFC 3522 timestamp check); each widens RACK's
    /// reordering window.
    public var spuriousRetransmissions = 0

    /// All zero.
    public init() {}
}
