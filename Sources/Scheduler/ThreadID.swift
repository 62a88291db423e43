import Interfaces

/// A thread's identity: a slot index and the slot's generation, so an identifier of a thread that has finished
/// and been reaped never names the slot's next occupant.
public struct ThreadID: Hashable, Sendable, CustomStringConvertible {
    /// Index in the thread table.
    public let index: Int
    /// Generation of the slot when the thread was created.
    public let generation: UInt32

    public init(index: Int, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    /// `#index.generation`, e.g. `#1.0`.
    public var description: String {
        var text = CompactText()
        text.append("#")
        text.append(decimal: UInt64(index))
        text.append(".")
        text.append(decimal: UInt64(generation))
        return text.string
    }
}

/// The life cycle of a thread. Exactly one thread is `running`.
public enum ThreadState: Equatable, Sendable, CustomStringConvertible {
    /// In the run queue.
    case runnable
    /// On the CPU.
    case running
    /// Waiting on a wait queue (a mutex, a channel, a device), possibly with a deadline.
    case blocked
    /// Waiting for a deadline only.
    case sleeping
    /// Returned from its body; its stack is freed by the next thread to run, its record when joined.
    case finished

    public var description: String {
        switch self {
        case .runnable: return "runnable"
        case .running: return "running"
        case .blocked: return "blocked"
        case .sleeping: return "sleeping"
        case .finished: return "finished"
        }
    }
}

/// Why a blocked thread woke up.
public enum WakeReason: Equatable, Sendable {
    /// Another thread or an interrupt handler woke it through the wait queue.
    case signalled
    /// Its deadline passed first.
    case timedOut
}

/// Why a thread operation was refused.
public enum ThreadError: Error, Equatable, CustomStringConvertible {
    /// No memory for the thread's stack.
    case noMemoryForStack(bytes: Int)
    /// The thread table is full.
    case tooManyThreads(limit: Int)
    /// The identifier names no live or joinable thread.
    case noSuchThread
    /// A thread cannot join itself.
    case joinSelf

    public var description: String {
        switch self {
        case .noMemoryForStack(let bytes): return "no memory for a \(bytes)-byte thread stack"
        case .tooManyThreads(let limit): return "the thread table is full (\(limit) threads)"
        case .noSuchThread: return "no such thread"
        case .joinSelf: return "a thread cannot join itself"
        }
    }
}
