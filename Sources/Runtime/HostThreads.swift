#if !os(none)
// Hosted threads: the Scheduler's machinery on a Linux process. Each unikernel thread is backed by a host thread,
// and a context switch hands a baton from one to the next, so exactly one runs at a time, as on the guest's
// single CPU. Time is either the real monotonic clock or a `ManualClock` that jumps to the next timer when every
// thread waits (tests use that to run sleeps instantly and deterministically).
#if canImport(Glibc)
import RuntimeCore
import Glibc
#endif
import Interfaces
import Scheduler

/// A binary semaphore over a pthread mutex and condition variable.
final class Baton: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var available = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func give() {
        pthread_mutex_lock(&mutex)
        available = true
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func take() {
        pthread_mutex_lock(&mutex)
        while !available { pthread_cond_wait(&condition, &mutex) }
        available = false
        pthread_mutex_unlock(&mutex)
    }
}

/// A `ThreadPlatform` for host processes and tests.
public final class HostThreadPlatform: ThreadPlatform, @unchecked Sendable {
    final class Context {
        let baton = Baton()
        var started: Bool
        var discarded = false
        init(started: Bool) { self.started = started }
    }

    private let manualClock: ManualClock?
    private var contexts: [UInt64: Context] = [0: Context(started: true)]
    private var nextContext: UInt64 = 1
    private var running: UInt64 = 0
    private var armed: Instant? = nil
    private var nextStackBase: UInt64 = 0x7000_0000
    /// Called when every thread is blocked with nothing to wake one.
    public var onDeadlock: (String) -> Never = { report in
        fputs("*** DEADLOCK: \(report)", stderr)
        exit(Int32(ExitStatus.deadlock.rawValue))
    }

    /// A platform using the real clock, or `clock` when given (then waiting for a timer advances it).
    public init(clock: ManualClock? = nil) { manualClock = clock }

    public var now: Instant { manualClock?.now ?? System.now }

    public func allocateStack(size: Int) -> ThreadStack? {
        // Host threads bring their own stacks; this address range only identifies the thread.
        let base = nextStackBase
        nextStackBase += UInt64(size + 4096)
        return ThreadStack(base: base, size: size, guardPage: base - 4096)
    }

    public func releaseStack(_ stack: ThreadStack) {}

    public func makeContext(stack: ThreadStack) -> UInt64 {
        let id = nextContext
        nextContext += 1
        contexts[id] = Context(started: false)
        return id
    }

    public func switchContext(save: UnsafeMutablePointer<UInt64>, to target: UInt64) {
        let me = running
        save.pointee = me
        guard let next = contexts[target], let mine = contexts[me] else { fatalError("unknown host context") }
        running = target
        if !next.started {
            next.started = true
            var thread = pthread_t()
            let box = Unmanaged.passRetained(next)
            let result = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                context.baton.take()
                ThreadSystem.current.threadEntry()
            }, box.toOpaque())
            precondition(result == 0, "pthread_create failed")
            pthread_detach(thread)
        }
        next.baton.give()
        mine.baton.take()
        // A discarded context's host thread only leaves: the table belongs to the running thread, which already
        // removed this entry (touching it here would race with the running thread).
        if mine.discarded { pthread_exit(nil) }
    }

    public func discardContext(_ context: UInt64) {
        guard let c = contexts[context], context != running else { return }
        contexts[context] = nil
        c.discarded = true
        if c.started { c.baton.give() }
    }

    /// How many times the thread system armed (or cancelled) the timer, for tests of its arming policy.
    public private(set) var timerArmings = 0

    public func armTimer(_ deadline: Instant?) {
        armed = deadline
        timerArmings += 1
    }

    public func waitForInterrupt() {
        guard let deadline = armed else {
            // Nothing can arrive from outside a host process: only a timer can wake a thread.
            onDeadlock("every thread waits on a device queue, and the host has no devices to interrupt\n")
        }
        if let clock = manualClock {
            clock.advance(to: deadline)
        } else {
            let wait = deadline.duration(since: now)
            if wait > .zero {
                var ts = timespec(tv_sec: Int(wait.components.seconds), tv_nsec: Int(wait.components.attoseconds / 1_000_000_000))
                nanosleep(&ts, nil)
            }
        }
        armed = nil  // one-shot, like the guest's timer: fired once, it stays quiet until armed again
        ThreadSystem.current.timerInterrupt()
    }

    public func disableInterrupts() -> Bool { false }
    public func restoreInterrupts(_ enabled: Bool) {}
    public func deadlock(_ description: String) -> Never { onDeadlock(description) }
}
#endif

#if !os(none)
/// Creates the hosted thread system on first use (see BootShim.h): host threads, the real clock, the policy
/// chosen with `System.use(scheduler:)`.
@_cdecl("unikernel_thread_system")
public func unikernelThreadSystem() -> UnsafeMutableRawPointer {
    let system = ThreadSystem(platform: HostThreadPlatform(), policy: SchedulerChoice.take())
    return Unmanaged.passRetained(system).toOpaque()
}
#endif
