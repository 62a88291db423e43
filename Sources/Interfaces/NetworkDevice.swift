/// A 48-bit IEEE 802 MAC address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    /// The six octets, first transmitted first.
    public var octets: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    /// Creates an address from its six octets.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
        octets = (a, b, c, d, e, f)
    }

    /// Reads six octets from `bytes` starting at `offset` (the caller has checked the length).
    public init(bytes: UnsafeRawBufferPointer, offset: Int) {
        octets = (bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3], bytes[offset + 4],
                  bytes[offset + 5])
    }

    /// ff:ff:ff:ff:ff:ff.
    public static let broadcast = MACAddress(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
    /// 00:00:00:00:00:00.
    public static let zero = MACAddress(0, 0, 0, 0, 0, 0)

    /// Whether the group bit (least significant bit of the first octet) is set: broadcast or multicast.
    public var isMulticast: Bool { octets.0 & 1 != 0 }

    /// Writes the six octets into `bytes` at `offset`.
    public func write(to bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes[offset] = octets.0
        bytes[offset + 1] = octets.1
        bytes[offset + 2] = octets.2
        bytes[offset + 3] = octets.3
        bytes[offset + 4] = octets.4
        bytes[offset + 5] = octets.5
    }

    public static func == (a: MACAddress, b: MACAddress) -> Bool {
        a.octets.0 == b.octets.0 && a.octets.1 == b.octets.1 && a.octets.2 == b.octets.2
            && a.octets.3 == b.octets.3 && a.octets.4 == b.octets.4 && a.octets.5 == b.octets.5
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(octets.0); hasher.combine(octets.1); hasher.combine(octets.2)
        hasher.combine(octets.3); hasher.combine(octets.4); hasher.combine(octets.5)
    }

    /// `aa:bb:cc:dd:ee:ff`.
    public var description: String {
        let all = [octets.0, octets.1, octets.2, octets.3, octets.4, octets.5]
        var text = ""
        for (i, o) in all.enumerated() {
            if i > 0 { text += ":" }
            let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
            text.append(digits[Int(o >> 4)])
            text.append(digits[Int(o & 0xf)])
        }
        return text
    }
}

/// Counters every network device keeps.
public struct NetworkStatistics: Equatable, Sendable {
    public var receivedPackets: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    public var transmittedPackets: UInt64 = 0
    public var transmittedBytes: UInt64 = 0
    /// Frames dropped on receive (no buffer, too long, or rejected).
    public var receiveDrops: UInt64 = 0
    /// Frames that could not be queued for transmission (queue full).
    public var transmitDrops: UInt64 = 0
    /// Device or protocol errors (for virtio: bad descriptor ids or lengths written by the device).
    public var errors: UInt64 = 0
    public init() {}
}

/// A device that sends and receives Ethernet frames (without the FCS).
///
/// Buffers are lent, not copied: `receive` hands the stack a view of the device's receive buffer for the
/// duration of the call, and `transmit` hands it the device's transmit buffer to fill. Implementations: the
/// virtio-net driver (VirtioNet), an in-memory device pair for simulations, and a TAP device for host tests.
///
/// Not thread-safe: one owner (the network stack) calls it.
public protocol NetworkDevice: AnyObject {
    /// The device's MAC address.
    var macAddress: MACAddress { get }
    /// The largest Ethernet payload (IP packet) the device carries, normally 1500.
    var mtu: Int { get }
    /// Whether the link is up.
    var isLinkUp: Bool { get }
    /// The device's counters.
    var statistics: NetworkStatistics { get }
    /// If a frame has arrived, calls `body` with its bytes (valid only during the call), returns the buffer to
    /// the device, and returns true. Returns false when nothing is waiting.
    func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool
    /// Calls `fill` with a transmit buffer of exactly `length` bytes (at most `mtu + 14`) and queues the frame
    /// it wrote. Returns false, without calling `fill`, when no transmit buffer is free.
    func transmit(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool
    /// Starts a batch of work (a stack's poll: the frames it receives, the buffers that go back to the device, the
    /// frames it sends): until the matching `endBatch()` the device may hold back what tells the hardware that
    /// buffers are waiting (for virtio, queue notifications, a VM exit each) and must deliver it at `endBatch()`.
    /// Frames are received and sent in order either way. Batches nest; only the outermost end flushes. The default
    /// does nothing (every notification goes out at once).
    func beginBatch()
    /// Ends a batch started with `beginBatch()`, handing the device everything queued during it.
    func endBatch()
}

extension NetworkDevice {
    /// See `NetworkDevice.beginBatch()`: devices without deferred notification need nothing.
    public func beginBatch() {}
    /// See `NetworkDevice.endBatch()`.
    public func endBatch() {}
}
