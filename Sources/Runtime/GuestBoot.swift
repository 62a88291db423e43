#if os(none)
import Boot
import BootShim
import Hardware
import Interfaces
import Memory

/// Paging structures for the kernel's own page table: frames from the frame allocator, reached through the
/// identity map (every frame handed out lies in mapped RAM).
struct KernelTableMemory: PageTableMemory {
    let physical: PhysicalMemory

    mutating func allocateTable() -> PhysicalAddress? {
        guard let frame = physical.frames.allocate() else { return nil }
        UnsafeMutableRawPointer(bitPattern: UInt(frame.value))!.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return frame
    }

    func entries(at address: PhysicalAddress) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(address.value))!
    }
}

/// The guest's physical memory: the frame allocator and the kernel page table built over it.
final class PhysicalMemory {
    var frames: FrameAllocator
    var pageTable: PageTable<KernelTableMemory>! = nil
    /// Usable RAM ranges that are mapped (for backtrace reads and pointer checks).
    let mappedRAM: [Range<UInt64>]

    init(frames: FrameAllocator, mappedRAM: [Range<UInt64>]) {
        self.frames = frames
        self.mappedRAM = mappedRAM
    }

    /// A pointer to the first byte of the frame run at `address`.
    static func pointer(_ address: PhysicalAddress) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(address.value))!
    }
}

/// Everything the runtime set up at boot.
final class GuestKernel {
    let layout: KernelLayout
    let startInfo: StartInfo
    let commandLine: CommandLineParser
    let features: CPUFeatures
    let clock: TSCClock
    let physical: PhysicalMemory
    let entropy: CPUEntropy
    var mainStartTSC: UInt64 = 0

    init(layout: KernelLayout, startInfo: StartInfo, commandLine: CommandLineParser, features: CPUFeatures,
         clock: TSCClock, physical: PhysicalMemory, entropy: CPUEntropy) {
        self.layout = layout
        self.startInfo = startInfo
        self.commandLine = commandLine
        self.features = features
        self.clock = clock
        self.physical = physical
        self.entropy = entropy
    }
}

nonisolated(unsafe) var guestKernel: GuestKernel! = nil

/// TSC readings at the boot milestones (fixed capacity, no allocation), for `System.bootTimeline`.
nonisolated(unsafe) var bootMilestones: (count: Int, names: (StaticString, StaticString, StaticString, StaticString, StaticString, StaticString, StaticString, StaticString),
                                         ticks: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) =
    (0, ("", "", "", "", "", "", "", ""), (0, 0, 0, 0, 0, 0, 0, 0))

@inline(__always) func milestone(_ name: StaticString) {
    let tsc = CPU.readTSC()
    let i = bootMilestones.count
    guard i < 8 else { return }
    withUnsafeMutableBytes(of: &bootMilestones.names) { $0.storeBytes(of: name, toByteOffset: i * MemoryLayout<StaticString>.stride, as: StaticString.self) }
    withUnsafeMutableBytes(of: &bootMilestones.ticks) { $0.storeBytes(of: tsc, toByteOffset: i * 8, as: UInt64.self) }
    bootMilestones.count = i + 1
}

/// Stops the boot with a report: nothing after this point could work. Prints without allocating.
func bootFailure(_ stage: StaticString, _ brief: (what: StaticString, value: UInt64)) -> Never {
    Fatal.begin("BOOT FAILURE: ")
    Fatal.out.write(stage)
    Fatal.out.write(": ")
    Fatal.out.write(brief.what)
    Fatal.out.write(" ")
    Fatal.out.writeHex(brief.value)
    Fatal.out.write("\n")
    Fatal.finish(.bootFailure)
}

/// The device hole below 4 GiB where PCI BARs, virtio-mmio slots, the IOAPIC and the LAPIC live.
let deviceHole: Range<UInt64> = 0xC000_0000..<0x1_0000_0000

/// Builds the frame allocator over the memory map (image, low memory and boot modules excluded) and the kernel
/// page table: RAM read/write and no-execute, text read-only and executable, rodata read-only, the device hole
/// uncached, page 0 and every guard page unmapped. Switches CR3 to it.
func setUpMemory(startInfo: StartInfo, layout: KernelLayout) -> PhysicalMemory {
    let map = MemoryMap(regions: startInfo.memoryMap)
    var exclusions: [Range<UInt64>] = [0..<0x10_0000, layout.imageStart..<layout.imageEnd]
    for module in startInfo.modules {
        exclusions.append(module.address..<(module.address &+ module.size))
    }
    let usable = map.usableRanges(excluding: exclusions)
    let bitmapBytes = FrameAllocator.bitmapBytes(covering: usable)
    guard let carved = FrameAllocator.carve(bytes: bitmapBytes, from: usable), !carved.remaining.isEmpty else {
        bootFailure("memory", ("no usable RAM above the image; bytes reported:", map.usableBytes))
    }
    let bitmapAddress = carved.address
    let rest = carved.remaining
    let storage = UnsafeMutableRawBufferPointer(start: PhysicalMemory.pointer(PhysicalAddress(bitmapAddress)),
                                                count: bitmapBytes)
    let frames: FrameAllocator
    do { frames = try FrameAllocator(ranges: rest, bitmapStorage: storage) }
    catch { bootFailure("frame allocator", error.brief) }
    milestone("frames ready")

    var ram: [Range<UInt64>] = []
    for region in map.regions {
        switch region.kind {
        case .usable, .acpiReclaimable, .acpiNVS:
            let start = region.start.alignedDown(to: 4096).value
            let end = region.end.alignedUp(to: 4096).value
            if end > 4096 { ram.append(max(start, 4096)..<end) }
        default: break
        }
    }
    let physical = PhysicalMemory(frames: frames, mappedRAM: ram)
    do {
        var table = try PageTable(memory: KernelTableMemory(physical: physical))
        try table.map(virtual: deviceHole.lowerBound, physical: deviceHole.lowerBound,
                      length: deviceHole.upperBound - deviceHole.lowerBound, flags: .device)
        try table.map(virtual: 4096, physical: 4096, length: 0x10_0000 - 4096, flags: .data)
        for r in ram where r.lowerBound < r.upperBound {
            try table.map(virtual: r.lowerBound, physical: r.lowerBound, length: r.upperBound - r.lowerBound, flags: .data)
        }
        try table.map(virtual: layout.imageStart, physical: layout.imageStart,
                      length: layout.rodataEnd - layout.imageStart, flags: .readOnly)
        try table.map(virtual: layout.textStart, physical: layout.textStart,
                      length: layout.textEnd - layout.textStart, flags: .code)
        try table.map(virtual: layout.dataStart, physical: layout.dataStart,
                      length: layout.imageEnd - layout.dataStart, flags: .data)
        for page in layout.guardPages { try table.unmap(virtual: page, length: 4096) }
        physical.pageTable = table
        CPU.loadPageTables(table.root.value)
    } catch {
        bootFailure("page tables", error.brief)
    }
    return physical
}

/// Entry from the boot shim (Boot/entry.S) with the physical address of the PVH start info. Sets up the
/// machine, then runs the application's `main` and exits with its status.
@_cdecl("unikernel_start")
public func unikernelStart(_ startInfoAddress: UInt64) -> Never {
    milestone("swift entry")
    SerialPort.com1.initialize()
    let entryTSC = shim_boot_entry_tsc()
    let features = CPUFeatures.detect()
    let clock = TSCClock(origin: entryTSC, reportedHz: features.reportedTSCHz)
    let layout = KernelLayout.current

    // The shim identity-maps the first 4 GiB; the start info and its tables must lie inside that. (Address 0
    // cannot be a pointer, so the window starts at 8; page 0 is unmapped later by the kernel page table.)
    let window = PhysicalMemoryWindow(
        base: 8, bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0xFFFF_FFF8))
    let startInfo: StartInfo
    do { startInfo = try StartInfo.parse(at: startInfoAddress, in: window) }
    catch { bootFailure("PVH start info", error.brief) }

    milestone("start info parsed")
    let commandLine = CommandLineParser(startInfo.commandLine)
    if let name = commandLine.option("log"), let level = LogLevel(name: name) { Log.level = level }

    let physical = setUpMemory(startInfo: startInfo, layout: layout)
    milestone("memory ready")
    Fatal.isReadable = { address in
        for r in physical.mappedRAM where r.contains(address) { return !Fatal.isGuardPage(address) }
        return false
    }
    let entropy = CPUEntropy(features: features)
    guestKernel = GuestKernel(layout: layout, startInfo: startInfo, commandLine: commandLine, features: features,
                              clock: clock, physical: physical, entropy: entropy)
    if entropy.quality == .weak {
        SerialPort.com1.write("WARNING: no RDSEED/RDRAND on this CPU: entropy comes from a weak timing-based ")
        SerialPort.com1.write("generator (use -cpu max, or attach a virtio-rng device)\n")
    }

    milestone("entropy ready")
    guestKernel.mainStartTSC = CPU.readTSC()
    HeapBroker.mainStarted = true
    let status = shim_call_main()
    Platform.exit(status == 0 ? .success : ExitStatus(UInt8(clamping: status)))
}
#endif
