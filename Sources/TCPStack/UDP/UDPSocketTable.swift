import Interfaces

/// A UDP socket of a `NetworkStack`: an index plus a generation, so a handle kept after `udpClose` is
/// recognised as stale instead of reaching a socket that reused the slot.
public struct UDPHandle: Hashable, CustomStringConvertible {
    let index: Int
    let generation: UInt32

    public var description: String { "udp#\(index).\(generation)" }
}

/// Why a UDP operation failed.
public enum UDPError: Error, Equatable, CustomStringConvertible {
    /// The handle was closed or never existed.
    case invalidHandle
    /// Another socket (or the DHCP client) has the port.
    case portInUse(UInt16)
    /// All `maximumSockets` sockets are open.
    case tooManySockets
    /// Every port of the ephemeral range is taken.
    case noEphemeralPort
    /// The datagram does not fit in one IPv4 packet on this interface (the stack does not fragment on output).
    case messageTooLong(Int)
    /// Port 0 is not a valid destination.
    case invalidPort
    /// The interface has no IPv4 address yet (DHCP still running).
    case notConfigured
    /// The destination is off-link and no gateway is configured.
    case noRoute(IPv4Address)
    /// The datagram cannot be queued now: the next hop's resolution queue or the device's transmit queue is
    /// full. Try again after a poll.
    case wouldBlock

    public var description: String {
        switch self {
        case .invalidHandle: return "invalid UDP handle"
        case .portInUse(let p): return "UDP port \(p) in use"
        case .tooManySockets: return "too many UDP sockets"
        case .noEphemeralPort: return "no free ephemeral UDP port"
        case .messageTooLong(let n): return "UDP payload of \(n) bytes too long"
        case .invalidPort: return "invalid UDP port 0"
        case .notConfigured: return "interface has no IPv4 address"
        case .noRoute(let a): return "no route to \(a)"
        case .wouldBlock: return "transmit queue full"
        }
    }
}

/// Limits of the UDP layer.
public struct UDPConfiguration: Equatable {
    /// Sockets open at once.
    public var maximumSockets: Int = 16
    /// Datagrams a socket's receive queue holds; further ones are dropped (and counted).
    public var receiveQueueDatagrams: Int = 32
    /// Payload bytes a socket's receive queue holds.
    public var receiveQueueBytes: Int = 32 * 1024
    /// The first port handed out by `udpBind(port: nil)` (IANA's dynamic range, RFC 6335 §6).
    public var ephemeralPortFirst: UInt16 = 49152
    /// The last ephemeral port.
    public var ephemeralPortLast: UInt16 = 65535

    /// The defaults above.
    public init() {}
}

/// Where a received datagram came from, as `udpReceive` reports it.
public struct UDPReceiveInfo: Equatable {
    /// The sender's address.
    public var source: IPv4Address
    /// The sender's port.
    public var sourcePort: UInt16
    /// The address it was sent to (ours, or a broadcast address).
    public var destination: IPv4Address
    /// The datagram's payload length.
    public var length: Int
    /// Bytes copied into the caller's buffer: `min(length, buffer.count)`; the rest of the datagram is discarded.
    public var copied: Int

    /// Whether the buffer was too small for the whole datagram.
    public var isTruncated: Bool { copied < length }
}

/// A bounded FIFO of datagrams: a byte ring for payloads and a ring of their metadata, allocated once.
struct DatagramQueue {
    struct Meta {
        var source: IPv4Address
        var sourcePort: UInt16
        var destination: IPv4Address
        var length: Int
    }

    private var bytes: [UInt8]
    private var metas: [Meta]
    private var metaHead = 0
    private(set) var count = 0
    private var byteHead = 0
    private var byteUsed = 0

    init(datagrams: Int, bytes byteCount: Int) {
        bytes = [UInt8](repeating: 0, count: max(byteCount, 0))
        metas = [Meta](repeating: Meta(source: .any, sourcePort: 0, destination: .any, length: 0),
                       count: max(datagrams, 0))
    }

    /// Appends a datagram; false (nothing stored) when either ring is full.
    mutating func push(source: IPv4Address, sourcePort: UInt16, destination: IPv4Address,
                       payload: UnsafeRawBufferPointer) -> Bool {
        guard count < metas.count, byteUsed + payload.count <= bytes.count else { return false }
        var write = (byteHead + byteUsed) % max(bytes.count, 1)
        bytes.withUnsafeMutableBytes { ring in
            var i = 0
            while i < payload.count {
                let run = min(payload.count - i, ring.count - write)
                NetBytes.slice(ring, write, write + run).copyMemory(from: NetBytes.slice(payload, i, i + run))
                i += run
                write = (write + run) % ring.count
            }
        }
        byteUsed += payload.count
        metas[(metaHead + count) % metas.count] = Meta(source: source, sourcePort: sourcePort,
                                                       destination: destination, length: payload.count)
        count += 1
        return true
    }

    /// Removes the oldest datagram, copying as much as fits into `buffer`.
    mutating func pop(into buffer: UnsafeMutableRawBufferPointer) -> UDPReceiveInfo? {
        guard count > 0 else { return nil }
        let meta = metas[metaHead]
        let copied = min(meta.length, buffer.count)
        bytes.withUnsafeBytes { ring in
            var i = 0
            var read = byteHead
            while i < copied {
                let run = min(copied - i, ring.count - read)
                NetBytes.slice(buffer, i, i + run).copyMemory(from: NetBytes.slice(ring, read, read + run))
                i += run
                read = (read + run) % ring.count
            }
        }
        if bytes.count > 0 { byteHead = (byteHead + meta.length) % bytes.count }
        byteUsed -= meta.length
        metaHead = (metaHead + 1) % metas.count
        count -= 1
        return UDPReceiveInfo(source: meta.source, sourcePort: meta.sourcePort, destination: meta.destination,
                              length: meta.length, copied: copied)
    }

    /// The payload length of the oldest datagram.
    var nextLength: Int? { count > 0 ? metas[metaHead].length : nil }
}

/// The UDP sockets of a stack: a fixed number of slots, each with a port and a receive queue.
///
/// A class, not generic over the device, shared by the stack (which delivers datagrams into it) and the `Network`
/// its sockets are used through: `UDPSocket` reaches bind, receive and close here directly, so an image that never
/// opens a UDP socket does not link them (overridable methods of `Network` would be kept by its vtable).
/// Sending needs the stack, which installs `transmit` and `isReserved` when it creates the table.
final class UDPSocketTable {
    struct Socket {
        var port: UInt16 = 0
        var generation: UInt32 = 0
        var open = false
        var queue: DatagramQueue? = nil
        var drops: UInt64 = 0
    }

    let configuration: UDPConfiguration
    private(set) var sockets: [Socket] = []
    private var nextEphemeral: UInt32
    /// Ports the stack keeps for itself (DHCP, DNS queries); set by the stack.
    var isReserved: (UInt16) -> Bool = { _ in false }
    /// Sends a datagram from a socket (`NetworkStack.udpSend`); set by the stack.
    var transmit: (UDPHandle, IPv4Address, UInt16, UnsafeRawBufferPointer) throws(UDPError) -> Void = { _, _, _, _ throws(UDPError) in
        throw .invalidHandle
    }

    init(configuration: UDPConfiguration, seed: UInt64) {
        self.configuration = configuration
        let first = UInt32(configuration.ephemeralPortFirst), last = UInt32(max(configuration.ephemeralPortLast, configuration.ephemeralPortFirst))
        nextEphemeral = first + UInt32(seed % UInt64(last - first + 1))
    }

    func index(of port: UInt16) -> Int? {
        sockets.firstIndex { $0.open && $0.port == port }
    }

    func validate(_ handle: UDPHandle) throws(UDPError) -> Int {
        guard handle.index >= 0, handle.index < sockets.count, sockets[handle.index].open,
              sockets[handle.index].generation == handle.generation else { throw .invalidHandle }
        return handle.index
    }

    /// Opens a socket on `port`, or on a free ephemeral port when nil. `isReserved` ports are refused.
    func bind(port: UInt16?) throws(UDPError) -> UDPHandle {
        let chosen: UInt16
        if let port {
            guard port != 0 else { throw .invalidPort }
            guard index(of: port) == nil, !isReserved(port) else { throw .portInUse(port) }
            chosen = port
        } else {
            chosen = try ephemeralPort()
        }
        var slot = sockets.firstIndex { !$0.open }
        if slot == nil {
            guard sockets.count < configuration.maximumSockets else { throw .tooManySockets }
            sockets.append(Socket())
            slot = sockets.count - 1
        }
        let i = slot!
        sockets[i].open = true
        sockets[i].port = chosen
        sockets[i].generation &+= 1
        sockets[i].drops = 0
        sockets[i].queue = DatagramQueue(datagrams: configuration.receiveQueueDatagrams,
                                         bytes: configuration.receiveQueueBytes)
        return UDPHandle(index: i, generation: sockets[i].generation)
    }

    private func ephemeralPort() throws(UDPError) -> UInt16 {
        let first = UInt32(configuration.ephemeralPortFirst)
        let last = UInt32(max(configuration.ephemeralPortLast, configuration.ephemeralPortFirst))
        let span = last - first + 1
        var candidate = nextEphemeral
        for _ in 0..<span {
            if candidate > last || candidate < first { candidate = first }
            let port = UInt16(candidate)
            candidate += 1
            if port != 0, index(of: port) == nil, !isReserved(port) {
                nextEphemeral = candidate
                return port
            }
        }
        throw .noEphemeralPort
    }

    func close(_ handle: UDPHandle) throws(UDPError) {
        let i = try validate(handle)
        sockets[i].open = false
        sockets[i].queue = nil
    }

    func port(of handle: UDPHandle) throws(UDPError) -> UInt16 { sockets[try validate(handle)].port }

    /// Queues a datagram for the socket on `port`: `.queued`, `.full` (dropped), or nil when no socket has it.
    func deliver(port: UInt16, source: IPv4Address, sourcePort: UInt16, destination: IPv4Address,
                          payload: UnsafeRawBufferPointer) -> Bool? {
        guard let i = index(of: port) else { return nil }
        if sockets[i].queue!.push(source: source, sourcePort: sourcePort, destination: destination, payload: payload) {
            return true
        }
        sockets[i].drops += 1
        return false
    }

    func receive(_ handle: UDPHandle, into buffer: UnsafeMutableRawBufferPointer) throws(UDPError) -> UDPReceiveInfo? {
        let i = try validate(handle)
        return sockets[i].queue!.pop(into: buffer)
    }

    func pending(_ handle: UDPHandle) throws(UDPError) -> (count: Int, nextLength: Int?) {
        let i = try validate(handle)
        return (sockets[i].queue!.count, sockets[i].queue!.nextLength)
    }

    func drops(_ handle: UDPHandle) throws(UDPError) -> UInt64 { sockets[try validate(handle)].drops }
}
