import Interfaces
import Runtime
import Scheduler
import TCPStack
import Virtio
import VirtioBlk
import VirtioNet

#if os(none)
import Boot
import BootShim
import Hardware
import Memory

/// A virtio device found on this machine, not yet opened.
public struct VirtioDeviceInfo {
    /// What kind of device it is.
    public var type: VirtioDeviceType
    /// Where it is, for reports: `mmio@0xfeb02e00 (v2) gsi 35` or `pci 00:03.0`.
    public var location: String
    enum Route { case mmio(VirtioMMIODeviceLocation, ACPIMMIODevice?), pci(PCIFunction) }
    let route: Route
}

/// Fires a device's handler from its interrupt; the handler is installed once the driver exists.
final class InterruptTarget {
    var handler: (() -> Void)? = nil
    var count: UInt64 = 0
}

/// Device discovery and the drivers, brought up on first use.
///
/// virtio-mmio devices come from `virtio_mmio.device=<size>@<base>:<irq>` on the command line (Firecracker's way)
/// and from probing QEMU microvm's 24 fixed slots at 0xfeb00000; their interrupt lines come from the ACPI DSDT
/// (`Memory32Fixed` + `Interrupt` resources), or from the command line. virtio-pci devices come from PCI
/// enumeration (configuration mechanism #1) and signal through MSI-X. A device whose interrupt cannot be routed is
/// driven by polling, and says so on the console.
public enum Devices {
    nonisolated(unsafe) private static var discovered: [VirtioDeviceInfo]? = nil
    nonisolated(unsafe) private static var networks: [VirtioNet] = []
    nonisolated(unsafe) private static var disks: [VirtioBlk] = []
    nonisolated(unsafe) private static var openedNetworks = false
    nonisolated(unsafe) private static var openedDisks = false

    /// DMA memory for virtqueues: the heap (identity-mapped, physically contiguous within a region).
    static let dma = HeapDMAMemory()
    /// The interrupt target and route of every driver the runtime opened.
    nonisolated(unsafe) private static var opened: [(driver: AnyObject, index: Int, target: InterruptTarget, routed: Bool)] = []

    /// DMA memory as the runtime's drivers use it (the identity-mapped heap), for code that sets up virtqueues of
    /// its own: device checks, drivers an application brings.
    public static var dmaMemory: any DMAMemory { dma }

    /// Opens the transport of `device` (an element of `virtio`) without starting a driver and without routing its
    /// interrupt: for conformance checks and for drivers that poll. The device is not reset here (drivers reset
    /// it first, §3.1.1). Never use a device this way while the runtime's own driver for it runs (after
    /// `networkDevices` or `blockDevices` opened it): both would program the same queues.
    public static func openTransport(_ device: VirtioDeviceInfo) throws(VirtioError) -> any VirtioTransport {
        switch device.route {
        case .mmio(let location, _):
            return try VirtioGuest.openMMIO(location)
        case .pci(let function):
            return try VirtioGuest.openPCI(function, config: PortIOPCIConfiguration(), map: mapMMIO)
        }
    }

    /// Interrupt delivery to a driver the runtime opened (one of `networkDevices` or `blockDevices`): the index
    /// of its device in `virtio`, whether its interrupt is routed (false: the runtime polls it), and how many
    /// interrupts it has received so far. Nil for any other object.
    public static func interrupts(of driver: AnyObject) -> (deviceIndex: Int, routed: Bool, count: UInt64)? {
        for entry in opened where entry.driver === driver {
            return (entry.index, entry.routed, CPU.withInterruptsDisabled { entry.target.count })
        }
        return nil
    }

    /// Every virtio device on the machine.
    public static var virtio: [VirtioDeviceInfo] {
        if let d = discovered { return d }
        let d = discover()
        discovered = d
        return d
    }

    /// Maps MMIO registers above the device hole (64-bit BARs) before they are touched.
    static func mapMMIO(_ base: UInt64, _ size: UInt64) -> Bool {
        if base >= deviceHole.lowerBound && base + size <= deviceHole.upperBound { return true }
        let memory = Kernel.memory
        let start = base & ~0xfff
        let end = (base + size + 0xfff) & ~0xfff
        do throws(PagingError) {
            try memory.physical.pageTable.map(virtual: start, physical: start, length: end - start, flags: .device)
        } catch { return false }
        var page = start
        while page < end { CPU.invalidatePage(page); page += 4096 }
        return true
    }

    private static func discover() -> [VirtioDeviceInfo] {
        var found: [VirtioDeviceInfo] = []
        let commandLine = Kernel.memory.startInfo.commandLine
        let fromCommandLine = VirtioMMIOCommandLine.parse(commandLine).devices
        let acpiDevices = (try? InterruptController.acpi?.mmioDevices()) ?? []
        for f in VirtioGuest.probeMMIO(fromCommandLine + VirtioMMIOProbe.microvmSlots(irqBase: nil), map: mapMMIO) {
            if found.contains(where: { if case .mmio(let l, _) = $0.route { return l.base == f.location.base }; return false }) {
                continue
            }
            let acpi = acpiDevices.first { $0.base == f.location.base }
            var location = "mmio@" + hex(f.location.base) + " (v" + String(f.version) + ")"
            if let gsi = acpi?.gsi ?? f.location.irq { location += " gsi " + String(gsi) }
            found.append(VirtioDeviceInfo(type: f.deviceType, location: location, route: .mmio(f.location, acpi)))
        }
        for (function, type) in VirtioGuest.findPCI() {
            let a = function.address
            let location = "pci " + hex(UInt64(a.bus)) + ":" + hex(UInt64(a.device)) + "." + String(a.function)
            found.append(VirtioDeviceInfo(type: type, location: location, route: .pci(function)))
        }
        return found
    }

    /// Opens `device`'s transport with its interrupt routed to `target` (if the interrupt can be routed).
    /// Returns the transport and whether interrupts work.
    static func open(_ device: VirtioDeviceInfo, target: InterruptTarget) throws(VirtioError) -> (any VirtioTransport, Bool) {
        let handler: InterruptHandler = { _ in
            target.count &+= 1
            target.handler?()
        }
        switch device.route {
        case .mmio(let location, let acpi):
            let transport = try VirtioGuest.openMMIO(location)
            var routed = false
            if let acpi {
                routed = InterruptController.route(gsi: acpi.gsi, activeLow: acpi.activeLow,
                                                   levelTriggered: acpi.levelTriggered, handler) != nil
            } else if let irq = location.irq {
                routed = InterruptController.route(gsi: irq, activeLow: false, levelTriggered: false, handler) != nil
            }
            return (transport, routed)
        case .pci(let function):
            let config = PortIOPCIConfiguration()
            var vectors: VirtioInterruptVectors? = nil
            if let msix = try? PCIMSIX.parse(config, address: function.address) {
                let bars = PCIBAR.probeAll(config, function: function)
                if Int(msix.tableBAR) < bars.count, let bar = bars[Int(msix.tableBAR)], bar.base != 0,
                   mapMMIO(bar.base, bar.size), let vector = InterruptController.allocateVector(handler) {
                    let apicID = UInt8(truncatingIfNeeded: InterruptController.apic.id)
                    if (try? msix.route(entry: 0, in: bar.window, apicID: apicID, vector: vector)) != nil {
                        msix.setEnabled(true, config: config)
                        vectors = VirtioInterruptVectors(configuration: nil, queues: [0])
                    }
                }
            }
            let transport = try VirtioGuest.openPCI(function, config: config, map: mapMMIO)
            transport.interruptVectors = vectors
            if vectors != nil { return (transport, true) }
            // No MSI-X: INTx. The firmware wrote the legacy IRQ it routed the pin to into the Interrupt Line
            // register; that ISA line reaches the I/O APIC too (apply the MADT's override). INTx is level-triggered.
            let line = function.interruptLine
            guard function.interruptPin != 0, line >= 1 && line <= 15 else { return (transport, false) }
            let r = InterruptController.topology?.isaRoute(line) ?? (gsi: UInt32(line), activeLow: false, levelTriggered: true)
            let routed = InterruptController.route(gsi: r.gsi, activeLow: r.activeLow, levelTriggered: true, handler) != nil
            return (transport, routed)
        }
    }

    private static func openNetworks() {
        guard !openedNetworks else { return }
        openedNetworks = true
        for (index, device) in virtio.enumerated() where device.type == .network {
            let target = InterruptTarget()
            do throws(VirtioError) {
                let (transport, routed) = try open(device, target: target)
                // Bursts (a hundred connections answered at once) need more transmit buffers than a small
                // guest can spare: 256 when memory allows, the driver's 64 otherwise.
                var configuration = VirtioNet.Configuration()
                if (System.memory?.freeBytes ?? 0) >= 32 << 20 { configuration.transmitBuffers = 256 }
                let net = try VirtioNet(transport: transport, memory: dma, configuration: configuration)
                if !routed { Log.warning("virtio-net at " + device.location + ": no interrupt route, polling") }
                target.handler = { [net] in
                    _ = net.handleInterrupt()
                    NetworkBinding.deviceInterrupt(net)
                }
                networks.append(net)
                opened.append((net, index, target, routed))
            } catch {
                Log.error("virtio-net at " + device.location + " could not be started")
            }
        }
    }

    private static func openDisks() {
        guard !openedDisks else { return }
        openedDisks = true
        for (index, device) in virtio.enumerated() where device.type == .block {
            let target = InterruptTarget()
            let waiter = ThreadBlockWaiter()
            do throws(VirtioError) {
                let (transport, routed) = try open(device, target: target)
                let disk = try VirtioBlk(transport: transport, memory: dma, waiter: waiter, lock: Mutex())
                waiter.polling = !routed
                if !routed { Log.warning("virtio-blk at " + device.location + ": no interrupt route, polling") }
                target.handler = { [disk, waiter] in
                    _ = disk.handleInterrupt()
                    waiter.wake()
                }
                // A thread that collects completions may collect another thread's: wake that one too.
                disk.onCompletion = { [waiter] _ in waiter.wake() }
                disks.append(disk)
                opened.append((disk, index, target, routed))
            } catch {
                Log.error("virtio-blk at " + device.location + " could not be started")
            }
        }
    }

    /// The virtio network devices, opened and running (interrupt-driven when the interrupt could be routed).
    public static var networkDevices: [VirtioNet] {
        openNetworks()
        return networks
    }

    /// The virtio block devices, opened (requests wait by sleeping the calling thread until the interrupt).
    public static var blockDevices: [VirtioBlk] {
        openDisks()
        return disks
    }
}

/// Sleeps the calling thread until the device's interrupt says a request completed (polling with a short sleep
/// when the interrupt could not be routed). Gives up after 30 s.
///
/// Several threads may wait on one disk at once, so a wake-up goes to all of them: `wake()` (from the interrupt
/// handler, and from `VirtioBlk.onCompletion` when one thread collects another's completion) advances a counter
/// and wakes every waiter, and a waiter sleeps only while the counter still has the value it had before it last
/// checked its condition. (An auto-reset event here let the first thread to run consume a wake-up meant for all;
/// the others slept until the 100 ms fallback, which the BlockCheck boot test measured on q35.)
final class ThreadBlockWaiter: BlockRequestWaiter {
    private var wakeUps: UInt64 = 0
    private let waiters = WaitQueue(external: true)
    var polling = false

    /// Wakes every waiting thread to re-check its condition. Callable from interrupt handlers.
    func wake() {
        if let system = ThreadSystem.shared {
            system.critical {
                wakeUps &+= 1
                _ = waiters.wakeAll()
            }
        } else {
            wakeUps &+= 1
        }
    }

    func wait(until condition: () -> Bool) -> Bool {
        let giveUp = System.now + .seconds(30)
        while true {
            let seen = ThreadSystem.current.critical { wakeUps }
            if condition() { return true }
            let now = System.now
            if now >= giveUp { return condition() }
            if polling {
                Thread.sleep(for: .microseconds(200))
                continue
            }
            let limit = min(giveUp, now + .milliseconds(100))
            ThreadSystem.current.critical {
                while wakeUps == seen {
                    if waiters.wait(until: limit) == .timedOut { break }
                }
            }
        }
    }
}
#endif

/// Connects the network device interrupt to the `Network` built over it.
enum NetworkBinding {
    nonisolated(unsafe) static var network: Network? = nil

    static func deviceInterrupt(_ device: AnyObject) {
        network?.deviceActivity()
    }
}

/// How the interface gets its address, from the command line: `unikernel.ip=ADDRESS/PREFIX`,
/// `unikernel.gateway=ADDRESS`, `unikernel.dns=ADDRESS`; DHCP when no address is given.
func addressingFromCommandLine() -> IPv4Addressing {
    guard let text = System.option("ip") else { return .dhcp }
    // ADDRESS or ADDRESS/PREFIX, split on bytes (no Character-level string processing in the image).
    let bytes = Array(text.utf8)
    let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
    var prefix = 24
    if let slash {
        var value = 0
        for b in bytes[(slash + 1)...] where b >= 0x30 && b <= 0x39 { value = value * 10 + Int(b - 0x30) }
        prefix = min(value, 32)
    }
    guard let address = IPv4Address(String(decoding: bytes[..<(slash ?? bytes.count)], as: UTF8.self)) else {
        Log.warning("unikernel.ip is not an IPv4 address; using DHCP")
        return .dhcp
    }
    let gateway = System.option("gateway").flatMap { IPv4Address($0) }
    let dns = System.option("dns").flatMap { IPv4Address($0) }.map { [$0] } ?? []
    return .static(IPv4InterfaceConfiguration(address: address, prefixLength: prefix, gateway: gateway,
                                             dnsServers: dns))
}

/// The system's clock as a `MonotonicClockObject` for the network.
final class SystemClockObject: MonotonicClockObject {
    var now: Instant { System.now }
}

extension System {
    nonisolated(unsafe) static var networkInstance: Network? = nil

    /// The network over the first virtio-net device: TCP/IP with the address from the command line
    /// (`unikernel.ip=10.0.2.15/24 unikernel.gateway=10.0.2.2`) or from DHCP, and its network thread running.
    /// Nil when the machine has no network device.
    public static var network: Network? {
        if let n = networkInstance { return n }
        #if os(none)
        guard let device = Devices.networkDevices.first else { return nil }
        return network(over: device)
        #else
        return nil
        #endif
    }

    /// Builds `System.network` over `device` instead of over the first virtio-net device itself: for a device
    /// that wraps it (a filter, a tap for raw frames, a fault injector) or another `NetworkDevice`. The address
    /// comes from the command line as for `network`; the network thread starts, and interrupts of the runtime's
    /// network devices wake it. Returns the existing network, without using `device`, if `System.network` was
    /// already built; nil if the stack could not be assembled.
    public static func network<Device: NetworkDevice>(over device: Device) -> Network? {
        if let n = networkInstance { return n }
        let stack = NetworkStack(device: device, addressing: addressingFromCommandLine(), entropy: System.entropy)
        let tcp = TCPEngine(configuration: tcpConfiguration(), entropy: System.entropy)
        guard let network = try? DeviceNetwork(stack: stack, tcp: tcp, clock: SystemClockObject()) else { return nil }
        networkInstance = network
        NetworkBinding.network = network
        network.start()
        return network
    }

    /// TCP settings for a LAN-speed virtual network, sized to the machine's memory.
    ///
    /// The minimum RTO is 200 ms instead of RFC 6298's 1 s (Linux uses 200 ms as well). Each connection's send and
    /// receive buffers are 1/64 of free memory, between 8 and 64 KiB, and the number of connections is capped so
    /// that their buffers fit in three quarters of free memory: a small guest refuses connections beyond what it
    /// can hold (the client sees a reset) instead of running out of memory.
    static func tcpConfiguration() -> TCPConfiguration {
        var c = TCPConfiguration()
        c.minimumRTO = .milliseconds(200)
        c.initialRTO = .seconds(1)
        #if os(none)
        let free = Int(System.memory?.freeBytes ?? 1 << 30)
        var buffer = 64 * 1024
        while buffer > 8 * 1024 && buffer > free / 64 { buffer /= 2 }
        c.sendBufferSize = buffer
        c.receiveBufferSize = buffer
        c.maximumConnections = min(max(free / 4 * 3 / (2 * buffer), 16), 4096)
        #endif
        return c
    }
}
