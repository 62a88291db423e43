import RuntimeCore
import Scheduler

/// The scheduling policy the application picked with `System.use(scheduler:)`, consumed when the thread system is
/// created (on the first thread operation).
enum SchedulerChoice {
    nonisolated(unsafe) static var chosen: (any Scheduler)? = nil

    /// The chosen policy, or the default (cooperative round robin).
    static func take() -> any Scheduler {
        chosen ?? RoundRobinScheduler()
    }
}

extension System {
    /// Picks the scheduling policy: `RoundRobinScheduler()` (cooperative, the default) or
    /// `TimeSliceScheduler(quantum:)` (preemptive), or any other `Scheduler`. Call it before the first thread
    /// operation; picking after the thread system exists is a programming error and panics.
    public static func use(scheduler: any Scheduler) {
        if ThreadSystem.shared != nil { panic("System.use(scheduler:) called after threads were started; call it first in main") }
        SchedulerChoice.chosen = scheduler
    }
}
