import HostNetworking
import Interfaces
import Runtime
import Scheduler
import TCPStack

/// The hosted thread platform (`HostThreadPlatform`: one pthread per unikernel thread, one running at a time) with
/// a TAP device as its only source of interrupts: when every thread waits, the idle loop sleeps in `poll(2)` on
/// the TAP descriptor until a frame arrives (then `onReadable` runs, as the virtio-net interrupt handler does in
/// the guest) or the next timer is due.
final class TAPThreadPlatform: ThreadPlatform {
    let inner: HostThreadPlatform
    let device: TAPDevice
    /// The "interrupt handler": called on the idle thread when the TAP has frames waiting.
    var onReadable: () -> Void = {}
    private var armed: Instant? = nil
    /// Idle waits that ended because a frame arrived.
    private(set) var deviceWakeups: UInt64 = 0

    init(device: TAPDevice) {
        self.device = device
        inner = HostThreadPlatform()
    }

    var now: Instant { inner.now }
    func allocateStack(size: Int) -> ThreadStack? { inner.allocateStack(size: size) }
    func releaseStack(_ stack: ThreadStack) { inner.releaseStack(stack) }
    func makeContext(stack: ThreadStack) -> UInt64 { inner.makeContext(stack: stack) }
    func switchContext(save: UnsafeMutablePointer<UInt64>, to target: UInt64) {
        inner.switchContext(save: save, to: target)
    }
    func discardContext(_ context: UInt64) { inner.discardContext(context) }
    func disableInterrupts() -> Bool { inner.disableInterrupts() }
    func restoreInterrupts(_ enabled: Bool) { inner.restoreInterrupts(enabled) }
    func deadlock(_ description: String) -> Never { inner.deadlock(description) }

    func armTimer(_ deadline: Instant?) {
        armed = deadline
        inner.armTimer(deadline)
    }

    func waitForInterrupt() {
        let timeout = armed.map { $0 > now ? $0 - now : .zero }
        if device.waitForReadable(timeout: timeout) {
            deviceWakeups &+= 1
            onReadable()
        }
        if let deadline = armed, now >= deadline { ThreadSystem.current.timerInterrupt() }
    }
}

/// The hosted system clock (the one `HostThreadPlatform` uses) as the network's clock.
final class HostClock: MonotonicClockObject {
    var now: Instant { System.now }
}
