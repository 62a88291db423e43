import Interfaces

/// An in-memory `NetworkDevice`: frames to receive are queued with `inject`, transmitted frames collect in an
/// outbox that a `SimulatedNetwork` (or a test) drains with `takeTransmitted`.
///
/// For tests and simulations only: each frame is its own array (an allocation per frame).
public final class SimulatedDevice: NetworkDevice {
    /// The device's MAC address.
    public let macAddress: MACAddress
    /// The largest IP packet carried (1500 by default).
    public let mtu: Int
    /// Whether the link is up. While down, `transmit` refuses frames and `inject` drops them.
    public var isLinkUp = true
    /// The device's counters.
    public private(set) var statistics = NetworkStatistics()
    /// Frames the receive queue holds; more are dropped (`statistics.receiveDrops`).
    public var receiveQueueLimit: Int
    /// Frames the outbox holds; `transmit` refuses more until they are taken (`statistics.transmitDrops`).
    public var transmitQueueLimit: Int

    private var received: [[UInt8]] = []
    private var receivedHead = 0
    private var outbox: [[UInt8]] = []

    /// Creates a device with an empty receive queue and outbox.
    public init(macAddress: MACAddress, mtu: Int = 1500, receiveQueueLimit: Int = 1024, transmitQueueLimit: Int = 1024) {
        self.macAddress = macAddress
        self.mtu = mtu
        self.receiveQueueLimit = receiveQueueLimit
        self.transmitQueueLimit = transmitQueueLimit
    }

    /// Frames waiting to be received.
    public var pendingReceive: Int { received.count - receivedHead }

    /// Queues `frame` for the stack to receive; false (dropped and counted) when the queue is full, the link is
    /// down, or the frame is longer than `mtu + 14`.
    @discardableResult
    public func inject(_ frame: [UInt8]) -> Bool {
        guard isLinkUp, pendingReceive < receiveQueueLimit, frame.count <= mtu + EthernetFrame.headerLength else {
            statistics.receiveDrops += 1
            return false
        }
        received.append(frame)
        return true
    }

    /// Removes and returns every transmitted frame, oldest first.
    public func takeTransmitted() -> [[UInt8]] {
        let frames = outbox
        outbox.removeAll(keepingCapacity: true)
        return frames
    }

    /// Frames transmitted and not yet taken.
    public var pendingTransmit: Int { outbox.count }

    /// Hands the oldest injected frame to `body`; false when none is waiting.
    public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard receivedHead < received.count else { return false }
        let frame = received[receivedHead]
        receivedHead += 1
        if receivedHead == received.count {
            received.removeAll(keepingCapacity: true)
            receivedHead = 0
        }
        statistics.receivedPackets += 1
        statistics.receivedBytes += UInt64(frame.count)
        frame.withUnsafeBytes { body($0) }
        return true
    }

    /// Appends a frame of `length` bytes written by `fill` to the outbox; false when the link is down, the
    /// outbox is full, or the frame is longer than `mtu + 14`.
    public func transmit(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard isLinkUp, outbox.count < transmitQueueLimit, length >= 0, length <= mtu + EthernetFrame.headerLength
        else {
            statistics.transmitDrops += 1
            return false
        }
        var frame = [UInt8](repeating: 0, count: length)
        frame.withUnsafeMutableBytes { fill($0) }
        outbox.append(frame)
        statistics.transmittedPackets += 1
        statistics.transmittedBytes += UInt64(length)
        return true
    }
}
