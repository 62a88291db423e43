import Interfaces

/// The memory of one thread's stack: `size` usable bytes from `base` upward, with an unmapped guard page just
/// below `base` when the platform provides one (so an overflow faults instead of corrupting memory).
public struct ThreadStack: Equatable, Sendable {
    /// Lowest usable address.
    public let base: UInt64
    /// Usable bytes.
    public let size: Int
    /// The unmapped page below the stack, if any.
    public let guardPage: UInt64?

    public init(base: UInt64, size: Int, guardPage: UInt64?) {
        self.base = base
        self.size = size
        self.guardPage = guardPage
    }

    /// One past the highest usable address: where the stack starts (it grows down).
    public var top: UInt64 { base + UInt64(size) }
}

/// What the thread machinery needs from the machine it runs on. The guest implementation (in Runtime) switches
/// stacks with the assembly context switch in Boot/, takes stacks from the frame allocator with a guard page,
/// programs the local APIC timer and halts when idle; the hosted implementation backs each thread with a host
/// thread, so the same machinery runs under `swift test`.
///
/// Every method is called with interrupts disabled, except `now`, which may be called anywhere.
public protocol ThreadPlatform: AnyObject {
    /// The monotonic clock.
    var now: Instant { get }
    /// A stack of at least `size` usable bytes, or nil when memory is exhausted.
    func allocateStack(size: Int) -> ThreadStack?
    /// Returns a stack that no thread runs on any more.
    func releaseStack(_ stack: ThreadStack)
    /// A saved context that, when first resumed, calls `ThreadSystem.threadEntry()` on `stack`.
    func makeContext(stack: ThreadStack) -> UInt64
    /// Saves the running context into `save` and resumes `target`. Returns when another switch resumes `save`.
    func switchContext(save: UnsafeMutablePointer<UInt64>, to target: UInt64)
    /// A finished thread's context will never be resumed again.
    func discardContext(_ context: UInt64)
    /// Requests one timer interrupt at `deadline` (replacing the previous request); nil cancels it. The timer is
    /// one-shot: once it has fired it stays quiet until armed again. `ThreadSystem` arms it only for a deadline
    /// earlier than the one pending and otherwise lets the pending one fire early (see `updateTimer`).
    func armTimer(_ deadline: Instant?)
    /// Waits, with interrupts enabled, until at least one interrupt has been handled; returns with them disabled.
    func waitForInterrupt()
    /// Disables interrupts and returns whether they were enabled.
    func disableInterrupts() -> Bool
    /// Re-enables interrupts if `enabled`.
    func restoreInterrupts(_ enabled: Bool)
    /// Every thread is blocked and nothing can wake one: report `description` and stop.
    func deadlock(_ description: String) -> Never
}
