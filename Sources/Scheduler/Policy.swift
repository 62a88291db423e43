import Interfaces

/// A scheduling policy: which runnable thread runs next, and whether a running thread is preempted.
///
/// The thread machinery (`ThreadSystem`) owns thread states, stacks, timers and wait queues; a policy only orders
/// the runnable threads. Two implementations exist: `RoundRobinScheduler` (cooperative, the default) and
/// `TimeSliceScheduler` (preemptive). A framework author can supply another (priorities, for instance).
///
/// Calls are made with interrupts disabled; implementations must not allocate on `enqueue`/`dequeue` in the
/// steady state (the run queue grows at most to the thread count).
public protocol Scheduler: AnyObject {
    /// A short name for reports.
    var name: StaticString { get }
    /// The time slice after which a timer interrupt preempts the running thread, or nil for a cooperative
    /// policy (threads run until they block, sleep or yield).
    var quantum: Duration? { get }
    /// Adds a thread that became runnable.
    func enqueue(_ thread: ThreadID)
    /// Removes and returns the thread to run next.
    func dequeue() -> ThreadID?
    /// Number of threads waiting to run.
    var runnableCount: Int { get }
}

/// Cooperative round robin: runnable threads run in FIFO order; a thread runs until it blocks, sleeps, yields or
/// finishes. A thread that spins without yielding keeps the CPU (interrupt handlers still run and can wake
/// threads, which run when the spinner yields).
public final class RoundRobinScheduler: Scheduler {
    private var queue = RingQueue<ThreadID>(capacity: 64)
    public init() {}
    public var name: StaticString { "cooperative round robin" }
    public var quantum: Duration? { nil }
    public func enqueue(_ thread: ThreadID) { queue.append(thread) }
    public func dequeue() -> ThreadID? { queue.popFirst() }
    public var runnableCount: Int { queue.count }
}

/// Preemptive time slicing: round robin, plus a timer interrupt that moves the running thread to the back of the
/// queue once it has run for `quantum` while other threads are runnable.
public final class TimeSliceScheduler: Scheduler {
    private var queue = RingQueue<ThreadID>(capacity: 64)
    /// The time slice.
    public let quantum: Duration?

    /// A time-slicing policy with the given slice (default 10 ms; at least 100 µs).
    public init(quantum: Duration = .milliseconds(10)) {
        self.quantum = max(quantum, .microseconds(100))
    }

    public var name: StaticString { "preemptive time slicing" }
    public func enqueue(_ thread: ThreadID) { queue.append(thread) }
    public func dequeue() -> ThreadID? { queue.popFirst() }
    public var runnableCount: Int { queue.count }
}
