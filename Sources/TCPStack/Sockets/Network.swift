import Interfaces
import Scheduler

/// Why a socket operation failed.
public enum SocketError: Error, Equatable, CustomStringConvertible {
    /// TCP reported an error (refused, reset, timed out, ...).
    case tcp(TCPError)
    /// UDP reported an error (port in use, bad handle, no route, ...).
    case udp(UDPError)
    /// The operation's deadline passed first.
    case timedOut
    /// The interface has no IPv4 address yet (DHCP has not finished).
    case notConfigured

    public var description: String {
        switch self {
        case .tcp(let e): return "TCP: \(e)"
        case .udp(let e): return "UDP: \(e)"
        case .timedOut: return "timed out"
        case .notConfigured: return "the network interface has no address yet"
        }
    }
}

/// Receives the readiness events of the handles it owns (an event-driven server such as the HTTP server). Called
/// by whichever thread polled the stack, with the network lock held.
public protocol NetworkEventSink: AnyObject {
    /// `event`'s handle may have become readable, writable, acceptable or closed.
    func networkEvent(_ event: TCPEvent)
}

/// The network as threads use it: a `NetworkStack` with a `TCPEngine`, a lock, and a network thread.
///
/// ## Threads
/// `start()` creates the network thread: it polls the stack whenever the device signals activity (its interrupt
/// handler calls `deviceActivity()`), a protocol timer is due, or a socket call asks for it. Socket calls made by
/// application threads take the lock, call the engine, and poll the stack themselves when they queued output, so a
/// reply leaves without waiting for the network thread. A socket call that cannot proceed (no data, no buffer
/// space, no connection to accept) parks its thread on the handle's wait queue until the poll that changes the
/// handle's readiness wakes it.
///
/// Not generic over the device, so socket types are not either: `DeviceNetwork<Device>` is the concrete class.
public class Network {
    /// TCP, shared by every TCP socket of this network.
    public let tcp: TCPEngine
    /// Serializes every use of the stack and the engine.
    public let lock = Mutex()
    let activity = Event(external: true)
    private var connectionWaiters: [WaitQueue?] = []
    private var listenerWaiters: [WaitQueue?] = []
    private var connectionSinks: [NetworkEventSink?] = []
    private var listenerSinks: [NetworkEventSink?] = []
    let udpWaiters = WaitQueue()
    private var networkThread: Thread? = nil
    /// Polls performed (by the network thread and by socket calls).
    public private(set) var polls: UInt64 = 0

    /// UDP sockets, shared with the stack (see `UDPSocketTable`).
    let udp: UDPSocketTable

    init(tcp: TCPEngine, udp: UDPSocketTable) {
        self.tcp = tcp
        self.udp = udp
    }

    // MARK: Overridden by DeviceNetwork

    func pollStack(now: Instant) { fatalError("Network.pollStack must be overridden") }
    var stackDeadline: Instant? { nil }
    /// The interface's IPv4 address, once configured.
    public var address: IPv4Address? { nil }
    /// The monotonic clock the stack runs on.
    public var now: Instant { fatalError("Network.now must be overridden") }

    // MARK: The network thread

    /// Starts the network thread (once). Until it runs, nothing is received.
    public func start(stackSize: Int = 32 * 1024) {
        guard networkThread == nil else { return }
        networkThread = Thread.spawn(name: "net", stackSize: stackSize) { [self] in self.run() }
    }

    /// Tells the network thread that the device has work (call from the device's interrupt handler).
    public func deviceActivity() { activity.signal() }

    private func run() {
        while true {
            lock.lock()
            pollLocked()
            let deadline = stackDeadline
            lock.unlock()
            activity.wait(until: deadline)
        }
    }

    /// Polls the stack and wakes every thread or sink whose handle's readiness may have changed. Call with the
    /// lock held.
    public func pollLocked() {
        polls &+= 1
        pollStack(now: now)
        dispatchEvents()
    }

    private func dispatchEvents() {
        while let event = tcp.nextEvent() {
            switch event {
            case .connection(let h):
                let i = Int(h.index)
                if i < connectionSinks.count, let sink = connectionSinks[i] { sink.networkEvent(event) }
                if i < connectionWaiters.count, let q = connectionWaiters[i] { q.wakeAll() }
            case .listener(let h):
                let i = Int(h.index)
                if i < listenerSinks.count, let sink = listenerSinks[i] { sink.networkEvent(event) }
                if i < listenerWaiters.count, let q = listenerWaiters[i] { q.wakeAll() }
            }
        }
        if !udpWaiters.isEmpty { udpWaiters.wakeAll() }
    }

    // MARK: Waiting (lock held)

    /// Releases the lock, waits on `queue` until woken or `deadline`, and re-takes the lock. The release and the
    /// wait happen with interrupts disabled, so a wake-up cannot slip in between.
    func waitLocked(on queue: WaitQueue, until deadline: Instant?) -> WakeReason {
        let reason = ThreadSystem.current.critical { () -> WakeReason in
            lock.unlock()
            return queue.wait(until: deadline)
        }
        lock.lock()
        return reason
    }

    func waiters(for h: TCPConnectionHandle) -> WaitQueue {
        let i = Int(h.index)
        while connectionWaiters.count <= i { connectionWaiters.append(nil) }
        if let q = connectionWaiters[i] { return q }
        let q = WaitQueue()
        connectionWaiters[i] = q
        return q
    }

    func waiters(for h: TCPListenerHandle) -> WaitQueue {
        let i = Int(h.index)
        while listenerWaiters.count <= i { listenerWaiters.append(nil) }
        if let q = listenerWaiters[i] { return q }
        let q = WaitQueue()
        listenerWaiters[i] = q
        return q
    }

    /// Routes `h`'s events to `sink` (nil stops routing). Call with the lock held.
    public func setSink(_ sink: NetworkEventSink?, for h: TCPConnectionHandle) {
        let i = Int(h.index)
        while connectionSinks.count <= i { connectionSinks.append(nil) }
        connectionSinks[i] = sink
    }

    /// Routes `h`'s events to `sink` (nil stops routing). Call with the lock held.
    public func setSink(_ sink: NetworkEventSink?, for h: TCPListenerHandle) {
        let i = Int(h.index)
        while listenerSinks.count <= i { listenerSinks.append(nil) }
        listenerSinks[i] = sink
    }

    /// Runs `body` with the lock held.
    public final func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

/// A `Network` over a concrete device: owns the `NetworkStack` and registers the TCP engine with it.
public final class DeviceNetwork<Device: NetworkDevice>: Network {
    /// The stack.
    public let stack: NetworkStack<Device>
    private let clock: any MonotonicClockObject

    /// A network over `stack` (TCP is registered here), reading time from `clock`.
    public init(stack: NetworkStack<Device>, tcp: TCPEngine, clock: any MonotonicClockObject) throws(NetworkStackError) {
        self.stack = stack
        self.clock = clock
        super.init(tcp: tcp, udp: stack.sockets)
        try stack.register(tcp)
    }

    override func pollStack(now: Instant) {
        let generation = stack.configurationGeneration
        stack.poll(now: now)
        if stack.configurationGeneration != generation, let a = stack.address { tcp.localAddress = a }
        if let a = stack.address, tcp.localAddress == .any { tcp.localAddress = a }
    }

    override var stackDeadline: Instant? { stack.nextDeadline }
    override public var address: IPv4Address? { stack.address }
    override public var now: Instant { clock.now }

}

/// A monotonic clock as a class-bound protocol, so a network can hold any clock as an existential.
public protocol MonotonicClockObject: AnyObject {
    /// The current instant.
    var now: Instant { get }
}

extension ManualClock: MonotonicClockObject {}

extension TCPConnectionHandle {
    /// The engine's table slot of the connection: dense small integers, for per-connection arrays. A slot is reused
    /// after the connection is released; compare whole handles to tell connections apart.
    public var slot: Int { Int(index) }
}
