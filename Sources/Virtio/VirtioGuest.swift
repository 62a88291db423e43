import Hardware
import Interfaces

/// Opening virtio devices in the guest, over the machine's real register windows (`MMIORegion`, I/O ports,
/// PCI configuration mechanism #1). These are the few lines the runtime's device discovery needs:
///
/// ```swift
/// // microvm / Firecracker (virtio-mmio):
/// let slots = VirtioMMIOCommandLine.parse(commandLine).devices + VirtioMMIOProbe.microvmSlots()
/// for found in VirtioGuest.probeMMIO(slots) where found.deviceType == .network {
///     let net = try VirtioNet(transport: VirtioGuest.openMMIO(found.location), memory: dma)
/// }
/// // pc / q35 (virtio-pci):
/// for (function, type) in VirtioGuest.findPCI() where type == .block {
///     let blk = try VirtioBlk(transport: VirtioGuest.openPCI(function), memory: dma)
/// }
/// ```
/// Memory-mapped windows must be mapped (uncached) before they are touched; the `map` hooks let the caller do
/// that on demand.
public enum VirtioGuest {
    /// Opens the virtio-mmio device at `location`.
    public static func openMMIO(_ location: VirtioMMIODeviceLocation) throws(VirtioError) -> any VirtioTransport {
        try VirtioMMIOTransport(window: MMIORegion(unsafeBase: location.base, size: location.size))
    }

    /// The candidates that hold a virtio-mmio device (see `VirtioMMIOProbe.probe`). `map(base, size)` is called
    /// for each candidate before it is read; return false to skip it.
    public static func probeMMIO(_ candidates: [VirtioMMIODeviceLocation],
                                 map: (UInt64, UInt64) -> Bool = { _, _ in true }) -> [VirtioMMIOProbe.Found] {
        VirtioMMIOProbe.probe(candidates) { location in
            map(location.base, location.size) ? MMIORegion(unsafeBase: location.base, size: location.size) : nil
        }
    }

    /// Every virtio function on the PCI buses, with its device type.
    public static func findPCI(config: PortIOPCIConfiguration = PortIOPCIConfiguration())
        -> [(function: PCIFunction, type: VirtioDeviceType)] {
        var result: [(function: PCIFunction, type: VirtioDeviceType)] = []
        for function in PCIEnumerator.enumerate(config) {
            if let type = VirtioPCI.deviceType(of: function) { result.append((function, type)) }
        }
        return result
    }

    /// Opens a virtio-pci function (modern interface when present, else legacy). `map(base, size)` is called for
    /// each memory BAR the transport uses, before it is accessed (possibly more than once per BAR); return false
    /// to leave the BAR unused. BARs the firmware left unassigned (base 0) are not used. Enable MSI-X on the
    /// function first if it will be used (`PCIMSIX`), then set `interruptVectors` on the returned transport
    /// before starting the driver.
    public static func openPCI(_ function: PCIFunction, config: PortIOPCIConfiguration = PortIOPCIConfiguration(),
                               map: (UInt64, UInt64) -> Bool = { _, _ in true }) throws(VirtioError) -> any VirtioTransport {
        let bars = PCIBAR.probeAll(config, function: function)
        return try VirtioPCI.makeTransport(config: config, function: function, bars: bars) { (_, bar) -> PCIBARWindow? in
            guard bar.base != 0 else { return nil }
            if bar.isMemory && !map(bar.base, bar.size) { return nil }
            return bar.window
        }
    }
}
