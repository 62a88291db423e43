import Interfaces

/// Impairments applied to every frame a `SimulatedNetwork` carries, independently per receiving port.
public struct LinkConditions: Equatable {
    /// Probability (0...1) that a frame is lost.
    public var lossRate: Double = 0
    /// Probability that a frame is delivered twice (the copy gets its own delay).
    public var duplicateRate: Double = 0
    /// Probability that a frame is held back by `reorderDelay`, so later frames overtake it.
    public var reorderRate: Double = 0
    /// The propagation delay of every frame.
    public var delay: Duration = .microseconds(100)
    /// A random extra delay, uniform in `0...jitter` (jitter larger than the frame spacing also reorders).
    public var jitter: Duration = .zero
    /// The extra delay of a reordered frame.
    public var reorderDelay: Duration = .milliseconds(5)

    /// A perfect link with a 100 µs delay.
    public init() {}

    /// A link with the given rates and delays.
    public init(lossRate: Double = 0, duplicateRate: Double = 0, reorderRate: Double = 0,
                delay: Duration = .microseconds(100), jitter: Duration = .zero,
                reorderDelay: Duration = .milliseconds(5)) {
        self.lossRate = lossRate
        self.duplicateRate = duplicateRate
        self.reorderRate = reorderRate
        self.delay = delay
        self.jitter = jitter
        self.reorderDelay = reorderDelay
    }
}

/// Something a `SimulatedNetwork` polls as time advances: a `NetworkStack`, or a test's own harness.
public protocol SimulationNode: AnyObject {
    /// Does the work due at `now`.
    func poll(now: Instant)
    /// When the node next needs a poll, if ever.
    var nextDeadline: Instant? { get }
}

extension NetworkStack: SimulationNode {}

/// Counters of a `SimulatedNetwork`.
public struct SimulatedNetworkStatistics: Equatable {
    /// Frames taken from device outboxes.
    public var framesSent: UInt64 = 0
    /// Copies handed to receiving devices.
    public var framesDelivered: UInt64 = 0
    /// Copies lost to `lossRate`.
    public var framesLost: UInt64 = 0
    /// Copies removed by the test's `dropFilter`.
    public var framesFiltered: UInt64 = 0
    /// Extra copies made by `duplicateRate`.
    public var framesDuplicated: UInt64 = 0
    /// Copies held back by `reorderRate`.
    public var framesReordered: UInt64 = 0
    /// Copies the receiving device refused (queue full, link down).
    public var deviceDrops: UInt64 = 0

    /// All zero.
    public init() {}
}

/// An Ethernet switch in memory connecting `SimulatedDevice`s, with loss, duplication, reordering and delay,
/// driven by a `ManualClock` and a seeded `EntropySource`: the same seed, devices and traffic give the same
/// run, frame for frame.
///
/// It learns source MACs like a switch (unknown and broadcast destinations are flooded to every other port).
/// Frames move only when asked: `step()` collects what devices transmitted and delivers what is due at the
/// clock's time; `run(until:)` alternates polling the attached nodes, stepping, and advancing the clock to the
/// next event.
///
/// ```swift
/// let clock = ManualClock()
/// let net = SimulatedNetwork(clock: clock, entropy: SeededEntropy(seed: 1),
///                            conditions: LinkConditions(lossRate: 0.05))
/// let a = net.addHost(mac: macA, addressing: .static(configA), entropy: SeededEntropy(seed: 2))
/// let b = net.addHost(mac: macB, addressing: .static(configB), entropy: SeededEntropy(seed: 3))
/// try a.sendEchoRequest(to: configB.address, identifier: 1, sequenceNumber: 1)
/// net.run(until: clock.now + .seconds(1)) { a.receiveEchoReply() != nil }
/// ```
public final class SimulatedNetwork {
    struct InFlight {
        var due: Instant
        var order: UInt64
        var port: Int
        var frame: [UInt8]
    }

    /// The clock that orders deliveries (and that `run` advances).
    public let clock: ManualClock
    /// Impairments for frames without per-port conditions.
    public var conditions: LinkConditions
    /// Called for every frame a device sends, before impairments (port, frame): a capture point for tests.
    public var onFrame: ((Int, [UInt8]) -> Void)?
    /// Decides per copy whether to drop it (from port, to port, frame): for targeted loss in tests.
    public var dropFilter: ((Int, Int, [UInt8]) -> Bool)?
    /// The counters.
    public private(set) var statistics = SimulatedNetworkStatistics()

    private let entropy: any EntropySource
    private var devices: [SimulatedDevice] = []
    private var portConditions: [LinkConditions?] = []
    private var nodes: [any SimulationNode] = []
    private var learned: [(mac: MACAddress, port: Int)] = []
    private var inFlight: [InFlight] = []
    private var order: UInt64 = 0

    /// A switch with no ports.
    public init(clock: ManualClock, entropy: any EntropySource, conditions: LinkConditions = LinkConditions()) {
        self.clock = clock
        self.entropy = entropy
        self.conditions = conditions
    }

    /// Connects `device` to a new port and returns the port number.
    @discardableResult
    public func attach(_ device: SimulatedDevice) -> Int {
        devices.append(device)
        portConditions.append(nil)
        return devices.count - 1
    }

    /// Adds a node for `run` to poll.
    public func addNode(_ node: any SimulationNode) { nodes.append(node) }

    /// Creates a device with `mac`, attaches it, builds a `NetworkStack` over it, and adds the stack as a node.
    public func addHost(mac: MACAddress, addressing: IPv4Addressing, entropy: any EntropySource, mtu: Int = 1500,
                        configuration: NetworkStackConfiguration = NetworkStackConfiguration())
        -> NetworkStack<SimulatedDevice> {
        let device = SimulatedDevice(macAddress: mac, mtu: mtu)
        attach(device)
        let stack = NetworkStack(device: device, addressing: addressing, entropy: entropy, configuration: configuration)
        addNode(stack)
        return stack
    }

    /// Sets impairments for frames delivered *to* `port` (nil: use `conditions`).
    public func setConditions(_ conditions: LinkConditions?, forPort port: Int) {
        guard port >= 0 && port < portConditions.count else { return }
        portConditions[port] = conditions
    }

    /// Frames in flight.
    public var framesInFlight: Int { inFlight.count }

    /// When the next in-flight frame is due.
    public var nextDeliveryTime: Instant? { inFlight.first?.due }

    /// Collects transmitted frames from every device, then delivers every frame due at the clock's time.
    /// Returns the number of copies delivered.
    @discardableResult
    public func step() -> Int {
        let now = clock.now
        for (port, device) in devices.enumerated() {
            for frame in device.takeTransmitted() { forward(frame, from: port, now: now) }
        }
        var delivered = 0
        while let first = inFlight.first, first.due <= now {
            inFlight.removeFirst()
            if devices[first.port].inject(first.frame) {
                statistics.framesDelivered += 1
                delivered += 1
            } else {
                statistics.deviceDrops += 1
            }
        }
        return delivered
    }

    /// Polls every node, steps, and advances the clock to the next event, until `stop` returns true (checked
    /// after every round) or the clock reaches `deadline`. Returns whether `stop` was satisfied.
    /// `maximumStep` bounds each clock advance, so that `stop` also runs at least that often.
    @discardableResult
    public func run(until deadline: Instant, maximumStep: Duration? = nil, stop: () -> Bool = { false }) -> Bool {
        var roundsAtSameInstant = 0
        while true {
            let now = clock.now
            for node in nodes { node.poll(now: now) }
            let delivered = step()
            if stop() { return true }
            if now >= deadline { return false }
            var next = deadline
            if let d = nextDeliveryTime, d < next { next = d }
            for node in nodes { if let d = node.nextDeadline, d < next { next = d } }
            if let maximumStep, now + maximumStep < next { next = now + maximumStep }
            let pending = devices.contains { $0.pendingTransmit > 0 }
            if next <= now || delivered > 0 || pending {
                roundsAtSameInstant += 1
                // Something is due now; poll again without advancing, but never spin forever at one instant.
                if roundsAtSameInstant < 10_000 { continue }
                next = now + .microseconds(1)
            }
            roundsAtSameInstant = 0
            clock.advance(to: next)
        }
    }

    private func random() -> Double { Double(entropy.next64() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    private func forward(_ frame: [UInt8], from port: Int, now: Instant) {
        statistics.framesSent += 1
        onFrame?(port, frame)
        guard frame.count >= EthernetFrame.headerLength else { return }
        let (destination, source) = frame.withUnsafeBytes {
            (MACAddress(bytes: $0, offset: 0), MACAddress(bytes: $0, offset: 6))
        }
        if !source.isMulticast {
            if let i = learned.firstIndex(where: { $0.mac == source }) {
                learned[i].port = port
            } else {
                learned.append((source, port))
            }
        }
        if !destination.isMulticast, let entry = learned.first(where: { $0.mac == destination }) {
            if entry.port != port { schedule(frame, from: port, to: entry.port, now: now) }
            return
        }
        for target in devices.indices where target != port { schedule(frame, from: port, to: target, now: now) }
    }

    private func schedule(_ frame: [UInt8], from: Int, to port: Int, now: Instant) {
        let c = portConditions[port] ?? conditions
        if let dropFilter, dropFilter(from, port, frame) {
            statistics.framesFiltered += 1
            return
        }
        if c.lossRate > 0 && random() < c.lossRate {
            statistics.framesLost += 1
            return
        }
        let copies = c.duplicateRate > 0 && random() < c.duplicateRate ? 2 : 1
        if copies == 2 { statistics.framesDuplicated += 1 }
        for _ in 0..<copies {
            var due = now + c.delay
            let jitter = c.jitter.nanosecondsClamped
            if jitter > 0 { due = due + .nanoseconds(Int64(entropy.next64() % UInt64(jitter + 1))) }
            if c.reorderRate > 0 && random() < c.reorderRate {
                due = due + c.reorderDelay
                statistics.framesReordered += 1
            }
            order += 1
            insert(InFlight(due: due, order: order, port: port, frame: frame))
        }
    }

    /// Keeps `inFlight` sorted by (due, order): a binary search for the insertion point.
    private func insert(_ item: InFlight) {
        var lo = 0, hi = inFlight.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let m = inFlight[mid]
            if m.due < item.due || (m.due == item.due && m.order < item.order) { lo = mid + 1 } else { hi = mid }
        }
        inFlight.insert(item, at: lo)
    }
}
