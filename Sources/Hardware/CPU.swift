import BootShim

/// The processor: identification, time stamp counter, model-specific and control registers, the interrupt flag,
/// halting and hardware random numbers. Everything here executes only in the guest.
public enum CPU {
    /// The four registers CPUID returns.
    public struct CPUIDResult: Equatable, Sendable {
        public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
    }

    /// Executes CPUID for `leaf` and `subleaf`.
    public static func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> CPUIDResult {
        let r = shim_cpuid(leaf, subleaf)
        return CPUIDResult(eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx)
    }

    /// Reads the time stamp counter.
    @inline(__always) public static func readTSC() -> UInt64 { shim_rdtsc() }
    /// Reads model-specific register `msr`.
    public static func readMSR(_ msr: UInt32) -> UInt64 { shim_rdmsr(msr) }
    /// Writes model-specific register `msr`.
    public static func writeMSR(_ msr: UInt32, _ value: UInt64) { shim_wrmsr(msr, value) }
    /// CR2: the linear address of the last page fault.
    public static func readCR2() -> UInt64 { shim_read_cr2() }
    /// CR3: the physical address of the active PML4.
    public static func readCR3() -> UInt64 { shim_read_cr3() }
    /// Switches to the page tables rooted at `pml4` (flushes non-global TLB entries).
    public static func loadPageTables(_ pml4: UInt64) { shim_write_cr3(pml4) }
    /// Flushes the TLB entry for `address`.
    public static func invalidatePage(_ address: UInt64) { shim_invlpg(address) }
    /// The current frame pointer (RBP): the start of a backtrace.
    @inline(__always) public static func framePointer() -> UInt64 { shim_read_rbp() }
    /// The current stack pointer.
    @inline(__always) public static func stackPointer() -> UInt64 { shim_read_rsp() }

    /// Whether maskable interrupts are enabled (RFLAGS.IF).
    public static var interruptsEnabled: Bool { shim_read_rflags() & 0x200 != 0 }
    /// Clears RFLAGS.IF.
    @inline(__always) public static func disableInterrupts() { shim_cli() }
    /// Sets RFLAGS.IF.
    @inline(__always) public static func enableInterrupts() { shim_sti() }
    /// Enables interrupts and halts atomically; returns after the next interrupt has been handled.
    public static func enableInterruptsAndHalt() { shim_sti_hlt() }
    /// Halts until the next interrupt (with interrupts disabled, until an NMI or forever).
    public static func halt() { shim_hlt() }
    /// A spin-wait hint.
    @inline(__always) public static func pause() { shim_pause() }

    /// Runs `body` with interrupts disabled and restores the previous interrupt flag afterwards.
    /// This is the critical section of a single-CPU kernel.
    @inline(__always) public static func withInterruptsDisabled<T>(_ body: () -> T) -> T {
        let wasEnabled = interruptsEnabled
        if wasEnabled { shim_cli() }
        let result = body()
        if wasEnabled { shim_sti() }
        return result
    }

    /// Unsigned 64-bit division by the `div` instruction: a zero divisor raises the CPU's divide error (#DE),
    /// where Swift's `/` would trap in software first. For tests of the exception path.
    @inline(never) public static func hardwareDivide(_ dividend: UInt64, _ divisor: UInt64) -> UInt64 {
        shim_hardware_divide(dividend, divisor)
    }

    /// One 64-bit value from RDSEED (true entropy), retried a few times, or nil if the CPU gave none.
    public static func rdseed() -> UInt64? {
        var value: UInt64 = 0
        for _ in 0..<16 where shim_rdseed64(&value) != 0 { return value }
        return nil
    }

    /// One 64-bit value from RDRAND (a DRBG seeded by the CPU), retried a few times, or nil.
    public static func rdrand() -> UInt64? {
        var value: UInt64 = 0
        for _ in 0..<16 where shim_rdrand64(&value) != 0 { return value }
        return nil
    }
}

/// The CPU features the kernel cares about, read once with CPUID.
public struct CPUFeatures: Equatable, Sendable {
    /// CPUID.1:ECX.RDRAND[bit 30].
    public var rdrand: Bool
    /// CPUID.7.0:EBX.RDSEED[bit 18].
    public var rdseed: Bool
    /// CPUID.1:ECX.x2APIC[bit 21].
    public var x2apic: Bool
    /// CPUID.1:ECX.TSC-Deadline[bit 24].
    public var tscDeadline: Bool
    /// CPUID.80000007H:EDX.InvariantTSC[bit 8].
    public var invariantTSC: Bool
    /// CPUID.1:ECX.hypervisor[bit 31].
    public var hypervisor: Bool
    /// The highest basic leaf.
    public var maxBasicLeaf: UInt32
    /// TSC frequency in Hz from CPUID leaf 0x15 (crystal x ratio) or 0x16 (base MHz), or from the hypervisor
    /// timing leaf 0x40000010, when the CPU reports one; nil otherwise.
    public var reportedTSCHz: UInt64?

    /// Reads the features of the running CPU.
    public static func detect() -> CPUFeatures {
        let leaf0 = CPU.cpuid(0)
        let leaf1 = CPU.cpuid(1)
        let leaf7 = leaf0.eax >= 7 ? CPU.cpuid(7, 0) : CPU.CPUIDResult(eax: 0, ebx: 0, ecx: 0, edx: 0)
        let maxExtended = CPU.cpuid(0x8000_0000).eax
        let ext7 = maxExtended >= 0x8000_0007 ? CPU.cpuid(0x8000_0007).edx : 0
        var features = CPUFeatures(
            rdrand: leaf1.ecx & (1 << 30) != 0, rdseed: leaf7.ebx & (1 << 18) != 0,
            x2apic: leaf1.ecx & (1 << 21) != 0, tscDeadline: leaf1.ecx & (1 << 24) != 0,
            invariantTSC: ext7 & (1 << 8) != 0, hypervisor: leaf1.ecx & (1 << 31) != 0,
            maxBasicLeaf: leaf0.eax, reportedTSCHz: nil)
        features.reportedTSCHz = Self.tscFrequency(
            leaf15: leaf0.eax >= 0x15 ? CPU.cpuid(0x15) : nil,
            leaf16: leaf0.eax >= 0x16 ? CPU.cpuid(0x16) : nil,
            hypervisorTiming: features.hypervisor && CPU.cpuid(0x4000_0000).eax >= 0x4000_0010
                ? CPU.cpuid(0x4000_0010) : nil)
        return features
    }

    /// The TSC frequency implied by CPUID leaves (Intel SDM Vol. 2A, CPUID leaf 15H and 16H; the hypervisor
    /// leaf 0x40000010 reports kHz in EAX). Zero fields mean "not reported".
    public static func tscFrequency(leaf15: CPU.CPUIDResult?, leaf16: CPU.CPUIDResult?,
                                    hypervisorTiming: CPU.CPUIDResult?) -> UInt64? {
        if let l = leaf15, l.eax != 0, l.ebx != 0, l.ecx != 0 {
            return UInt64(l.ecx) * UInt64(l.ebx) / UInt64(l.eax)
        }
        if let h = hypervisorTiming, h.eax != 0 { return UInt64(h.eax) * 1000 }
        if let l = leaf16, l.eax & 0xffff != 0 { return UInt64(l.eax & 0xffff) * 1_000_000 }
        return nil
    }
}
