import BootShim

/// The local APIC of the CPU (Intel SDM Vol. 3A, chapter 11): interrupt acceptance, end-of-interrupt, and the
/// APIC timer. Driven through MMIO at the base in `IA32_APIC_BASE` (xAPIC) or through MSRs 0x800-0x8FF (x2APIC),
/// whichever the CPU offers; the register offsets are the same (MSR = 0x800 + offset / 16).
public struct LocalAPIC: Sendable {
    /// How the registers are reached.
    public enum Mode: Equatable, Sendable {
        case xAPIC(base: UInt64)
        case x2APIC
    }

    /// Register offsets in the xAPIC MMIO page.
    public enum Register: UInt64, Sendable {
        case id = 0x20, version = 0x30, taskPriority = 0x80, endOfInterrupt = 0xB0, spuriousVector = 0xF0
        case errorStatus = 0x280, lvtTimer = 0x320, lvtLINT0 = 0x350, lvtLINT1 = 0x360, lvtError = 0x370
        case timerInitialCount = 0x380, timerCurrentCount = 0x390, timerDivide = 0x3E0
    }

    /// Timer modes of the LVT timer entry (bits 17-18).
    public enum TimerMode: UInt32, Sendable {
        case oneShot = 0, periodic = 1, tscDeadline = 2
    }

    static let apicBaseMSR: UInt32 = 0x1B
    static let tscDeadlineMSR: UInt32 = 0x6E0

    /// The access mode in use.
    public let mode: Mode

    /// Enables the local APIC in x2APIC mode when `preferX2APIC` and the CPU supports it, else in xAPIC mode.
    public static func enable(preferX2APIC: Bool, features: CPUFeatures) -> LocalAPIC {
        var base = CPU.readMSR(apicBaseMSR)
        base |= 1 << 11  // global enable
        if preferX2APIC && features.x2apic {
            base |= 1 << 10
            CPU.writeMSR(apicBaseMSR, base)
            return LocalAPIC(mode: .x2APIC)
        }
        CPU.writeMSR(apicBaseMSR, base)
        return LocalAPIC(mode: .xAPIC(base: base & 0x000F_FFFF_FFFF_F000))
    }

    /// Reads a register.
    public func read(_ register: Register) -> UInt32 {
        switch mode {
        case .xAPIC(let base): return shim_mmio_read32(base + register.rawValue)
        case .x2APIC: return UInt32(truncatingIfNeeded: CPU.readMSR(0x800 + UInt32(register.rawValue >> 4)))
        }
    }

    /// Writes a register.
    public func write(_ register: Register, _ value: UInt32) {
        switch mode {
        case .xAPIC(let base): shim_mmio_write32(base + register.rawValue, value)
        case .x2APIC: CPU.writeMSR(0x800 + UInt32(register.rawValue >> 4), UInt64(value))
        }
    }

    /// This CPU's APIC ID.
    public var id: UInt32 {
        switch mode {
        case .xAPIC: return read(.id) >> 24
        case .x2APIC: return read(.id)
        }
    }

    /// Software-enables the APIC with `spuriousVector`, accepts all priorities, masks LINT0/LINT1 (the legacy
    /// PIC is not used) and routes APIC errors to `errorVector`.
    public func configure(spuriousVector: UInt8, errorVector: UInt8) {
        write(.spuriousVector, 0x100 | UInt32(spuriousVector))
        write(.taskPriority, 0)
        write(.lvtLINT0, 1 << 16)
        write(.lvtLINT1, 1 << 16)
        write(.lvtError, UInt32(errorVector))
        write(.errorStatus, 0)
    }

    /// Signals end of interrupt (must be sent for every vector except the spurious one).
    @inline(__always) public func endOfInterrupt() { write(.endOfInterrupt, 0) }

    /// Sets the timer's vector and mode; the timer stays stopped until armed.
    public func configureTimer(vector: UInt8, mode: TimerMode) {
        write(.timerDivide, 0b1011)  // divide by 1
        write(.lvtTimer, UInt32(vector) | mode.rawValue << 17)
    }

    /// Arms the one-shot timer to fire after `count` timer ticks (0 stops it).
    public func armOneShot(count: UInt32) { write(.timerInitialCount, count) }

    /// Arms the TSC-deadline timer at TSC value `deadline` (0 disarms it).
    public func armTSCDeadline(_ deadline: UInt64) { CPU.writeMSR(Self.tscDeadlineMSR, deadline) }

    /// The one-shot timer's current count.
    public var timerCurrentCount: UInt32 { read(.timerCurrentCount) }
}

/// An I/O APIC (Intel 82093AA datasheet): routes global system interrupts (GSIs) to local APIC vectors through its
/// redirection table. Registers are reached through IOREGSEL (offset 0x00) and IOWIN (offset 0x10).
public struct IOAPIC: Sendable {
    /// MMIO base address.
    public let base: UInt64
    /// The first GSI this I/O APIC serves.
    public let gsiBase: UInt32

    public init(base: UInt64, gsiBase: UInt32) {
        self.base = base
        self.gsiBase = gsiBase
    }

    private func read(_ index: UInt32) -> UInt32 {
        shim_mmio_write32(base, index)
        return shim_mmio_read32(base + 0x10)
    }

    private func write(_ index: UInt32, _ value: UInt32) {
        shim_mmio_write32(base, index)
        shim_mmio_write32(base + 0x10, value)
    }

    /// Number of redirection entries (GSIs served).
    public var entryCount: Int { Int((read(0x01) >> 16) & 0xFF) + 1 }

    /// Whether `gsi` belongs to this I/O APIC.
    public func serves(_ gsi: UInt32) -> Bool { gsi >= gsiBase && gsi < gsiBase + UInt32(entryCount) }

    /// Programs `gsi` to deliver `vector` (fixed delivery, physical destination `apicID`), with the given polarity
    /// and trigger mode, masked or not.
    public func route(gsi: UInt32, vector: UInt8, apicID: UInt32, activeLow: Bool, levelTriggered: Bool, masked: Bool) {
        let index = 0x10 + 2 * (gsi - gsiBase)
        var low = UInt32(vector)
        if activeLow { low |= 1 << 13 }
        if levelTriggered { low |= 1 << 15 }
        if masked { low |= 1 << 16 }
        write(index, 1 << 16)  // mask while changing
        write(index + 1, apicID << 24)
        write(index, low)
    }

    /// Masks every entry.
    public func maskAll() {
        for i in 0..<UInt32(entryCount) { write(0x10 + 2 * i, 1 << 16) }
    }
}

/// The two cascaded 8259A PICs. Only ever remapped away from the exception vectors and masked: interrupts come
/// through the I/O APIC.
public enum LegacyPIC {
    /// Remaps IRQs 0-15 to vectors `base`...`base + 15` (so a stray one is never mistaken for an exception) and
    /// masks all of them.
    public static func remapAndMask(base: UInt8) {
        let master = IOPort(0x20), masterData = IOPort(0x21), slave = IOPort(0xA0), slaveData = IOPort(0xA1)
        master.write8(0x11); slave.write8(0x11)          // ICW1: init, ICW4 follows
        masterData.write8(base); slaveData.write8(base &+ 8)  // ICW2: vector bases
        masterData.write8(0x04); slaveData.write8(0x02)  // ICW3: cascade on IRQ2
        masterData.write8(0x01); slaveData.write8(0x01)  // ICW4: 8086 mode
        masterData.write8(0xFF); slaveData.write8(0xFF)  // mask everything
    }
}
