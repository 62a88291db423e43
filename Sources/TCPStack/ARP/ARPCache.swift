import Interfaces

/// Limits and timers of the ARP layer.
public struct ARPConfiguration: Equatable {
    /// The most resolved entries kept; when full, the entry closest to expiry is evicted.
    public var capacity: Int = 64
    /// How long a learned mapping is used before it must be resolved again.
    public var entryLifetime: Duration = .seconds(60)
    /// Time between requests for an unresolved address.
    public var requestInterval: Duration = .seconds(1)
    /// Requests sent for one address before giving up (and dropping its queued packets).
    public var maximumRequests: Int = 3
    /// Packets queued for one unresolved address; more are dropped.
    public var maximumQueuedPerDestination: Int = 4
    /// Packets queued for all unresolved addresses together; more are dropped.
    public var maximumQueuedTotal: Int = 16
    /// Addresses being resolved at once; packets to further unresolved addresses are dropped.
    public var maximumResolutions: Int = 8

    /// The defaults above.
    public init() {}
}

/// Counters of the ARP layer. Every dropped packet is counted somewhere.
public struct ARPCounters: Equatable {
    /// Requests we sent (resolutions and retransmissions; not announcements).
    public var requestsSent: UInt64 = 0
    /// Gratuitous announcements we sent.
    public var announcementsSent: UInt64 = 0
    /// Replies we sent to requests for our address.
    public var repliesSent: UInt64 = 0
    /// Requests received (for any target).
    public var requestsReceived: UInt64 = 0
    /// Replies received.
    public var repliesReceived: UInt64 = 0
    /// ARP packets that failed validation (short, other hardware/protocol, bad opcode, bogus sender).
    public var malformed: UInt64 = 0
    /// Packets from another host claiming our address as its sender address.
    public var addressConflicts: UInt64 = 0
    /// Entries evicted because the cache was full.
    public var evictions: UInt64 = 0
    /// Packets queued while their next hop was resolved.
    public var packetsQueued: UInt64 = 0
    /// Packets dropped because a queue limit was reached.
    public var queueDrops: UInt64 = 0
    /// Resolutions abandoned after `maximumRequests` unanswered requests.
    public var resolutionFailures: UInt64 = 0
    /// Queued packets dropped because their resolution failed.
    public var packetsDroppedUnresolved: UInt64 = 0
    /// Queued packets that could not be transmitted once resolved (device queue full).
    public var flushDrops: UInt64 = 0

    /// All zero.
    public init() {}
}

/// What `ARPCache.enqueue` did with a packet.
public enum ARPEnqueueResult: Equatable {
    /// The packet waits for the resolution; send a request for the next hop now (the first one).
    case queuedSendRequest
    /// The packet waits for a resolution already in progress.
    case queued
    /// A queue limit was reached; the packet was dropped (and counted).
    case dropped
}

/// The ARP cache (RFC 826) and the queue of IPv4 packets waiting for their next hop to be resolved.
///
/// Pure state: it sends nothing itself. The network stack asks `lookup`, `enqueue`s packets whose next hop is
/// unknown (sending a request when told to), feeds it mappings learned from ARP packets (`update`, which hands
/// back the queued packets to transmit), and calls `poll` to retransmit requests and give up on silent hosts.
///
/// Bounds: at most `capacity` entries, `maximumResolutions` addresses in resolution, and
/// `maximumQueuedTotal` packets of at most `packetCapacity` bytes each, stored in one buffer allocated on first
/// use and reused afterwards (no allocation per queued packet).
public struct ARPCache {
    struct Entry {
        var address: IPv4Address
        var mac: MACAddress
        var expires: Instant
    }

    struct Resolution {
        var address: IPv4Address
        var requestsSent: Int
        var nextRequest: Instant
        var queued: Int
    }

    struct Slot {
        var address: IPv4Address = .any
        var length: Int = 0
        var sequence: UInt64 = 0
        var inUse = false
    }

    /// The limits in force.
    public let configuration: ARPConfiguration
    /// The largest packet a queue slot holds (the interface MTU).
    public let packetCapacity: Int
    /// The counters.
    public var counters = ARPCounters()

    private(set) var entries: [Entry] = []
    private(set) var resolutions: [Resolution] = []
    private var slots: [Slot] = []
    private var storage: [UInt8] = []
    private var sequence: UInt64 = 0

    /// Creates an empty cache whose queue holds packets of up to `packetCapacity` bytes.
    public init(configuration: ARPConfiguration = ARPConfiguration(), packetCapacity: Int) {
        self.configuration = configuration
        self.packetCapacity = max(packetCapacity, 0)
    }

    /// The number of valid and expired entries held.
    public var count: Int { entries.count }
    /// Packets waiting for resolution.
    public var queuedPackets: Int { slots.reduce(0) { $0 + ($1.inUse ? 1 : 0) } }
    /// Whether a resolution for `address` is in progress.
    public func isResolving(_ address: IPv4Address) -> Bool { resolutions.contains { $0.address == address } }

    /// The MAC address for `address` if a mapping exists and has not expired (expired ones are removed).
    public mutating func lookup(_ address: IPv4Address, now: Instant) -> MACAddress? {
        guard let i = entries.firstIndex(where: { $0.address == address }) else { return nil }
        if entries[i].expires <= now {
            entries.remove(at: i)
            return nil
        }
        return entries[i].mac
    }

    /// Records that `address` is at `mac` (RFC 826's merge step). An existing entry is refreshed; a new one is
    /// created only when `create` is true (the packet was addressed to us) or a resolution for `address` is in
    /// progress. If a resolution was in progress, its queued packets are handed to `flush` in the order they were
    /// queued (each an IPv4 packet for `address`; `flush` returns false if it could not transmit) and the
    /// resolution ends.
    public mutating func update(_ address: IPv4Address, mac: MACAddress, now: Instant, create: Bool,
                                flush: (UnsafeRawBufferPointer) -> Bool) {
        let expires = now + configuration.entryLifetime
        let resolving = resolutions.firstIndex { $0.address == address }
        if let i = entries.firstIndex(where: { $0.address == address }) {
            entries[i].mac = mac
            entries[i].expires = expires
        } else if create || resolving != nil {
            insert(Entry(address: address, mac: mac, expires: expires), now: now)
        }
        guard let r = resolving else { return }
        resolutions.remove(at: r)
        flushQueued(for: address, flush)
    }

    /// Adds a static-looking entry (it still expires after `entryLifetime`).
    public mutating func insert(_ address: IPv4Address, mac: MACAddress, now: Instant) {
        update(address, mac: mac, now: now, create: true) { _ in true }
    }

    private mutating func insert(_ entry: Entry, now: Instant) {
        guard configuration.capacity > 0 else { return }
        entries.removeAll { $0.expires <= now }
        if entries.count >= configuration.capacity {
            var victim = 0
            for i in entries.indices where entries[i].expires < entries[victim].expires { victim = i }
            entries.remove(at: victim)
            counters.evictions += 1
        }
        entries.append(entry)
    }

    /// Queues an IPv4 packet of `length` bytes, written by `fill`, until `nextHop` is resolved. `fill` is not
    /// called when the packet is dropped.
    public mutating func enqueue(nextHop: IPv4Address, length: Int, now: Instant,
                                 fill: (UnsafeMutableRawBufferPointer) -> Void) -> ARPEnqueueResult {
        guard length <= packetCapacity, length >= 0 else { counters.queueDrops += 1; return .dropped }
        var r = resolutions.firstIndex { $0.address == nextHop }
        if let r, resolutions[r].queued >= configuration.maximumQueuedPerDestination {
            counters.queueDrops += 1
            return .dropped
        }
        if r == nil && resolutions.count >= configuration.maximumResolutions {
            counters.queueDrops += 1
            return .dropped
        }
        if slots.isEmpty && configuration.maximumQueuedTotal > 0 {
            slots = [Slot](repeating: Slot(), count: configuration.maximumQueuedTotal)
            storage = [UInt8](repeating: 0, count: configuration.maximumQueuedTotal * packetCapacity)
        }
        guard let s = slots.firstIndex(where: { !$0.inUse }) else {
            counters.queueDrops += 1
            return .dropped
        }
        var result = ARPEnqueueResult.queued
        if r == nil {
            resolutions.append(Resolution(address: nextHop, requestsSent: 1,
                                          nextRequest: now + configuration.requestInterval, queued: 0))
            r = resolutions.count - 1
            counters.requestsSent += 1
            result = .queuedSendRequest
        }
        resolutions[r!].queued += 1
        sequence += 1
        slots[s] = Slot(address: nextHop, length: length, sequence: sequence, inUse: true)
        let start = s * packetCapacity
        storage.withUnsafeMutableBytes { fill(NetBytes.slice($0, start, start + length)) }
        counters.packetsQueued += 1
        return result
    }

    /// Retransmits due requests through `sendRequest` and abandons resolutions that used all their requests
    /// (their packets are dropped and counted). Expired entries are removed.
    public mutating func poll(now: Instant, sendRequest: (IPv4Address) -> Void) {
        entries.removeAll { $0.expires <= now }
        var i = 0
        while i < resolutions.count {
            if resolutions[i].nextRequest > now { i += 1; continue }
            if resolutions[i].requestsSent >= configuration.maximumRequests {
                let address = resolutions[i].address
                resolutions.remove(at: i)
                counters.resolutionFailures += 1
                for s in slots.indices where slots[s].inUse && slots[s].address == address {
                    slots[s].inUse = false
                    counters.packetsDroppedUnresolved += 1
                }
                continue
            }
            resolutions[i].requestsSent += 1
            resolutions[i].nextRequest = now + configuration.requestInterval
            counters.requestsSent += 1
            sendRequest(resolutions[i].address)
            i += 1
        }
    }

    /// The earliest instant at which `poll` has a request to retransmit or a resolution to abandon.
    public var nextDeadline: Instant? {
        var best: Instant? = nil
        for r in resolutions where best == nil || r.nextRequest < best! { best = r.nextRequest }
        return best
    }

    /// Forgets every entry and resolution and drops every queued packet (when the interface address changes).
    public mutating func removeAll() {
        entries.removeAll()
        for r in resolutions { counters.packetsDroppedUnresolved += UInt64(r.queued) }
        resolutions.removeAll()
        for s in slots.indices { slots[s].inUse = false }
    }

    private mutating func flushQueued(for address: IPv4Address, _ flush: (UnsafeRawBufferPointer) -> Bool) {
        while true {
            var best: Int? = nil
            for s in slots.indices where slots[s].inUse && slots[s].address == address {
                if best == nil || slots[s].sequence < slots[best!].sequence { best = s }
            }
            guard let s = best else { return }
            slots[s].inUse = false
            let start = s * packetCapacity
            let length = slots[s].length
            let sent = storage.withUnsafeBytes { flush(NetBytes.slice($0, start, start + length)) }
            if !sent { counters.flushDrops += 1 }
        }
    }
}
