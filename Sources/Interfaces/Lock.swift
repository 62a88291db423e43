/// Mutual exclusion as components that may be shared between threads need it (RamFS, the network stack's
/// socket layer). The Scheduler's `Mutex` implements it; `NoLock` serves single-threaded use and host tests.
///
/// Implementations are not re-entrant: a thread that holds the lock must not take it again.
public protocol Lock: AnyObject {
    /// Blocks until the calling thread holds the lock.
    func lock()
    /// Releases the lock; only the holder may call it.
    func unlock()
}

/// Runs `body` while holding `lock`.
///
/// A free function rather than an extension method on purpose: Embedded Swift cannot specialize a generic
/// extension method called through an existential (`any Lock`), and such a call would trap at run time.
@inline(__always)
public func withLock<T, E: Error>(_ lock: any Lock, _ body: () throws(E) -> T) throws(E) -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
}

/// A lock that does nothing: for components used by a single thread.
public final class NoLock: Lock {
    public init() {}
    public func lock() {}
    public func unlock() {}
}
