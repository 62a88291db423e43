#if os(none)
import Boot
import BootShim
import Hardware
import Interfaces
import Memory

/// Paging structures for the kernel's own page table: frames from the frame allocator, reached through the
/// identity map (every frame handed out lies in mapped RAM).
package struct KernelTableMemory: PageTableMemory {
    let physical: PhysicalMemory

    package mutating func allocateTable() -> PhysicalAddress? {
        guard let frame = physical.frames.allocate() else { return nil }
        UnsafeMutableRawPointer(bitPattern: UInt(frame.value))!.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return frame
    }

    package func entries(at address: PhysicalAddress) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(address.value))!
    }
}

/// The guest's physical memory: the frame allocator and the kernel page table built over it.
package final class PhysicalMemory {
    package var frames: FrameAllocator
    package var pageTable: PageTable<KernelTableMemory>! = nil
    /// Usable RAM ranges that are mapped (for backtrace reads and pointer checks).
    package let mappedRAM: [Range<UInt64>]

    init(frames: FrameAllocator, mappedRAM: [Range<UInt64>]) {
        self.frames = frames
        self.mappedRAM = mappedRAM
    }

    /// A pointer to the first byte of the frame run at `address`.
    static func pointer(_ address: PhysicalAddress) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(address.value))!
    }
}

/// What the first, eager part of boot records for the parts brought up later.
enum BootRecord {
    /// Physical address of the PVH start info (as the shim received it in %ebx).
    nonisolated(unsafe) static var startInfoAddress: UInt64 = 0
    /// TSC when `main` was called.
    nonisolated(unsafe) static var mainStartTSC: UInt64 = 0
}

/// Memory and boot information, brought up on first need (`Kernel.memory`).
package final class GuestKernel {
    package let layout: KernelLayout
    package let startInfo: StartInfo
    package let commandLine: CommandLineParser
    package let physical: PhysicalMemory

    init(layout: KernelLayout, startInfo: StartInfo, commandLine: CommandLineParser, physical: PhysicalMemory) {
        self.layout = layout
        self.startInfo = startInfo
        self.commandLine = commandLine
        self.physical = physical
    }
}

nonisolated(unsafe) var guestKernel: GuestKernel? = nil

/// TSC readings at the boot milestones (fixed capacity, no allocation), for `System.bootTimeline`.
nonisolated(unsafe) var bootMilestones: (count: Int, names: (StaticString, StaticString, StaticString, StaticString, StaticString, StaticString, StaticString, StaticString),
                                         ticks: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) =
    (0, ("", "", "", "", "", "", "", ""), (0, 0, 0, 0, 0, 0, 0, 0))

/// Records boot milestone `name` with the current TSC (at most eight; later ones are dropped).
@inline(__always) func milestone(_ name: StaticString) {
    let tsc = CPU.readTSC()
    let i = bootMilestones.count
    guard i < 8 else { return }
    withUnsafeMutableBytes(of: &bootMilestones.names) { $0.storeBytes(of: name, toByteOffset: i * MemoryLayout<StaticString>.stride, as: StaticString.self) }
    withUnsafeMutableBytes(of: &bootMilestones.ticks) { $0.storeBytes(of: tsc, toByteOffset: i * 8, as: UInt64.self) }
    bootMilestones.count = i + 1
}
nonisolated(unsafe) private var lazyClock: TSCClock? = nil
nonisolated(unsafe) private var lazyEntropy: CPUEntropy? = nil
nonisolated(unsafe) private var lazyFeatures: CPUFeatures? = nil

/// The runtime's subsystems, each brought up the first time something needs it.
///
/// Boot does the minimum before `main` (the shim's CPU setup, the console), because under emulation every
/// instruction run for the first time is expensive: memory (start info, frame allocator, kernel page tables,
/// heap) comes up at the first allocation or the first question about memory or arguments; the clock at the first
/// question about time; the entropy source at the first request for random bytes. Until memory is up, the boot
/// shim's page tables are active: page 0 and the boot-stack guard page are unmapped, but text is not yet
/// read-only and data not yet no-execute.
package enum Kernel {
    /// Nesting guard: allocations made while memory comes up use the bootstrap arena.
    nonisolated(unsafe) static var bringingUpMemory = false

    package static var memory: GuestKernel {
        if let k = guestKernel { return k }
        return CPU.withInterruptsDisabled { bringUpMemory() }
    }

    package static var features: CPUFeatures {
        if let f = lazyFeatures { return f }
        let f = CPUFeatures.detect()
        lazyFeatures = f
        return f
    }

    package static var clock: TSCClock {
        if let c = lazyClock { return c }
        let c = TSCClock(origin: shim_boot_entry_tsc(), reportedHz: features.reportedTSCHz)
        lazyClock = c
        return c
    }

    static var entropy: CPUEntropy {
        if let e = lazyEntropy { return e }
        let e = CPUEntropy(features: features)
        lazyEntropy = e
        if e.quality == .weak {
            SerialPort.com1.write("WARNING: no RDSEED/RDRAND on this CPU: entropy comes from a weak timing-based ")
            SerialPort.com1.write("generator (use -cpu max, or attach a virtio-rng device)\n")
        }
        return e
    }

    private static func bringUpMemory() -> GuestKernel {
        if let k = guestKernel { return k }
        bringingUpMemory = true
        defer { bringingUpMemory = false }
        let layout = KernelLayout.current
        // The shim identity-maps the first 4 GiB; the start info and its tables must lie inside that. Page 0 is
        // mapped only while they are read. (Address 0 cannot be a pointer, so the window starts at 8.)
        let window = PhysicalMemoryWindow(
            base: 8, bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0xFFFF_FFF8))
        shim_boot_map_page_zero(1)
        let parsed: StartInfo
        do throws(StartInfoError) { parsed = try StartInfo.parse(at: BootRecord.startInfoAddress, in: window) }
        catch { shim_boot_map_page_zero(0); bootFailure("PVH start info", error.brief) }
        shim_boot_map_page_zero(0)
        milestone("start info parsed")

        let commandLine = CommandLineParser(parsed.commandLine)
        if let name = commandLine.option("log"), let level = LogLevel(name: name) { Log.level = level }
        let physical = setUpMemory(startInfo: parsed, layout: layout)
        milestone("memory ready")
        Fatal.isReadable = { address in
            for r in physical.mappedRAM where r.contains(address) { return !Fatal.isGuardPage(address) }
            return false
        }
        let kernel = GuestKernel(layout: layout, startInfo: parsed, commandLine: commandLine, physical: physical)
        guestKernel = kernel
        return kernel
    }
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
package let deviceHole: Range<UInt64> = 0xC000_0000..<0x1_0000_0000

/// Builds the frame allocator over the memory map (image, embedded content, low memory and boot modules excluded)
/// and the kernel page table: RAM read/write and no-execute, text read-only and executable, rodata and embedded
/// content read-only, the device hole uncached, page 0 and every guard page unmapped. Switches CR3 to it.
func setUpMemory(startInfo: StartInfo, layout: KernelLayout) -> PhysicalMemory {
    let map = MemoryMap(regions: startInfo.memoryMap)
    let embedded = EmbeddedRegion.reserve(layout: layout, map: map)
    var exclusions: [Range<UInt64>] = [0..<0x10_0000, layout.imageStart..<layout.imageEnd, embedded]
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
    var firmware: [Range<UInt64>] = []
    for region in map.regions {
        switch region.kind {
        case .usable, .acpiReclaimable, .acpiNVS:
            let start = region.start.alignedDown(to: 4096).value
            let end = region.end.alignedUp(to: 4096).value
            if end > 4096 { ram.append(max(start, 4096)..<end) }
        default:
            // Reserved RAM below the device hole holds firmware data the kernel reads, e.g. the ACPI tables that
            // SeaBIOS places at the top of RAM on pc/q35: map it read-only.
            let start = region.start.alignedDown(to: 4096).value
            let end = min(region.end.alignedUp(to: 4096).value, deviceHole.lowerBound)
            if end > start && end > 4096 { firmware.append(max(start, 4096)..<end) }
        }
    }
    let physical = PhysicalMemory(frames: frames, mappedRAM: ram + firmware)
    do {
        var table = try PageTable(memory: KernelTableMemory(physical: physical))
        try table.map(virtual: deviceHole.lowerBound, physical: deviceHole.lowerBound,
                      length: deviceHole.upperBound - deviceHole.lowerBound, flags: .device)
        try table.map(virtual: 4096, physical: 4096, length: 0x10_0000 - 4096, flags: .data)
        for r in ram where r.lowerBound < r.upperBound {
            try table.map(virtual: r.lowerBound, physical: r.lowerBound, length: r.upperBound - r.lowerBound, flags: .data)
        }
        for r in firmware {
            try table.map(virtual: r.lowerBound, physical: r.lowerBound, length: r.upperBound - r.lowerBound, flags: .readOnly)
        }
        try table.map(virtual: layout.imageStart, physical: layout.imageStart,
                      length: layout.rodataEnd - layout.imageStart, flags: .readOnly)
        try table.map(virtual: layout.textStart, physical: layout.textStart,
                      length: layout.textEnd - layout.textStart, flags: .code)
        try table.map(virtual: layout.dataStart, physical: layout.dataStart,
                      length: layout.imageEnd - layout.dataStart, flags: .data)
        try table.map(virtual: embedded.lowerBound, physical: embedded.lowerBound,
                      length: embedded.upperBound - embedded.lowerBound, flags: .readOnly)
        for page in layout.guardPages { try table.unmap(virtual: page, length: 4096) }
        physical.pageTable = table
        CPU.loadPageTables(table.root.value)
    } catch {
        bootFailure("page tables", error.brief)
    }
    return physical
}

/// Entry from the boot shim (Boot/entry.S) with the physical address of the PVH start info. Prepares the
/// console, then runs the application's `main` and exits with its status. Everything else comes up on first
/// use (see `Kernel`).
@_cdecl("unikernel_start")
public func unikernelStart(_ startInfoAddress: UInt64) -> Never {
    milestone("swift entry")
    SerialPort.com1.initialize()
    BootRecord.startInfoAddress = startInfoAddress
    HeapBroker.mainStarted = true
    milestone("main")
    BootRecord.mainStartTSC = CPU.readTSC()
    let status = shim_call_main()
    Platform.exit(status == 0 ? .success : ExitStatus(UInt8(clamping: status)))
}
#endif
