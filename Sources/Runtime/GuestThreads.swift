#if os(none)
import RuntimeCore
import Boot
import BootShim
import Hardware
import Interfaces
import Memory
import Scheduler

/// The guest's `ThreadPlatform`: stacks from the frame allocator with an unmapped guard page, the assembly context
/// switch (Boot/traps.S), the local APIC timer, and `sti; hlt` when idle.
final class GuestThreadPlatform: ThreadPlatform {
    /// Released stacks kept for reuse (their guard pages stay unmapped), so creating a thread usually touches
    /// neither the frame allocator nor the page tables.
    private var pool: [ThreadStack] = []
    static let poolLimit = 64

    var now: Instant { Kernel.clock.now }

    func allocateStack(size: Int) -> ThreadStack? {
        let usable = (size + 4095) / 4096 * 4096
        if let i = pool.lastIndex(where: { $0.size == usable }) { return pool.remove(at: i) }
        let memory = Kernel.memory
        let pages = (size + 4095) / 4096 + 1
        guard let frames = memory.physical.frames.allocateContiguous(count: pages) else { return nil }
        let guardPage = frames.value
        do throws(PagingError) { try memory.physical.pageTable.unmap(virtual: guardPage, length: 4096) }
        catch {
            try? memory.physical.frames.free(frames, count: pages)
            return nil
        }
        CPU.invalidatePage(guardPage)
        return ThreadStack(base: guardPage + 4096, size: (pages - 1) * 4096, guardPage: guardPage)
    }

    func releaseStack(_ stack: ThreadStack) {
        if pool.count < Self.poolLimit {
            pool.append(stack)
            return
        }
        let memory = Kernel.memory
        guard let guardPage = stack.guardPage else { return }
        try? memory.physical.pageTable.map(virtual: guardPage, physical: guardPage, length: 4096, flags: .data)
        CPU.invalidatePage(guardPage)
        try? memory.physical.frames.free(PhysicalAddress(guardPage), count: stack.size / 4096 + 1)
    }

    /// Lays out the frame `shim_context_switch` restores from: MXCSR and x87 control word, six callee-saved
    /// registers (zero; rbp = 0 ends backtraces), RFLAGS with interrupts disabled, and the trampoline's address.
    func makeContext(stack: ThreadStack) -> UInt64 {
        let top = stack.top & ~15
        let sp = top - 80
        let frame = UnsafeMutablePointer<UInt64>(bitPattern: UInt(sp))!
        frame[0] = 0x037F << 32 | 0x1F80  // mxcsr (low 4 bytes), fcw (next 2 bytes): defaults
        for i in 1...6 { frame[i] = 0 }  // r15 r14 r13 r12 rbx rbp
        frame[7] = 0x2  // rflags: reserved bit only, IF clear
        frame[8] = shim_thread_trampoline_address()
        frame[9] = 0
        return sp
    }

    func switchContext(save: UnsafeMutablePointer<UInt64>, to target: UInt64) {
        shim_context_switch(save, target)
    }

    func discardContext(_ context: UInt64) {}

    func armTimer(_ deadline: Instant?) { GuestTimer.arm(deadline) }

    func waitForInterrupt() {
        CPU.enableInterruptsAndHalt()
        CPU.disableInterrupts()
    }

    func disableInterrupts() -> Bool {
        let enabled = CPU.interruptsEnabled
        CPU.disableInterrupts()
        return enabled
    }

    func restoreInterrupts(_ enabled: Bool) {
        if enabled { CPU.enableInterrupts() }
    }

    func deadlock(_ description: String) -> Never {
        Fatal.begin("DEADLOCK: ")
        Fatal.out.write(description)
        Fatal.finish(.deadlock)
    }
}

/// Creates the thread system on first use (called by the Scheduler through the C symbol, see BootShim.h): the
/// policy chosen with `System.use(scheduler:)` (cooperative round robin by default), the guest platform, the timer
/// interrupt, stack-overflow reports that name the thread, and interrupts enabled from here on.
@_cdecl("unikernel_thread_system")
public func unikernelThreadSystem() -> UnsafeMutableRawPointer {
    let system = ThreadSystem(platform: GuestThreadPlatform(), policy: SchedulerChoice.take())
    // The controllers first: until the legacy PICs are remapped and masked, firmware-programmed IRQs (SeaBIOS
    // leaves the PIT's IRQ 0 on vector 8) would arrive on exception vectors as soon as interrupts are enabled.
    _ = InterruptController.apic
    Traps.setHandler(vector: InterruptController.timerVector) { _ in ThreadSystem.shared?.timerInterrupt() }
    ThreadSystemHook.afterInterrupt = { ThreadSystem.shared?.preemptIfNeeded() }
    Fatal.guardPageOwner = { address in
        guard let name = ThreadSystem.shared?.thread(owningGuardPage: address) else { return nil }
        return "thread '" + name + "'"
    }
    CPU.enableInterrupts()
    return Unmanaged.passRetained(system).toOpaque()
}

/// First Swift code of every new thread (Boot/traps.S `shim_thread_trampoline`).
@_cdecl("unikernel_thread_entry")
public func unikernelThreadEntry() -> Never {
    ThreadSystem.current.threadEntry()
}
#endif
