import BootShim
import Interfaces

/// What a scheduled timer does when it fires.
enum TimerAction {
    /// Wake a sleeping thread.
    case wake(ThreadID)
    /// End a blocked thread's wait with `.timedOut`.
    case timeout(ThreadID)
    /// Run a callback (in interrupt context, with interrupts disabled).
    case callback(() -> Void)
}

/// One thread's record.
final class ThreadControlBlock {
    let id: ThreadID
    let name: String
    var state: ThreadState = .runnable
    /// The saved stack pointer of a thread that is not running; written by the context switch.
    let context: UnsafeMutablePointer<UInt64>
    let stack: ThreadStack?
    var body: (() -> Void)?
    let joiners = WaitQueue()
    var wakeReason = WakeReason.signalled
    var waitingOn: WaitQueue? = nil
    var timer: TimerID? = nil
    var detached = false

    init(id: ThreadID, name: String, stack: ThreadStack?, body: (() -> Void)?) {
        self.id = id
        self.name = name
        self.stack = stack
        self.body = body
        context = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        context.initialize(to: 0)
    }

    deinit { context.deallocate() }
}

/// Counters of the thread machinery.
public struct ThreadStatistics: Equatable, Sendable {
    /// Context switches performed.
    public var switches: UInt64 = 0
    /// Threads created (the boot thread included).
    public var created: UInt64 = 0
    /// Threads whose records were released (joined or detached and finished).
    public var reaped: UInt64 = 0
    /// Preemptions by the time-slice timer.
    public var preemptions: UInt64 = 0
    /// Times the CPU went idle waiting for an interrupt.
    public var idleWaits: UInt64 = 0
    /// All counters zero.
    public init() {}
}

/// The threads of the system: their records, the run queue (through a `Scheduler` policy), sleeping and timed
/// waits (a `TimerQueue`), and the switch between them (through a `ThreadPlatform`).
///
/// Invariants: exactly one thread is `running` (the caller of any method); a `runnable` thread is in the policy's
/// queue exactly once; a `blocked` thread is in exactly one wait queue; every state change happens with interrupts
/// disabled, which on one CPU is the lock protecting all of this. The boot thread ("main") is thread #0 and runs on
/// the boot stack.
public final class ThreadSystem {
    /// The system in use, if one has been created (nil: only the boot thread exists).
    nonisolated(unsafe) public private(set) static var shared: ThreadSystem? = nil

    /// The system in use, created on first use by the runtime (the C entry point `unikernel_thread_system`,
    /// defined by the Runtime module with the platform and the policy the application chose). Going through a C
    /// symbol keeps the thread machinery out of images that never use threads.
    @inline(__always)
    public static var current: ThreadSystem {
        if let s = shared { return s }
        return createCurrent()
    }

    @inline(never)
    private static func createCurrent() -> ThreadSystem {
        let s = Unmanaged<ThreadSystem>.fromOpaque(unikernel_thread_system()).takeRetainedValue()
        shared = s
        return s
    }

    /// Makes `system` the one in use (before any thread exists), or clears it (tests).
    public static func install(_ system: ThreadSystem?) { shared = system }

    let platform: any ThreadPlatform
    /// The scheduling policy.
    public let policy: any Scheduler
    /// The policy's time slice, read once (nil: cooperative).
    private let quantum: Duration?
    /// Usable stack bytes of a new thread when none is given.
    public var defaultStackSize = 64 * 1024
    /// Most threads that may exist at once (finished but unjoined ones included).
    public let maxThreads: Int

    private var threads: [ThreadControlBlock?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private var currentIndex = 0
    private var timers = TimerQueue<TimerAction>()
    private var stacksToRelease: [ThreadStack] = []
    private var recordsToRelease: [ThreadID] = []
    private var sliceStart = Instant.zero
    private var armedDeadline: Instant? = nil
    private var needsReschedule = false
    private var externalWaiters = 0
    /// Counters.
    public private(set) var statistics = ThreadStatistics()

    /// Creates the system; the calling context becomes thread #0, named `mainName`.
    public init(platform: any ThreadPlatform, policy: any Scheduler = RoundRobinScheduler(), maxThreads: Int = 65_536,
                mainName: String = "main") {
        self.platform = platform
        self.policy = policy
        quantum = policy.quantum
        self.maxThreads = maxThreads
        let main = ThreadControlBlock(id: ThreadID(index: 0, generation: 0), name: mainName, stack: nil, body: nil)
        main.state = .running
        threads = [main]
        generations = [0]
        statistics.created = 1
        sliceStart = platform.now
    }

    // MARK: Critical sections

    /// Runs `body` with interrupts disabled (the machinery's lock), restoring the previous state after.
    @inline(__always)
    public func critical<T>(_ body: () -> T) -> T {
        let enabled = platform.disableInterrupts()
        let result = body()
        platform.restoreInterrupts(enabled)
        return result
    }

    // MARK: Queries

    /// The running thread.
    public var currentID: ThreadID { threads[currentIndex]!.id }

    /// The record of `id` if it is still known.
    @inline(__always)
    private func record(_ id: ThreadID) -> ThreadControlBlock? {
        guard id.index < threads.count, let t = threads[id.index], t.id == id else { return nil }
        return t
    }

    /// The name of `id`, if the thread is known.
    public func name(of id: ThreadID) -> String? { record(id)?.name }

    /// The state of `id`, if the thread is known.
    public func state(of id: ThreadID) -> ThreadState? { record(id)?.state }

    /// Number of threads that exist (running, runnable, waiting, or finished and not yet joined).
    public var threadCount: Int { threads.count - freeSlots.count }

    /// The name of the thread whose stack guard page contains `address` (for stack-overflow reports).
    public func thread(owningGuardPage address: UInt64) -> String? {
        let page = address & ~0xfff
        for case let t? in threads where t.stack?.guardPage == page { return t.name }
        return nil
    }

    /// The name of the thread whose stack contains `address`.
    public func thread(owningStackAddress address: UInt64) -> String? {
        for case let t? in threads {
            if let s = t.stack, address >= s.base, address < s.top { return t.name }
        }
        return nil
    }

    /// One line per thread: id, name, state (for deadlock reports and debugging).
    public func describeThreads() -> String {
        var text = CompactText()
        for case let t? in threads {
            text.append("  thread ")
            text.append(t.id.description)
            text.append(" '")
            text.append(t.name)
            text.append("': ")
            text.append(t.state.description)
            if t.state == .blocked, let q = t.waitingOn {
                text.append(q.isExternal ? " (on a device)" : " (on a lock, channel or join)")
            }
            text.append("\n")
        }
        return text.string
    }

    // MARK: Creating and ending threads

    /// Creates a runnable thread that runs `body` on its own stack.
    public func spawn(name: String, stackSize: Int? = nil, _ body: @escaping () -> Void) throws(ThreadError) -> ThreadID {
        let size = stackSize ?? defaultStackSize
        let result: Result<ThreadID, ThreadError> = critical {
            reapFinished()
            guard threadCount < maxThreads else { return .failure(.tooManyThreads(limit: maxThreads)) }
            guard let stack = platform.allocateStack(size: size) else { return .failure(.noMemoryForStack(bytes: size)) }
            let slot: Int
            if let reused = freeSlots.popLast() { slot = reused } else {
                slot = threads.count
                threads.append(nil)
                generations.append(0)
            }
            let id = ThreadID(index: slot, generation: generations[slot])
            let t = ThreadControlBlock(id: id, name: name, stack: stack, body: body)
            t.context.pointee = platform.makeContext(stack: stack)
            threads[slot] = t
            statistics.created += 1
            makeRunnable(t, .signalled)
            return .success(id)
        }
        return try result.get()
    }

    /// Entry of every new thread (the platform's context trampoline calls it on the thread's own stack).
    ///
    /// A finished thread's stack frames are abandoned, never unwound, so no strong reference may live in a frame
    /// that is still active when the thread switches away for the last time: the body runs, and the bookkeeping
    /// is done, in separate non-inlined functions whose locals are released when they return.
    public func threadEntry() -> Never {
        runCurrentBody()
        exitCurrent()
    }

    @inline(never)
    private func runCurrentBody() {
        reapFinished()
        let body = threads[currentIndex]!.body
        threads[currentIndex]!.body = nil
        platform.restoreInterrupts(true)
        body?()
    }

    /// Ends the running thread: wakes its joiners and switches away for good.
    public func exitCurrent() -> Never {
        _ = platform.disableInterrupts()
        markCurrentFinished()
        reschedule()
        fatalError("a finished thread was resumed")
    }

    @inline(never)
    private func markCurrentFinished() {
        let t = threads[currentIndex]!
        t.state = .finished
        wakeAll(t.joiners)
        if let stack = t.stack { stacksToRelease.append(stack) }  // freed once we are off it
        if t.detached { recordsToRelease.append(t.id) }
    }

    /// Waits until `id` finishes, then releases its record.
    public func join(_ id: ThreadID) throws(ThreadError) {
        let result: ThreadError? = critical {
            guard id != currentID else { return .joinSelf }
            guard let t = record(id), !t.detached else { return .noSuchThread }
            while t.state != .finished { _ = block(on: t.joiners, until: nil) }
            releaseRecord(t)
            return nil
        }
        if let result { throw result }
    }

    /// Lets `id`'s record be released as soon as it finishes, without a join.
    public func detach(_ id: ThreadID) {
        critical {
            guard let t = record(id) else { return }
            t.detached = true
            if t.state == .finished { releaseRecord(t) }
        }
    }

    private func releaseRecord(_ t: ThreadControlBlock) {
        guard threads[t.id.index] === t, t.id.index != currentIndex else { return }
        threads[t.id.index] = nil
        generations[t.id.index] &+= 1
        freeSlots.append(t.id.index)
        platform.discardContext(t.context.pointee)
        statistics.reaped += 1
    }

    /// Frees the stacks of finished threads, and the records of finished detached ones (never the running
    /// thread's: this runs right after switching away from them).
    private func reapFinished() {
        while let stack = stacksToRelease.popLast() { platform.releaseStack(stack) }
        while let id = recordsToRelease.popLast() {
            if let t = record(id) { releaseRecord(t) }
        }
    }

    // MARK: Yielding, sleeping, blocking

    /// Lets every other runnable thread run before the caller continues.
    public func yield() {
        critical {
            guard policy.runnableCount > 0 else { return }
            let t = threads[currentIndex]!
            t.state = .runnable
            policy.enqueue(t.id)
            reschedule()
        }
    }

    /// Sleeps until `deadline` (returns at once if it has passed).
    public func sleep(until deadline: Instant) {
        critical {
            guard deadline > platform.now else { return }
            let t = threads[currentIndex]!
            t.state = .sleeping
            t.timer = timers.schedule(at: deadline, .wake(t.id))
            reschedule()
        }
    }

    /// Blocks the running thread on `queue` until it is woken or `deadline` passes. Call with interrupts disabled
    /// (inside `critical`), after checking the condition being waited for under the same critical section.
    public func block(on queue: WaitQueue, until deadline: Instant?) -> WakeReason {
        let t = threads[currentIndex]!
        if let deadline, deadline <= platform.now { return .timedOut }
        t.state = .blocked
        t.waitingOn = queue
        queue.waiters.append(t.id)
        if queue.isExternal { externalWaiters += 1 }
        if let deadline { t.timer = timers.schedule(at: deadline, .timeout(t.id)) }
        reschedule()
        return t.wakeReason
    }

    /// Wakes the first thread waiting on `queue`; returns it. Callable from interrupt handlers.
    @discardableResult
    public func wakeOne(_ queue: WaitQueue) -> ThreadID? {
        critical {
            while let id = queue.waiters.popFirst() {
                guard let t = record(id), t.state == .blocked, t.waitingOn === queue else { continue }
                if queue.isExternal { externalWaiters -= 1 }
                t.waitingOn = nil  // already off the queue: makeRunnable need not search it
                makeRunnable(t, .signalled)
                return id
            }
            return nil
        }
    }

    /// Wakes every thread waiting on `queue`; returns how many. Callable from interrupt handlers.
    @discardableResult
    public func wakeAll(_ queue: WaitQueue) -> Int {
        var n = 0
        while wakeOne(queue) != nil { n += 1 }
        return n
    }

    private func makeRunnable(_ t: ThreadControlBlock, _ reason: WakeReason) {
        if let q = t.waitingOn {
            if q.isExternal { externalWaiters -= 1 }
            q.waiters.removeFirst { $0 == t.id }
            t.waitingOn = nil
        }
        if let timer = t.timer {
            timers.cancel(timer)
            t.timer = nil
        }
        t.wakeReason = reason
        t.state = .runnable
        policy.enqueue(t.id)
    }

    // MARK: Timers

    /// Runs `action` at `deadline`, then every `period` if given, in interrupt context. Returns a handle for
    /// `cancelTimer`.
    public func addTimer(at deadline: Instant, repeating period: Duration? = nil, _ action: @escaping () -> Void) -> TimerID {
        critical {
            let id = timers.schedule(at: deadline, repeating: period, .callback(action))
            updateTimer()
            return id
        }
    }

    /// Cancels a timer added with `addTimer`; returns false if it already fired (one-shot) or was cancelled.
    @discardableResult
    public func cancelTimer(_ id: TimerID) -> Bool {
        critical {
            let cancelled = timers.cancel(id)
            updateTimer()
            return cancelled
        }
    }

    private func fireTimers(now: Instant) {
        while let (_, action) = timers.popExpired(now: now) {
            switch action {
            case .wake(let id), .timeout(let id):
                guard let t = record(id), t.state == .sleeping || t.state == .blocked else { continue }
                t.timer = nil
                makeRunnable(t, .timedOut)
            case .callback(let body):
                body()
            }
        }
    }

    /// The time-slice end, when a preemptive policy has other threads waiting.
    private var sliceDeadline: Instant? {
        guard let q = quantum, policy.runnableCount > 0 else { return nil }
        return sliceStart + q
    }

    /// Programs the platform timer for the earliest thing that needs it.
    private func updateTimer() {
        // Arming is a trapped register write (the TSC-deadline MSR or the APIC timer). A timer that is no longer
        // needed, or whose deadline moved later, is left armed: its interrupt comes, finds nothing due, and arms
        // the real deadline then (or nothing). A thread that waits for a device with a timeout cancels its timer
        // on every wake-up and sets a new one on its next wait, and a network thread's deadline moves later on
        // nearly every segment (the retransmission timer restarts with each ACK): re-arming each time cost more
        // than the occasional early interrupt. Cooperative scheduling with nothing scheduled costs no timer work.
        if timers.count == 0 && quantum == nil { return }
        var deadline = timers.nextDeadline()
        if let s = sliceDeadline { deadline = deadline.map { min($0, s) } ?? s }
        guard let deadline else { return }
        if let armed = armedDeadline, deadline >= armed { return }
        armedDeadline = deadline
        platform.armTimer(deadline)
    }

    /// The timer interrupt: fires due timers and, under a preemptive policy, marks the running thread for
    /// preemption when its slice is over. The switch itself happens in `preemptIfNeeded`, after the interrupt
    /// controller has been told the interrupt is done.
    public func timerInterrupt() {
        armedDeadline = nil  // the one-shot timer has fired
        let now = platform.now
        fireTimers(now: now)
        if let q = quantum, policy.runnableCount > 0, now.duration(since: sliceStart) >= q {
            needsReschedule = true
        }
        updateTimer()
    }

    /// Switches threads if `timerInterrupt` asked for it. Called at the end of interrupt handling.
    public func preemptIfNeeded() {
        guard needsReschedule else { return }
        needsReschedule = false
        critical {
            guard policy.runnableCount > 0 else { return }
            let t = threads[currentIndex]!
            t.state = .runnable
            policy.enqueue(t.id)
            statistics.preemptions += 1
            reschedule()
        }
    }

    // MARK: Switching

    /// Gives the CPU to the next runnable thread; the caller has already set the running thread's new state.
    /// Idles (halting until an interrupt) while nothing is runnable; reports a deadlock when nothing ever can be.
    private func reschedule() {
        while true {
            if timers.count > 0 { fireTimers(now: platform.now) }
            if let next = policy.dequeue() {
                if switchIfRunnable(next) { return }
                continue
            }
            updateTimer()
            if armedDeadline == nil && externalWaiters == 0 {
                platform.deadlock("every thread is blocked and no timer or device can wake one\n" + describeThreads())
            }
            statistics.idleWaits += 1
            platform.waitForInterrupt()
        }
    }

    /// Switches to `next` if it is still a runnable thread; returns whether it was.
    private func switchIfRunnable(_ next: ThreadID) -> Bool {
        guard let switchData = prepareSwitchIfRunnable(next) else { return false }
        if let (save, resume) = switchData {
            platform.switchContext(save: save, to: resume)
            reapFinished()
        }
        return true
    }

    @inline(never)
    private func prepareSwitchIfRunnable(_ next: ThreadID) -> (UnsafeMutablePointer<UInt64>, UInt64)?? {
        guard let target = record(next), target.state == .runnable else { return nil }
        return .some(prepareSwitch(to: target))
    }

    /// Makes `target` the running thread; returns where to save the current context and what to resume, or nil
    /// when `target` is already running.
    @inline(never)
    private func prepareSwitch(to target: ThreadControlBlock) -> (UnsafeMutablePointer<UInt64>, UInt64)? {
        let previous = threads[currentIndex]!
        target.state = .running
        if quantum != nil { sliceStart = platform.now }  // only time slicing needs the slice start
        if target === previous {
            updateTimer()
            return nil
        }
        currentIndex = target.id.index
        statistics.switches += 1
        updateTimer()
        return (previous.context, target.context.pointee)
    }
}

/// Threads waiting for something: a lock, a channel, a device. Woken in FIFO order.
///
/// A queue marked `external` is woken by interrupt handlers (a device completion); threads blocked on it are
/// never counted as deadlocked, because an interrupt may still arrive.
public final class WaitQueue {
    /// Whether interrupt handlers wake this queue.
    public let isExternal: Bool
    var waiters = RingQueue<ThreadID>(capacity: 4)

    /// A wait queue; `external` for queues woken from interrupt handlers.
    public init(external: Bool = false) { isExternal = external }

    /// Whether no thread waits.
    public var isEmpty: Bool { waiters.isEmpty }

    /// Blocks the calling thread until woken or until `deadline`. The caller checks its condition inside
    /// `ThreadSystem.current.critical { ... }` and calls this from within the same critical section.
    public func wait(until deadline: Instant? = nil) -> WakeReason {
        ThreadSystem.current.block(on: self, until: deadline)
    }

    /// Wakes the longest-waiting thread; returns whether there was one.
    @discardableResult
    public func wakeOne() -> Bool { ThreadSystem.shared?.wakeOne(self) != nil }

    /// Wakes every waiting thread; returns how many.
    @discardableResult
    public func wakeAll() -> Int { ThreadSystem.shared?.wakeAll(self) ?? 0 }
}
