import Interfaces

/// Sends one IPv4 packet on behalf of a transport protocol: the stack builds the IPv4 header (and resolves the
/// next hop), the transport writes `length` bytes of payload through `fill`. Returns false when the packet
/// cannot be queued now (no route, next hop unresolved and its queue full, device queue full); the transport
/// keeps the data and tries again on a later poll.
public typealias IPv4Send = (
    _ source: IPv4Address, _ destination: IPv4Address, _ length: Int,
    _ fill: (UnsafeMutableRawBufferPointer) -> Void
) -> Bool

/// A transport protocol plugged into the IPv4 layer (TCP is one). The IPv4 layer hands it every packet whose
/// protocol field equals `protocolNumber` and that is addressed to this host, and polls it for output.
///
/// Time is always passed in; a handler never reads a clock.
public protocol IPv4TransportHandler: AnyObject {
    /// The IPv4 protocol number served (6 for TCP, RFC 9293 §3.1).
    var protocolNumber: UInt8 { get }
    /// Handles one received payload (the transport header onwards; its checksum not yet verified). `send` may
    /// be used to answer at once (an ACK, a RST).
    func receive(_ payload: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address, now: Instant,
                 send: IPv4Send)
    /// Sends whatever is due at `now`: new data, retransmissions, delayed ACKs, probes.
    func poll(now: Instant, send: IPv4Send)
    /// The earliest instant at which `poll` has timer work to do, or nil when no timer is armed.
    var nextDeadline: Instant? { get }
}
