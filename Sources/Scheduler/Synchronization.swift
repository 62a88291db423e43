import Interfaces

/// A mutual-exclusion lock for threads. Contended `lock` blocks the caller (no spinning); `unlock` hands the lock
/// directly to the longest waiter, so waiters are served in FIFO order and cannot starve.
///
/// Not recursive: locking a mutex the caller holds is a programming error and traps. Only the holder may unlock.
/// Conforms to `Lock`, so it protects components that take one (RamFS, for instance).
public final class Mutex: Lock {
    private var owner: ThreadID? = nil
    private let waiters = WaitQueue()

    /// An unlocked mutex.
    public init() {}

    /// Blocks until the calling thread holds the mutex.
    public func lock() {
        let system = ThreadSystem.current
        system.critical {
            let me = system.currentID
            guard let holder = owner else {
                owner = me
                return
            }
            precondition(holder != me, "Mutex locked twice by the same thread")
            // unlock() transfers ownership before waking us, so a single wake means we hold it.
            while owner != me { _ = system.block(on: waiters, until: nil) }
        }
    }

    /// Takes the mutex if it is free; returns whether it did.
    public func tryLock() -> Bool {
        let system = ThreadSystem.current
        return system.critical {
            guard owner == nil else { return false }
            owner = system.currentID
            return true
        }
    }

    /// Releases the mutex, handing it to the longest waiter if there is one.
    public func unlock() {
        let system = ThreadSystem.current
        system.critical {
            precondition(owner == system.currentID, "Mutex unlocked by a thread that does not hold it")
            if let next = system.wakeOne(waiters) { owner = next } else { owner = nil }
        }
    }

    /// Whether some thread holds the mutex.
    public var isLocked: Bool { ThreadSystem.current.critical { owner != nil } }
}

/// A condition variable used with a `Mutex` (Mesa semantics: re-check the condition after every wake).
public final class Condition {
    private let waiters = WaitQueue()

    /// A condition variable with no waiters.
    public init() {}

    /// Atomically releases `mutex` and waits to be signalled (or until `deadline`), then re-acquires `mutex`.
    @discardableResult
    public func wait(_ mutex: Mutex, until deadline: Instant? = nil) -> WakeReason {
        let system = ThreadSystem.current
        let reason: WakeReason = system.critical {
            mutex.unlock()
            return system.block(on: waiters, until: deadline)
        }
        mutex.lock()
        return reason
    }

    /// Wakes one waiter.
    public func signal() { waiters.wakeOne() }

    /// Wakes every waiter.
    public func broadcast() { waiters.wakeAll() }
}

/// A counting semaphore. `signal` with a waiter present hands the unit directly to it.
public final class Semaphore {
    private var value: Int
    private let waiters: WaitQueue
    private var handedOver = 0

    /// A semaphore with `value` units. `external` when interrupt handlers signal it (a device completion), so
    /// threads waiting on it are not counted as deadlocked.
    public init(value: Int = 0, external: Bool = false) {
        precondition(value >= 0, "a semaphore starts with zero or more units")
        self.value = value
        waiters = WaitQueue(external: external)
    }

    /// Takes a unit, waiting until one is available or `deadline` passes; returns whether it got one.
    @discardableResult
    public func wait(until deadline: Instant? = nil) -> Bool {
        let system = ThreadSystem.current
        return system.critical {
            if value > 0 {
                value -= 1
                return true
            }
            let reason = system.block(on: waiters, until: deadline)
            if reason == .signalled && handedOver > 0 {
                handedOver -= 1
                return true
            }
            return false
        }
    }

    /// Adds a unit, waking a waiter if there is one. Callable from interrupt handlers.
    public func signal() {
        let s = ThreadSystem.shared
        if let s {
            s.critical {
                if s.wakeOne(waiters) != nil { handedOver += 1 } else { value += 1 }
            }
        } else {
            value += 1
        }
    }

    /// Units available now.
    public var available: Int { value }
}

/// A bounded first-in, first-out channel between threads. `send` blocks while the channel is full, `receive`
/// while it is empty. After `close`, sends fail and receives drain what is left, then return nil.
public final class Channel<Element> {
    private var buffer: RingQueue<Element>
    /// Most elements held at once.
    public let capacity: Int
    private let notEmpty = WaitQueue()
    private let notFull = WaitQueue()
    private(set) public var isClosed = false

    /// A channel holding at most `capacity` elements (at least 1).
    public init(capacity: Int) {
        self.capacity = max(capacity, 1)
        buffer = RingQueue(capacity: self.capacity)
    }

    /// Sends `element`, waiting while the channel is full. Returns false if the channel is (or becomes) closed.
    @discardableResult
    public func send(_ element: Element) -> Bool {
        let system = ThreadSystem.current
        return system.critical {
            while buffer.count >= capacity && !isClosed { _ = system.block(on: notFull, until: nil) }
            guard !isClosed else { return false }
            buffer.append(element)
            system.wakeOne(notEmpty)
            return true
        }
    }

    /// Receives the oldest element, waiting while the channel is empty; nil once it is closed and drained, or
    /// when `deadline` passes first.
    public func receive(until deadline: Instant? = nil) -> Element? {
        let system = ThreadSystem.current
        return system.critical {
            while buffer.isEmpty && !isClosed {
                if system.block(on: notEmpty, until: deadline) == .timedOut && buffer.isEmpty { return nil }
            }
            guard let element = buffer.popFirst() else { return nil }
            system.wakeOne(notFull)
            return element
        }
    }

    /// Closes the channel and wakes every waiting thread.
    public func close() {
        let system = ThreadSystem.current
        system.critical {
            isClosed = true
            system.wakeAll(notEmpty)
            system.wakeAll(notFull)
        }
    }

    /// Elements waiting to be received.
    public var count: Int { ThreadSystem.current.critical { buffer.count } }
}

/// An auto-reset event: `signal` sets it (waking a waiter), `wait` returns once it is set and clears it. Signals
/// while nobody waits are remembered (once), so a signal between a waiter's last check and its `wait` is never
/// lost. Interrupt handlers may signal it.
public final class Event {
    private var isSet = false
    private let waiters: WaitQueue

    /// An event; `external` when interrupt handlers signal it (a device), so its waiter is never counted as
    /// deadlocked.
    public init(external: Bool = false) { waiters = WaitQueue(external: external) }

    /// Sets the event and wakes the waiters. Callable from interrupt handlers.
    public func signal() {
        if let system = ThreadSystem.shared {
            system.critical {
                isSet = true
                system.wakeAll(waiters)
            }
        } else {
            isSet = true
        }
    }

    /// Waits until the event is set or `deadline` passes; clears it. Returns whether it was set.
    @discardableResult
    public func wait(until deadline: Instant? = nil) -> Bool {
        let system = ThreadSystem.current
        return system.critical {
            while !isSet {
                if system.block(on: waiters, until: deadline) == .timedOut { break }
            }
            let was = isSet
            isSet = false
            return was
        }
    }
}
