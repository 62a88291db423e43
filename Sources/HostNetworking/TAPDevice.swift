#if os(Linux)
import Glibc
import Interfaces

/// A Linux TAP interface as a `NetworkDevice`: Ethernet frames written by the network stack appear on the host
/// as frames received by the interface, and frames the host sends out of the interface are read by the stack.
///
/// The device is a file descriptor of `/dev/net/tun` attached with `TUNSETIFF` and the flags `IFF_TAP | IFF_NO_PI`
/// (Linux `Documentation/networking/tuntap.rst`): every `read` returns exactly one frame without the FCS and
/// without a packet-information prefix, every `write` sends one. The descriptor is non-blocking: `receive` returns
/// false when nothing is waiting, and `waitForReadable(timeout:)` sleeps until a frame arrives.
///
/// The interface is created (or, if it exists, attached to) in the network namespace of the thread that calls
/// the initializer; `NetworkNamespace.openTAP(_:macAddress:)` opens one inside a namespace without moving the
/// calling thread. Reads and writes work from any thread and any namespace afterwards.
///
/// `macAddress` is the address the stack uses for itself on the link. It is not the interface's own address (the
/// host side has its own MAC), and must differ from it.
///
/// Not thread-safe, like every `NetworkDevice`: one owner calls it. Receive and transmit use one buffer each,
/// allocated once; no call allocates.
public final class TAPDevice: NetworkDevice {
    /// The interface name (at most 15 bytes).
    public let name: String
    /// The `/dev/net/tun` descriptor, or -1 after `close()`.
    public private(set) var fileDescriptor: Int32
    /// The stack's own MAC address on the link.
    public let macAddress: MACAddress
    /// The largest IP packet carried (the interface's MTU should match; 1500 by default).
    public let mtu: Int
    /// Counters. Frames shorter than an Ethernet header or longer than `mtu + 14` are counted as receive drops
    /// and skipped; a frame the kernel refuses on write is counted as a transmit drop.
    public private(set) var statistics = NetworkStatistics()
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private let transmitBuffer: UnsafeMutableRawBufferPointer

    /// `TUNSETIFF`: `_IOW('T', 202, int)` (linux/if_tun.h).
    static let tunSetInterface: UInt = 0x4004_54ca
    /// `IFF_TAP`: Ethernet frames rather than IP packets (linux/if_tun.h).
    static let flagTAP: UInt16 = 0x0002
    /// `IFF_NO_PI`: no 4-byte packet-information prefix (linux/if_tun.h).
    static let flagNoPacketInformation: UInt16 = 0x1000
    /// Bytes of `struct ifreq` (linux/if.h): a 16-byte name and a 24-byte union whose first field is the flags.
    static let interfaceRequestSize = 40
    /// Longest interface name, without the terminating NUL (`IFNAMSIZ - 1`).
    public static let maximumNameLength = 15

    /// Opens `/dev/net/tun` and attaches it to the TAP interface `name` in the calling thread's network namespace,
    /// creating the interface if it does not exist (the kernel deletes an interface created this way when the
    /// descriptor is closed; one created beforehand with `ip tuntap add` persists).
    public convenience init(name: String, macAddress: MACAddress, mtu: Int = 1500) throws(HostNetworkingError) {
        guard isSafeName(name, maximumLength: Self.maximumNameLength) else { throw .invalidName(name) }
        let fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .systemCall("open /dev/net/tun", errno: errno) }
        var request = [UInt8](repeating: 0, count: Self.interfaceRequestSize)
        for (i, b) in name.utf8.enumerated() { request[i] = b }
        let flags = Self.flagTAP | Self.flagNoPacketInformation
        request[16] = UInt8(truncatingIfNeeded: flags)  // little-endian short at offset 16 (x86_64)
        request[17] = UInt8(truncatingIfNeeded: flags >> 8)
        let result = request.withUnsafeMutableBytes { ioctl(fd, Self.tunSetInterface, $0.baseAddress!) }
        if result < 0 {
            let error = errno
            Glibc.close(fd)
            throw .systemCall("TUNSETIFF " + name, errno: error)
        }
        self.init(adopting: fd, name: name, macAddress: macAddress, mtu: mtu)
    }

    /// Wraps a descriptor that is already attached to a TAP interface with `IFF_TAP | IFF_NO_PI` (for example one
    /// received from another process). The device owns it from now on and sets it non-blocking.
    public init(adopting fileDescriptor: Int32, name: String, macAddress: MACAddress, mtu: Int = 1500) {
        self.fileDescriptor = fileDescriptor
        self.name = name
        self.macAddress = macAddress
        self.mtu = max(68, mtu)  // RFC 791: every IPv4 link carries at least 68-byte packets
        let flags = fcntl(fileDescriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(fileDescriptor, F_SETFL, flags | O_NONBLOCK) }
        // Reads get a 64 KiB buffer, so an oversized frame is seen whole and dropped rather than truncated.
        receiveBuffer = .allocate(byteCount: 65_536 + 64, alignment: 16)
        transmitBuffer = .allocate(byteCount: self.mtu + 14, alignment: 16)
    }

    deinit {
        close()
        receiveBuffer.deallocate()
        transmitBuffer.deallocate()
    }

    /// Closes the descriptor (idempotent). Afterwards the link is down and every call fails softly.
    public func close() {
        if fileDescriptor >= 0 { Glibc.close(fileDescriptor) }
        fileDescriptor = -1
    }

    /// True while the descriptor is open.
    public var isLinkUp: Bool { fileDescriptor >= 0 }

    /// Reads one frame, if one is waiting, and lends it to `body`. Skips (and counts) malformed frames, at most
    /// 64 per call.
    public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        var attempts = 0
        while fileDescriptor >= 0 && attempts < 64 {
            attempts += 1
            let n = read(fileDescriptor, receiveBuffer.baseAddress, receiveBuffer.count)
            if n < 0 {
                let error = errno
                if error == EINTR { continue }
                if error != EAGAIN && error != EWOULDBLOCK { statistics.errors &+= 1 }
                return false
            }
            guard n >= 14, n <= mtu + 14 else {
                statistics.receiveDrops &+= 1
                continue
            }
            statistics.receivedPackets &+= 1
            statistics.receivedBytes &+= UInt64(n)
            body(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n]))
            return true
        }
        return false
    }

    /// Lets `fill` write a frame of `length` bytes and writes it to the interface. Returns false without calling
    /// `fill` when the device is closed or `length` is not 14...`mtu + 14`. A frame the kernel does not take
    /// (its queue is full) is lost, as on a wire, and counted in `transmitDrops`; the call still returns true.
    public func transmit(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard fileDescriptor >= 0, length >= 14, length <= mtu + 14 else { return false }
        let frame = UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<length])
        fill(frame)
        while true {
            let n = write(fileDescriptor, frame.baseAddress, length)
            if n == length {
                statistics.transmittedPackets &+= 1
                statistics.transmittedBytes &+= UInt64(length)
                return true
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS { statistics.errors &+= 1 }
            statistics.transmitDrops &+= 1
            return true
        }
    }

    /// Sleeps until a frame can be read or `timeout` passes (nil: no limit). Returns whether a frame is waiting.
    /// The wait is rounded up to whole milliseconds (`poll(2)`).
    public func waitForReadable(timeout: Duration?) -> Bool {
        guard fileDescriptor >= 0 else { return false }
        return HostPoll.waitForReadable([fileDescriptor], timeout: timeout) != nil
    }
}

/// Waiting on descriptors with `poll(2)`.
public enum HostPoll {
    /// Sleeps until one of `descriptors` is readable (or has hung up), or `timeout` passes (nil: no limit).
    /// Returns the index of the first ready descriptor, or nil on timeout. The wait is rounded up to whole
    /// milliseconds; an interrupted wait (EINTR) counts as a timeout.
    public static func waitForReadable(_ descriptors: [Int32], timeout: Duration?) -> Int? {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var milliseconds: Int32 = -1
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            if seconds < 0 || (seconds == 0 && attoseconds <= 0) {
                milliseconds = 0
            } else {
                let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
                milliseconds = Int32(clamping: total)
            }
        }
        let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), milliseconds) }
        guard n > 0 else { return nil }
        return fds.firstIndex { $0.revents != 0 }
    }
}
#endif
