import Interfaces

/// A thread of the unikernel: its own stack (with a guard page in the guest), a name, and a body that runs when
/// the scheduler picks it.
///
/// ```swift
/// let worker = Thread.spawn(name: "worker") { print("hello from a thread") }
/// worker.join()
/// ```
/// Which thread runs when is decided by the scheduling policy chosen in the Runtime (cooperative round robin by
/// default: a thread runs until it blocks, sleeps, yields or finishes).
public struct Thread: Hashable, Sendable {
    /// The thread's identity.
    public let id: ThreadID

    /// Creates a thread running `body`. Panics when no stack memory is left; use `trySpawn` to handle that.
    @discardableResult
    public static func spawn(name: String = "thread", stackSize: Int? = nil, _ body: @escaping () -> Void) -> Thread {
        do throws(ThreadError) {
            return try trySpawn(name: name, stackSize: stackSize, body)
        } catch {
            fatalError("Thread.spawn failed")
        }
    }

    /// Creates a thread running `body`, or throws when no stack or thread slot is left.
    public static func trySpawn(name: String = "thread", stackSize: Int? = nil,
                                _ body: @escaping () -> Void) throws(ThreadError) -> Thread {
        Thread(id: try ThreadSystem.current.spawn(name: name, stackSize: stackSize, body))
    }

    /// The calling thread.
    public static var current: Thread { Thread(id: ThreadSystem.current.currentID) }

    /// Lets other runnable threads run first.
    public static func yield() { ThreadSystem.current.yield() }

    /// Sleeps for `duration`.
    public static func sleep(for duration: Duration) {
        let system = ThreadSystem.current
        system.sleep(until: system.platform.now + duration)
    }

    /// Sleeps until `deadline` on the monotonic clock.
    public static func sleep(until deadline: Instant) { ThreadSystem.current.sleep(until: deadline) }

    /// Waits for the thread to finish and releases its record. Joining twice, or joining oneself, traps.
    public func join() {
        do throws(ThreadError) { try ThreadSystem.current.join(id) } catch { fatalError("Thread.join failed") }
    }

    /// Lets the thread's record go when it finishes, without a join.
    public func detach() { ThreadSystem.current.detach(id) }

    /// The thread's name.
    public var name: String { ThreadSystem.current.name(of: id) ?? "(finished)" }

    /// The thread's state (`finished` once it has been joined and forgotten).
    public var state: ThreadState { ThreadSystem.current.state(of: id) ?? .finished }
}

/// A timer that runs a closure in interrupt context (keep it short; wake a thread for real work).
public struct Timer: Sendable {
    let id: TimerID

    /// Runs `action` once after `delay`.
    @discardableResult
    public static func after(_ delay: Duration, _ action: @escaping () -> Void) -> Timer {
        let system = ThreadSystem.current
        return Timer(id: system.addTimer(at: system.platform.now + delay, action))
    }

    /// Runs `action` every `period`, the first time one period from now.
    @discardableResult
    public static func every(_ period: Duration, _ action: @escaping () -> Void) -> Timer {
        let system = ThreadSystem.current
        return Timer(id: system.addTimer(at: system.platform.now + period, repeating: period, action))
    }

    /// Stops the timer; returns false if it already fired (one-shot) or was cancelled.
    @discardableResult
    public func cancel() -> Bool { ThreadSystem.current.cancelTimer(id) }
}
