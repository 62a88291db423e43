import Interfaces

/// Identifies a scheduled timer; stays unique after the timer fires or is cancelled (slot + generation).
public struct TimerID: Hashable, Sendable {
    let slot: Int
    let generation: UInt32
}

/// One-shot and periodic timers ordered by deadline: a binary min-heap of (deadline, sequence) over a slot table.
///
/// Cancellation is O(1): the slot's generation changes and the stale heap entry is dropped when it reaches the top.
/// Timers with equal deadlines fire in the order they were scheduled. A periodic timer's next deadline is its
/// previous deadline plus the period (no drift); periods missed entirely are skipped, not fired in a burst.
/// Pure: time comes in as an argument.
public struct TimerQueue<Action> {
    struct Slot {
        var generation: UInt32 = 0
        var action: Action? = nil
        var period: Duration? = nil
        var deadline = Instant.zero
    }

    struct HeapEntry {
        var deadline: Instant
        var sequence: UInt64
        var slot: Int
        var generation: UInt32
        func precedes(_ other: HeapEntry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
        }
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var heap: [HeapEntry] = []
    private var sequence: UInt64 = 0
    /// Number of scheduled (not yet fired or cancelled) timers; periodic timers count once.
    public private(set) var count = 0

    public init() {}

    /// Schedules `action` at `deadline`, then every `period` after it if a period is given (it must be positive).
    public mutating func schedule(at deadline: Instant, repeating period: Duration? = nil, _ action: Action) -> TimerID {
        precondition(period == nil || period! > .zero, "a periodic timer needs a positive period")
        let slot: Int
        if let reused = freeSlots.popLast() { slot = reused } else { slot = slots.count; slots.append(Slot()) }
        slots[slot].action = action
        slots[slot].period = period
        slots[slot].deadline = deadline
        count += 1
        push(HeapEntry(deadline: deadline, sequence: nextSequence(), slot: slot, generation: slots[slot].generation))
        return TimerID(slot: slot, generation: slots[slot].generation)
    }

    /// Cancels a timer; returns false if it already fired (one-shot) or was cancelled.
    @discardableResult
    public mutating func cancel(_ id: TimerID) -> Bool {
        guard id.slot < slots.count, slots[id.slot].generation == id.generation, slots[id.slot].action != nil else {
            return false
        }
        release(id.slot)
        return true
    }

    /// Whether `id` is still scheduled.
    public func isScheduled(_ id: TimerID) -> Bool {
        id.slot < slots.count && slots[id.slot].generation == id.generation && slots[id.slot].action != nil
    }

    /// The earliest deadline of a scheduled timer (stale entries of cancelled timers are discarded on the way).
    public mutating func nextDeadline() -> Instant? {
        while let top = heap.first {
            if slots[top.slot].generation == top.generation && slots[top.slot].action != nil { return top.deadline }
            _ = pop()
        }
        return nil
    }

    /// Removes and returns the next timer whose deadline is at or before `now` (periodic timers are rescheduled
    /// and stay scheduled), or nil when none is due.
    public mutating func popExpired(now: Instant) -> (id: TimerID, action: Action)? {
        guard let deadline = nextDeadline(), deadline <= now, let top = pop() else { return nil }
        let id = TimerID(slot: top.slot, generation: top.generation)
        let action = slots[top.slot].action!
        if let period = slots[top.slot].period {
            let periodNanos = UInt64(max(period.nanosecondsClamped, 1))
            let behind = now.nanoseconds - top.deadline.nanoseconds
            let next = Instant(nanoseconds: top.deadline.nanoseconds + (behind / periodNanos + 1) * periodNanos)
            slots[top.slot].deadline = next
            push(HeapEntry(deadline: next, sequence: nextSequence(), slot: top.slot, generation: top.generation))
        } else {
            release(top.slot)
        }
        return (id, action)
    }

    private mutating func nextSequence() -> UInt64 {
        sequence &+= 1
        return sequence
    }

    private mutating func release(_ slot: Int) {
        slots[slot].action = nil
        slots[slot].period = nil
        slots[slot].generation &+= 1
        freeSlots.append(slot)
        count -= 1
    }

    private mutating func push(_ entry: HeapEntry) {
        heap.append(entry)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func pop() -> HeapEntry? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let left = 2 * i + 1, right = left + 1
                var smallest = i
                if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
                if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
                if smallest == i { break }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
        return top
    }
}
