import Interfaces

/// The four numbers that name a connection: local and remote address and port.
public struct TCPFourTuple: Hashable, Sendable, CustomStringConvertible {
    /// This host's address.
    public var localAddress: IPv4Address
    /// This host's port.
    public var localPort: UInt16
    /// The peer's address.
    public var remoteAddress: IPv4Address
    /// The peer's port.
    public var remotePort: UInt16

    /// Creates a four-tuple.
    public init(localAddress: IPv4Address, localPort: UInt16, remoteAddress: IPv4Address, remotePort: UInt16) {
        self.localAddress = localAddress
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
    }

    /// `local:port-remote:port`.
    public var description: String { "\(localAddress):\(localPort)-\(remoteAddress):\(remotePort)" }

    func feed(_ hasher: inout TCPSipHasher) {
        hasher.write(localAddress.value)
        hasher.write(localPort)
        hasher.write(remoteAddress.value)
        hasher.write(remotePort)
    }
}

/// Keyed functions of the four-tuple that must be unpredictable to an off-path attacker: initial sequence
/// numbers (RFC 6528), SYN cookies (RFC 4987 §3.6), timestamp clock offsets (RFC 7323 §5.4) and the ephemeral
/// port search offset (RFC 6056 §3.3.3), and the hash of the connection table (`TCPConnectionTable`). Every key
/// comes from an `EntropySource` at engine creation.
public struct TCPSecrets: Sendable {
    let isnKey: TCPSipKey
    let cookieKey: TCPSipKey
    let timestampKey: TCPSipKey
    let portKey: TCPSipKey
    let tableKey: TCPSipKey

    /// Draws five independent 128-bit keys from `entropy`.
    public init(entropy: any EntropySource) {
        isnKey = TCPSipKey(entropy: entropy)
        cookieKey = TCPSipKey(entropy: entropy)
        timestampKey = TCPSipKey(entropy: entropy)
        portKey = TCPSipKey(entropy: entropy)
        tableKey = TCPSipKey(entropy: entropy)
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a timer that
    /// ticks every 4 microseconds and F is SipHash-2-4 truncated to 32 bits.
    public func initialSequenceNumber(_ tuple: TCPFourTuple, now: Instant) -> TCPSeqNumber {
        var h = isnKey.hasher
        tuple.feed(&h)
        let f = UInt32(truncatingIfNeeded: h.finalize())
        let m = UInt32(truncatingIfNeeded: now.nanoseconds / 4000)
        return TCPSeqNumber(m &+ f)
    }

    /// A per-connection offset added to the millisecond timestamp clock, so TSval does not reveal uptime and
    /// differs between connections (RFC 7323 §5.4, §7.1). A pure function of the tuple, so a SYN cookie's
    /// SYN-ACK and the connection later built from it use the same clock.
    public func timestampOffset(_ tuple: TCPFourTuple) -> UInt32 {
        var h = timestampKey.hasher
        tuple.feed(&h)
        return UInt32(truncatingIfNeeded: h.finalize())
    }

    /// The starting offset for the ephemeral port search towards a remote endpoint (RFC 6056 §3.3.3).
    public func portOffset(localAddress: IPv4Address, remoteAddress: IPv4Address, remotePort: UInt16) -> UInt32 {
        var h = portKey.hasher
        h.write(localAddress.value)
        h.write(remoteAddress.value)
        h.write(remotePort)
        return UInt32(truncatingIfNeeded: h.finalize())
    }

    // MARK: SYN cookies

    /// The MSS values a SYN cookie can encode (3 bits); a cookie carries the largest not above the peer's MSS.
    static let cookieMSSTable: [UInt16] = [536, 1024, 1200, 1300, 1360, 1400, 1440, 1460]

    /// One cookie period: a cookie stays valid for this period and the next (64 to 128 seconds).
    static let cookiePeriodNanoseconds: UInt64 = 64_000_000_000

    func cookieHash(_ tuple: TCPFourTuple, peerISN: TCPSeqNumber, period: UInt64, mssIndex: Int) -> UInt32 {
        var h = cookieKey.hasher
        tuple.feed(&h)
        h.write(peerISN.rawValue)
        h.write(period)
        h.write(UInt8(truncatingIfNeeded: mssIndex))
        return UInt32(truncatingIfNeeded: h.finalize())
    }

    /// A SYN cookie (RFC 4987 §3.6): our initial sequence number when the SYN queue is full, so that no state is
    /// kept until the handshake's final ACK returns it.
    ///
    /// Layout (most significant first): 24 bits of keyed hash over the tuple, the peer's ISN, the time period
    /// and the MSS index; 5 bits of the period counter; 3 bits indexing `cookieMSSTable`. Altering any bit of
    /// the low byte changes the hash input, so forged variants fail validation.
    public func synCookie(_ tuple: TCPFourTuple, peerISN: TCPSeqNumber, peerMSS: Int, now: Instant) -> TCPSeqNumber {
        let period = now.nanoseconds / Self.cookiePeriodNanoseconds
        var index = 0
        for (i, value) in Self.cookieMSSTable.enumerated() where Int(value) <= peerMSS { index = i }
        let hash = cookieHash(tuple, peerISN: peerISN, period: period, mssIndex: index)
        return TCPSeqNumber((hash & 0xFFFF_FF00) | UInt32(period & 0x1F) << 3 | UInt32(index))
    }

    /// Checks a returned cookie (the final ACK's acknowledgment number minus one) against the tuple and the
    /// peer's ISN (its sequence number minus one). Returns the encoded MSS, or nil if the cookie is forged or
    /// older than two periods.
    public func validateSynCookie(_ cookie: TCPSeqNumber, _ tuple: TCPFourTuple, peerISN: TCPSeqNumber,
                                  now: Instant) -> Int? {
        let current = now.nanoseconds / Self.cookiePeriodNanoseconds
        let counter = UInt64((cookie.rawValue >> 3) & 0x1F)
        let index = Int(cookie.rawValue & 0x7)
        for age in 0..<UInt64(2) where current >= age {
            let period = current - age
            guard period & 0x1F == counter else { continue }
            if cookieHash(tuple, peerISN: peerISN, period: period, mssIndex: index) & 0xFFFF_FF00 == cookie.rawValue & 0xFFFF_FF00 {
                return Int(Self.cookieMSSTable[index])
            }
        }
        return nil
    }
}
