import Interfaces
import Runtime
import VirtioBlk

/// A block-request waiter for device checks: polls the condition until it holds or `timeout` has passed since
/// the wait began, so a device that never completes a request costs a bounded time whatever the machine's speed.
final class DeadlineWaiter: BlockRequestWaiter {
    /// How long one wait may take.
    let timeout: Duration

    /// A waiter that gives up after `timeout`.
    init(timeout: Duration) { self.timeout = timeout }

    /// Calls `condition` until it returns true (true) or the timeout passes (false).
    func wait(until condition: () -> Bool) -> Bool {
        let deadline = System.now + timeout
        while System.now < deadline {
            if condition() { return true }
        }
        return condition()
    }
}
