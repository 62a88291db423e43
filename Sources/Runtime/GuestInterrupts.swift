#if os(none)
import RuntimeCore
import Boot
import BootShim
import Hardware
import Interfaces
import Memory

/// The interrupt controllers, set up the first time something needs an interrupt (a timer, a device).
///
/// Vector plan: 0x00-0x1F CPU exceptions; 0x20-0x2F the legacy PICs, remapped there and masked (a spurious IRQ 7
/// or 15 from them is ignored); 0x30 the local APIC timer; 0x31 APIC errors; 0x40-0xEF device interrupts
/// (allocated in order); 0xFF the APIC's spurious vector, which needs no end-of-interrupt. I/O APIC lines come from
/// the ACPI MADT (base address, GSI base, ISA overrides), never from guesses.
package enum InterruptController {
    static let timerVector: UInt8 = 0x30
    static let errorVector: UInt8 = 0x31
    static let spuriousVector: UInt8 = 0xFF
    static let firstDeviceVector: UInt8 = 0x40
    static let lastDeviceVector: UInt8 = 0xEF

    nonisolated(unsafe) private(set) static var localAPIC: LocalAPIC? = nil
    nonisolated(unsafe) private static var ioAPICs: [IOAPIC] = []
    nonisolated(unsafe) package private(set) static var topology: InterruptTopology? = nil
    nonisolated(unsafe) private static var nextVector: UInt8 = firstDeviceVector
    /// APIC errors seen (the error vector fired).
    nonisolated(unsafe) private(set) static var apicErrors: UInt64 = 0

    /// The local APIC, setting the controllers up on first use.
    package static var apic: LocalAPIC {
        if let a = localAPIC { return a }
        return CPU.withInterruptsDisabled { setUp() }
    }

    /// A window over mapped low memory and RAM for reading ACPI tables (Kernel.memory maps RAM, ACPI regions,
    /// the first MiB and the device hole).
    static var acpiWindow: PhysicalMemoryWindow {
        _ = Kernel.memory
        return PhysicalMemoryWindow(base: 8, bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8),
                                                                           count: 0xFFFF_FFF8))
    }

    /// The ACPI tables, if the hypervisor provides them.
    package static var acpi: ACPI? {
        let window = acpiWindow
        guard let rsdp = ACPI.findRSDP(hint: Kernel.memory.startInfo.rsdp, in: window) else { return nil }
        return try? ACPI(rsdp: rsdp, memory: window)
    }

    private static func setUp() -> LocalAPIC {
        LegacyPIC.remapAndMask(base: 0x20)
        let features = Kernel.features
        topology = try? acpi?.interruptTopology()
        let apic = LocalAPIC.enable(preferX2APIC: true, features: features)
        apic.configure(spuriousVector: spuriousVector, errorVector: errorVector)
        localAPIC = apic
        if let t = topology {
            ioAPICs = t.ioAPICs.map { IOAPIC(base: $0.address, gsiBase: $0.gsiBase) }
        } else {
            ioAPICs = [IOAPIC(base: 0xFEC0_0000, gsiBase: 0)]  // the PC default when there is no MADT
        }
        for io in ioAPICs { io.maskAll() }
        Traps.setHandler(vector: errorVector) { _ in
            apicErrors &+= 1
            InterruptController.localAPIC?.write(.errorStatus, 0)
        }
        Traps.setHandler(vector: spuriousVector) { _ in }
        for v in UInt8(0x20)...UInt8(0x2F) { Traps.setHandler(vector: v) { _ in } }  // spurious legacy PIC IRQs
        Traps.afterInterrupt = { vector in
            if vector >= 0x30 && vector != 0xFF { InterruptController.localAPIC?.endOfInterrupt() }
            ThreadSystemHook.afterInterrupt?()
        }
        return apic
    }

    /// Installs `handler` on a fresh device vector and returns the vector (for MSI/MSI-X programming).
    package static func allocateVector(_ handler: @escaping InterruptHandler) -> UInt8? {
        _ = apic
        return CPU.withInterruptsDisabled {
            guard nextVector <= lastDeviceVector else { return nil }
            let v = nextVector
            nextVector += 1
            Traps.setHandler(vector: v, handler)
            return v
        }
    }

    /// Handlers of lines routed so far, by GSI (a line may be shared, e.g. by PCI functions using INTx).
    nonisolated(unsafe) private static var lines: [(gsi: UInt32, vector: UInt8, handlers: [InterruptHandler])] = []

    /// Routes global system interrupt `gsi` to a vector running `handler`; returns the vector. Routing a GSI that
    /// is already routed adds `handler` to the line (every handler of a shared line runs on each interrupt).
    package static func route(gsi: UInt32, activeLow: Bool, levelTriggered: Bool,
                      _ handler: @escaping InterruptHandler) -> UInt8? {
        let apic = self.apic
        return CPU.withInterruptsDisabled { () -> UInt8? in
            if let i = lines.firstIndex(where: { $0.gsi == gsi }) {
                lines[i].handlers.append(handler)
                return lines[i].vector
            }
            guard let io = ioAPICs.first(where: { $0.serves(gsi) }) else { return nil }
            let index = lines.count
            guard let vector = allocateVector({ frame in
                for h in InterruptController.lines[index].handlers { h(frame) }
            }) else { return nil }
            lines.append((gsi, vector, [handler]))
            io.route(gsi: gsi, vector: vector, apicID: apic.id, activeLow: activeLow, levelTriggered: levelTriggered,
                     masked: false)
            return vector
        }
    }

    /// Routes ISA IRQ `irq`, applying the MADT's source overrides.
    package static func route(isaIRQ irq: UInt8, _ handler: @escaping InterruptHandler) -> UInt8? {
        _ = apic
        let r = topology?.isaRoute(irq) ?? (gsi: UInt32(irq), activeLow: false, levelTriggered: false)
        return route(gsi: r.gsi, activeLow: r.activeLow, levelTriggered: r.levelTriggered, handler)
    }
}

/// What interrupt handling calls after every interrupt, once threads exist (the preemption check). Set by the
/// thread system when it is created, so images without threads do not link the scheduler.
enum ThreadSystemHook {
    nonisolated(unsafe) static var afterInterrupt: (() -> Void)? = nil
}

/// The local APIC timer, in TSC-deadline mode when the CPU has it (no calibration needed: deadlines are TSC
/// values), else in one-shot mode with its rate measured against the TSC once.
enum GuestTimer {
    nonisolated(unsafe) private static var configured = false
    nonisolated(unsafe) private static var useDeadline = false
    /// One-shot mode: APIC timer ticks per nanosecond, times 2^32.
    nonisolated(unsafe) private static var apicTicksPerNanosecond32 = UInt64(0)

    private static func configure() {
        let apic = InterruptController.apic
        useDeadline = Kernel.features.tscDeadline
        if useDeadline {
            apic.configureTimer(vector: InterruptController.timerVector, mode: .tscDeadline)
        } else {
            // Measure the APIC timer against the TSC over about 1 ms.
            apic.configureTimer(vector: InterruptController.timerVector, mode: .oneShot)
            let scale = Kernel.clock.currentScale
            apic.armOneShot(count: 0xFFFF_FFFF)
            let start = CPU.readTSC()
            let window = scale.ticks(nanoseconds: 1_000_000)
            while CPU.readTSC() &- start < window { CPU.pause() }
            let elapsedTicks = 0xFFFF_FFFF - UInt64(apic.timerCurrentCount)
            let elapsedNanos = scale.nanoseconds(CPU.readTSC() &- start)
            apic.armOneShot(count: 0)
            apicTicksPerNanosecond32 = max((elapsedTicks << 32) / max(elapsedNanos, 1), 1)
        }
        configured = true
    }

    /// Requests a timer interrupt at `deadline` (nil stops the timer). A deadline in the past fires at once.
    static func arm(_ deadline: Instant?) {
        if !configured { configure() }
        let apic = InterruptController.apic
        guard let deadline else {
            if useDeadline { apic.armTSCDeadline(0) } else { apic.armOneShot(count: 0) }
            return
        }
        let clock = Kernel.clock
        if useDeadline {
            let ticks = clock.currentScale.ticks(nanoseconds: deadline.nanoseconds)
            apic.armTSCDeadline(max(clock.origin &+ ticks, 1))
        } else {
            let nanos = deadline.duration(since: clock.now).nanosecondsClamped
            let product = UInt64(max(nanos, 0)).multipliedFullWidth(by: apicTicksPerNanosecond32)
            let count = product.high >> 32 != 0 ? UInt64.max : product.low >> 32 | product.high << 32
            apic.armOneShot(count: UInt32(clamping: max(count, 1)))
        }
    }
}
#endif
