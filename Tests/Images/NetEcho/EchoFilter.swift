import Interfaces
import Scheduler

/// A `NetworkDevice` in front of another one that answers frames of one EtherType itself and hands every other
/// frame to its user (the TCP/IP stack), unchanged.
///
/// A frame is echoed when it is at least 14 bytes long, is addressed to the device's own MAC address and carries
/// `etherType`: it goes back out with the same length, EtherType and payload and with its source and destination
/// addresses swapped. The network stack drops EtherTypes it does not know before anyone could see them, so the
/// filter sits between the device and the stack rather than in it: the stack stays as it is, and still answers
/// ARP and ICMP through the same device.
///
/// A frame of `etherType` whose payload starts with `stopMarker` is echoed too, not counted, and sets
/// `stopRequested` (signalling `stop`).
///
/// Not thread-safe, like any `NetworkDevice`: the network thread owns it. Counters are read elsewhere only after
/// `stop` fired (one CPU; plain loads).
final class EchoFilter<Inner: NetworkDevice>: NetworkDevice {
    /// The device underneath.
    let inner: Inner
    /// The EtherType echoed (host byte order).
    let etherType: UInt16
    /// Payload prefix of the frame that ends the run.
    let stopMarker: [UInt8] = Array("NETECHO-STOP".utf8)
    /// Signalled when the stop frame arrives.
    let stop = Event(external: true)
    /// Whether the stop frame arrived.
    private(set) var stopRequested = false
    /// Frames echoed (the stop frame not included).
    private(set) var echoed: UInt64 = 0
    /// Their bytes, Ethernet header included.
    private(set) var echoedBytes: UInt64 = 0
    /// Frames that could not be echoed because no transmit buffer became free.
    private(set) var dropped: UInt64 = 0
    /// Frames handed to the stack.
    private(set) var passedOn: UInt64 = 0

    /// A filter echoing `etherType` in front of `inner`.
    init(inner: Inner, etherType: UInt16) {
        self.inner = inner
        self.etherType = etherType
    }

    var macAddress: MACAddress { inner.macAddress }
    var mtu: Int { inner.mtu }
    var isLinkUp: Bool { inner.isLinkUp }
    var statistics: NetworkStatistics { inner.statistics }

    /// Echoes waiting frames of `etherType` until another frame arrives (lent to `body`: true) or none is left
    /// (false). Never returns false while frames wait, so the stack's idea of "drained" stays true.
    func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        while true {
            var delivered = false
            let got = inner.receive { frame in
                if isEchoFrame(frame) {
                    echo(frame)
                } else {
                    passedOn += 1
                    body(frame)
                    delivered = true
                }
            }
            if !got { return false }
            if delivered { return true }
        }
    }

    func transmit(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        inner.transmit(length: length, fill)
    }

    private func isEchoFrame(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard frame.count >= 14, UInt16(frame[12]) << 8 | UInt16(frame[13]) == etherType else { return false }
        return MACAddress(bytes: frame, offset: 0) == inner.macAddress
    }

    private func echo(_ frame: UnsafeRawBufferPointer) {
        var isStop = frame.count >= 14 + stopMarker.count
        if isStop {
            for i in 0..<stopMarker.count where frame[14 + i] != stopMarker[i] { isStop = false }
        }
        // The driver reclaims completed transmit buffers on every attempt; the device returns them on its own.
        var attempts = 0
        var sent = false
        while !sent && attempts < 100_000 {
            sent = inner.transmit(length: frame.count) { out in
                out.copyMemory(from: frame)
                for i in 0..<6 {
                    out[i] = frame[6 + i]
                    out[6 + i] = frame[i]
                }
            }
            attempts += 1
        }
        if isStop {
            stopRequested = true
            stop.signal()
        } else if sent {
            echoed += 1
            echoedBytes += UInt64(frame.count)
        } else {
            dropped += 1
        }
    }
}
