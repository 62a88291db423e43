import Interfaces

/// TCP (RFC 9293) for one host: every connection and listener, behind a handle-based, non-blocking API.
/// This file is the whole application-facing surface; `TCPConfiguration` (limits and defaults),
/// `TCPConnectionOptions` (per-connection overrides) and `TCPTypes.swift` (states, errors, events) complete it.
///
/// ## Plugging in
/// The engine is an `IPv4TransportHandler` for protocol 6. The IPv4 layer hands it each received TCP payload
/// (`receive`) and polls it for output (`poll`) whenever `nextDeadline` passes; after any application call, the
/// deadline becomes "now" so the next poll sends what the call queued. Time always comes in as an argument; the
/// engine never reads a clock. Entropy (for RFC 6528 sequence numbers and SYN cookies) comes in at creation.
///
///     let tcp = TCPEngine(localAddress: myAddress, configuration: TCPConfiguration(), entropy: rng)
///
/// ## Using connections
/// Nothing blocks. Every call returns at once; a socket layer turns that into blocking calls by parking a
/// thread until the handle's readiness changes, which the engine reports through `nextEvent()` (drain it after
/// each `receive`/`poll`).
///
///     // Server
///     let listener = try tcp.listen(port: 80, backlog: 16)
///     if let conn = try tcp.accept(listener) {                     // nil: nothing to accept yet
///         var request: [UInt8] = []
///         switch try tcp.receive(conn, appendingTo: &request) {    // .bytes(n), .wouldBlock, .endOfStream
///         ...
///         }
///         let taken = try tcp.send(conn, reply)                    // bytes taken; 0 means buffer full
///         try tcp.close(conn)                                      // FIN after the queued data; handle ends
///     }
///     // Client
///     let conn = try tcp.connect(to: server, port: 80, now: clock.now)   // the SYN leaves on the next poll
///     tcp.readiness(of: conn).contains(.connected)                 // handshake done?
///
/// Readiness (`readiness(of:)`): `.readable` (data, end of stream or an error waits), `.writable` (send buffer
/// space or an error), `.connected`, `.closed`; listeners: `.acceptable`.
///
/// Errors are typed (`TCPError`): a refused, reset or timed-out connection reports it from `send`/`receive`
/// (after the data received before it has been read) and from `error(of:)`. `close` releases the handle and
/// lets TCP finish in the background (FIN-WAIT, TIME-WAIT); `abort` sends RST and forgets the connection at
/// once; `shutdown` closes only the sending side. Handles are values; a handle used after `close` or `abort`
/// gets `.invalidHandle`.
///
/// ## Swapping congestion control
/// Pass `TCPConfiguration(congestionControl: .cubic)` (engine-wide) or `TCPConnectionOptions(congestionControl:)`
/// (per connection or per listener). Any type conforming to `TCPCongestionControl` can be supplied through a
/// `TCPCongestionControlFactory`.
///
/// ## Limits
/// Buffers are fixed per connection (`TCPConfiguration.sendBufferSize`, `receiveBufferSize`), out-of-order data
/// lives inside the receive buffer, the number of connections, half-open connections per listener and pending
/// resets are bounded, and a full SYN queue is answered with SYN cookies, so a SYN flood can neither exhaust
/// memory nor lock out real clients. `poll` visits only connections with due timers or queued work.
public final class TCPEngine: IPv4TransportHandler {
    /// TCP's IPv4 protocol number (RFC 9293 §3.1).
    public let protocolNumber: UInt8 = 6
    /// The address used by `connect` when the options name none. Listeners accept on any local address.
    public var localAddress: IPv4Address

    let shared: TCPShared
    let secrets: TCPSecrets

    private struct ConnectionSlot {
        var tcb: TCPControlBlock?
        var generation: UInt32
    }

    private final class Listener {
        let port: UInt16
        let backlog: Int
        let options: TCPConnectionOptions
        /// Slots of half-open (SYN-RECEIVED) connections, oldest first.
        var halfOpen: [Int] = []
        /// Slots of established connections not yet accepted, oldest first.
        var acceptQueue: [Int] = []
        var lastCookieSent: Instant?
        var eventQueued = false

        init(port: UInt16, backlog: Int, options: TCPConnectionOptions) {
            self.port = port
            self.backlog = backlog
            self.options = options
        }
    }

    private struct TimerEntry {
        var deadline: Instant
        var slot: Int
        var generation: UInt32
    }

    private struct ListenerSlot {
        var listener: Listener?
        var generation: UInt32
    }

    private var slots: [ConnectionSlot] = []
    private var freeSlots: [Int] = []
    private var table: TCPConnectionTable
    /// The last successful `table` lookup (`lastSlot` < 0: none). A bulk transfer's segments all belong to one
    /// connection, so this skips hashing the four-tuple for almost every segment. Cleared whenever `table`
    /// changes.
    private var lastTuple = TCPFourTuple(localAddress: .any, localPort: 0, remoteAddress: .any, remotePort: 0)
    private var lastSlot = -1
    private var listenerSlots: [ListenerSlot] = []
    private var events: [TCPEvent] = []
    private var eventHead = 0
    /// Connections' earliest deadlines, as a binary min-heap. Entries go stale when a connection's deadline
    /// moves or it is released; stale entries are skipped when they reach the top.
    private var timers: [TimerEntry] = []
    /// Connections with output requested by an application call since the last poll.
    private var pendingOutput: [Int] = []
    /// Connections whose last output the IPv4 layer refused; retried at `retryAt`.
    private var blockedOutput: [Int] = []
    private var retryAt: Instant?
    private var scratch: [Int] = []
    /// Connections that entered TIME-WAIT, oldest first (entries go stale when the slot is released).
    private var timeWaitQueue: [(slot: Int, generation: UInt32)] = []
    private var timeWaitHead = 0
    private var lastNow = Instant.zero
    private var portCounter: UInt32 = 0
    private var liveConnections = 0

    /// Creates an engine. `entropy` keys the initial-sequence-number, SYN-cookie, timestamp and port
    /// functions (RFC 6528); give it a real random source in production.
    public init(localAddress: IPv4Address = .any, configuration: TCPConfiguration = TCPConfiguration(),
                entropy: any EntropySource) {
        self.localAddress = localAddress
        shared = TCPShared(configuration: configuration)
        secrets = TCPSecrets(entropy: entropy)
        table = TCPConnectionTable(key: secrets.tableKey)
    }

    /// The configuration. Buffer sizes, MSS, option offers, Nagle, keepalive and congestion control are fixed per
    /// connection when it is created; limits and timer durations (TIME-WAIT, delayed ACK, retries, SYN queue)
    /// are read when used, so changes to them apply to existing connections too.
    public var configuration: TCPConfiguration {
        get { shared.configuration }
        set { shared.configuration = newValue }
    }

    /// Engine-wide counters.
    public var statistics: TCPStatistics { shared.statistics }

    /// Connections the engine holds in any state (half-open, open, closing, TIME-WAIT, or closed with the
    /// application's handle still open).
    public var connectionCount: Int { liveConnections }

    // MARK: - Listening

    /// Starts accepting connections on `port` (RFC 9293 §3.10.1 passive OPEN) on every local address.
    /// `backlog` bounds the established connections waiting for `accept`; SYNs beyond it are dropped so that
    /// clients retry later.
    public func listen(port: UInt16, backlog: Int,
                       options: TCPConnectionOptions = TCPConnectionOptions()) throws(TCPError) -> TCPListenerHandle {
        guard listenerIndex(port: port) == nil else { throw .addressInUse }
        let listener = Listener(port: port, backlog: max(backlog, 1), options: options)
        let index: Int
        if let free = listenerSlots.firstIndex(where: { $0.listener == nil }) {
            index = free
            listenerSlots[index].listener = listener
        } else {
            index = listenerSlots.count
            listenerSlots.append(ListenerSlot(listener: listener, generation: 1))
        }
        return TCPListenerHandle(index: UInt32(index), generation: listenerSlots[index].generation)
    }

    /// The slot of the listener on `port`. A linear scan: a server listens on a handful of ports, and a table
    /// keyed by port would add a dictionary specialization (about 2 KB of code) to every image.
    private func listenerIndex(port: UInt16) -> Int? {
        for index in listenerSlots.indices where listenerSlots[index].listener?.port == port { return index }
        return nil
    }

    /// Takes the oldest established connection from the listener's queue, or nil if there is none yet. Data may
    /// already be waiting on it: check `readiness(of:)` at once rather than waiting for an event.
    public func accept(_ handle: TCPListenerHandle) throws(TCPError) -> TCPConnectionHandle? {
        let listener = try lookup(handle)
        while !listener.acceptQueue.isEmpty {
            let slot = listener.acceptQueue.removeFirst()
            guard let tcb = slots[slot].tcb else { continue }
            tcb.owner = .application
            return TCPConnectionHandle(index: UInt32(slot), generation: slots[slot].generation)
        }
        return nil
    }

    /// Stops listening: half-open and not-yet-accepted connections are reset, the handle becomes invalid.
    public func close(_ handle: TCPListenerHandle) throws(TCPError) {
        let listener = try lookup(handle)
        for slot in listener.halfOpen + listener.acceptQueue {
            if let tcb = slots[slot].tcb {
                tcb.abort(now: lastNow)
                release(tcb)
            }
        }
        listenerSlots[Int(handle.index)].listener = nil
        listenerSlots[Int(handle.index)].generation &+= 1
    }

    /// What the listener is ready for: `.acceptable` when `accept` will return a connection.
    public func readiness(of handle: TCPListenerHandle) -> TCPReadiness {
        guard let listener = try? lookup(handle) else { return [.acceptable, .closed] }
        return listener.acceptQueue.isEmpty ? [] : .acceptable
    }

    /// Half-open (SYN-RECEIVED) connections held for the listener.
    public func halfOpenCount(of handle: TCPListenerHandle) throws(TCPError) -> Int {
        try lookup(handle).halfOpen.count
    }

    // MARK: - Connecting

    /// Opens a connection (RFC 9293 §3.10.1 active OPEN). Returns at once in SYN-SENT; the SYN leaves on the
    /// next `poll`. Watch `readiness(of:)` for `.connected` or `.closed` (then `error(of:)` says why).
    public func connect(to address: IPv4Address, port: UInt16, now: Instant,
                        options: TCPConnectionOptions = TCPConnectionOptions()) throws(TCPError) -> TCPConnectionHandle {
        advanceTime(now)
        guard roomForConnection() else { throw .tooManyConnections }
        let local = options.localAddress ?? localAddress
        guard local != .any else { throw .noLocalAddress }
        let localPort: UInt16
        if let requested = options.localPort {
            let tuple = TCPFourTuple(localAddress: local, localPort: requested, remoteAddress: address,
                                     remotePort: port)
            guard table.slot(for: tuple) == nil else { throw .addressInUse }
            localPort = requested
        } else {
            guard let chosen = ephemeralPort(local: local, remote: address, remotePort: port) else {
                throw .noFreePorts
            }
            localPort = chosen
        }
        let tuple = TCPFourTuple(localAddress: local, localPort: localPort, remoteAddress: address, remotePort: port)
        let tcb = TCPControlBlock.active(shared: shared, tuple: tuple,
                                         iss: secrets.initialSequenceNumber(tuple, now: now),
                                         tsOffset: secrets.timestampOffset(tuple), options: options, now: now)
        let slot = insert(tcb)
        return TCPConnectionHandle(index: UInt32(slot), generation: slots[slot].generation)
    }

    /// RFC 6056 §3.3.3 (algorithm 3): a keyed offset per destination plus a global counter, skipping
    /// four-tuples in use (including TIME-WAIT) and ports with a listener.
    private func ephemeralPort(local: IPv4Address, remote: IPv4Address, remotePort: UInt16) -> UInt16? {
        let range = shared.configuration.ephemeralPortRange
        let count = UInt32(range.upperBound - range.lowerBound) + 1
        let offset = secrets.portOffset(localAddress: local, remoteAddress: remote, remotePort: remotePort)
        for i in 0..<count {
            let port = range.lowerBound + UInt16((offset &+ portCounter &+ i) % count)
            let tuple = TCPFourTuple(localAddress: local, localPort: port, remoteAddress: remote, remotePort: remotePort)
            if table.slot(for: tuple) == nil && listenerIndex(port: port) == nil {
                portCounter &+= i + 1
                return port
            }
        }
        return nil
    }

    // MARK: - Data

    /// Queues bytes for sending (RFC 9293 §3.10.2) and returns how many the send buffer took; 0 means the
    /// buffer is full (wait for `.writable`). Data queued before the handshake completes is sent after it.
    public func send(_ handle: TCPConnectionHandle, _ bytes: UnsafeRawBufferPointer) throws(TCPError) -> Int {
        let tcb = try sendable(handle)
        let n = tcb.enqueue(bytes)
        schedule(tcb)
        return n
    }

    /// `send` for an array.
    public func send(_ handle: TCPConnectionHandle, _ bytes: [UInt8]) throws(TCPError) -> Int {
        let tcb = try sendable(handle)
        let n = bytes.withUnsafeBytes { tcb.enqueue($0) }
        schedule(tcb)
        return n
    }

    private func sendable(_ handle: TCPConnectionHandle) throws(TCPError) -> TCPControlBlock {
        let tcb = try lookup(handle)
        if let error = tcb.error { throw error }
        guard tcb.canSend else {
            switch tcb.state {
            case .synSent, .synReceived, .established, .closeWait:
                throw .connectionClosing     // shut down before or after the handshake
            case .closed, .finWait1, .finWait2, .closing, .lastAck, .timeWait:
                throw .connectionClosing
            case .listen:
                throw .invalidState(tcb.state)
            }
        }
        return tcb
    }

    /// Copies received bytes into `buffer` (RFC 9293 §3.10.3). Returns `.bytes(n)`, `.wouldBlock` when
    /// nothing has arrived, or `.endOfStream` once the peer's FIN is reached. A failed connection throws its
    /// error after the data that arrived before the failure has been read. An empty buffer returns `.bytes(0)`.
    public func receive(_ handle: TCPConnectionHandle,
                        into buffer: UnsafeMutableRawBufferPointer) throws(TCPError) -> TCPReceiveResult {
        let tcb = try lookup(handle)
        if buffer.isEmpty { return .bytes(0) }
        let n = tcb.dequeue(into: buffer)
        if n > 0 {
            schedule(tcb)
            return .bytes(n)
        }
        return try nothingToRead(tcb)
    }

    /// `receive` that appends up to `maximum` bytes to an array (no closure needed, so it composes with typed
    /// throws).
    public func receive(_ handle: TCPConnectionHandle, appendingTo bytes: inout [UInt8],
                        maximum: Int = 65536) throws(TCPError) -> TCPReceiveResult {
        let tcb = try lookup(handle)
        let available = min(tcb.readableBytes, max(maximum, 0))
        if available > 0 {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: available))
            let n = bytes.withUnsafeMutableBytes { tcb.dequeue(into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
            schedule(tcb)
            return .bytes(n)
        }
        if maximum <= 0 { return .bytes(0) }
        return try nothingToRead(tcb)
    }

    private func nothingToRead(_ tcb: TCPControlBlock) throws(TCPError) -> TCPReceiveResult {
        if tcb.peerFinReceived { return .endOfStream }
        if let error = tcb.error { throw error }
        if tcb.state == .closed { return .endOfStream }
        return .wouldBlock
    }

    /// Closes the sending side (RFC 9293 §3.10.4 CLOSE): a FIN follows the queued data; receiving continues.
    public func shutdown(_ handle: TCPConnectionHandle) throws(TCPError) {
        let tcb = try lookup(handle)
        tcb.shutdownSend(now: lastNow)
        settle(tcb)
    }

    /// Releases the handle. Queued data is still delivered, followed by FIN; TCP finishes the close in the
    /// background. If received data was left unread the connection is reset instead (RFC 2525 §2.17).
    public func close(_ handle: TCPConnectionHandle) throws(TCPError) {
        let tcb = try lookup(handle)
        if tcb.applicationClose(now: lastNow) {
            release(tcb)
        } else {
            settle(tcb)
        }
    }

    /// Resets the connection (RFC 9293 §3.10.5 ABORT): a RST is sent, queued data is discarded, and the handle
    /// becomes invalid.
    public func abort(_ handle: TCPConnectionHandle) throws(TCPError) {
        let tcb = try lookup(handle)
        tcb.abort(now: lastNow)
        tcb.owner = .orphan
        release(tcb)
    }

    // MARK: - Queries and settings

    /// The connection's state (RFC 9293 §3.3.2).
    public func state(of handle: TCPConnectionHandle) throws(TCPError) -> TCPState { try lookup(handle).state }

    /// Why the connection failed, if it did.
    public func error(of handle: TCPConnectionHandle) throws(TCPError) -> TCPError? { try lookup(handle).error }

    /// The four-tuple of a connection.
    public func endpoints(of handle: TCPConnectionHandle) throws(TCPError) -> TCPFourTuple { try lookup(handle).tuple }

    /// Internals of a connection for diagnostics.
    public func info(of handle: TCPConnectionHandle) throws(TCPError) -> TCPConnectionInfo { try lookup(handle).info }

    /// What the connection is ready for. An invalid handle reports every condition so that a waiter wakes up
    /// and learns `.invalidHandle` from its next call.
    public func readiness(of handle: TCPConnectionHandle) -> TCPReadiness {
        guard let tcb = try? lookup(handle) else { return [.readable, .writable, .closed] }
        var r: TCPReadiness = []
        let failedOrClosed = tcb.error != nil || tcb.state == .closed
        if tcb.readableBytes > 0 || tcb.peerFinReceived || failedOrClosed { r.insert(.readable) }
        if !tcb.canSend {
            r.insert(.writable)
        } else if tcb.state != .synSent && tcb.state != .synReceived, let buffer = tcb.sendBuffer, buffer.free > 0 {
            r.insert(.writable)
        }
        if tcb.everEstablished { r.insert(.connected) }
        if failedOrClosed { r.insert(.closed) }
        return r
    }

    /// Received bytes not yet read that precede the peer's urgent mark (RFC 9293 §3.8.5), or 0. Urgent data is
    /// delivered inline, in sequence, like any other data (RFC 6093 §6); this only tells the application how
    /// far the urgent data reaches. A `.connection` event is queued when a new urgent pointer arrives.
    public func urgentBytes(of handle: TCPConnectionHandle) throws(TCPError) -> Int {
        try lookup(handle).urgentBytesAhead
    }

    /// Turns the Nagle algorithm off (true) or on (RFC 9293 §3.7.4).
    public func setNoDelay(_ handle: TCPConnectionHandle, _ noDelay: Bool) throws(TCPError) {
        let tcb = try lookup(handle)
        tcb.noDelay = noDelay
        tcb.outputRequested = true
        schedule(tcb)
    }

    /// Enables keepalive with the given setting, or disables it with nil.
    public func setKeepalive(_ handle: TCPConnectionHandle, _ keepalive: TCPKeepalive?) throws(TCPError) {
        let tcb = try lookup(handle)
        tcb.setKeepalive(keepalive, now: lastNow)
        schedule(tcb)
    }

    /// The next handle whose readiness may have changed, or nil. Each handle is queued at most once until it is
    /// taken from here, so the queue is bounded by the number of handles.
    public func nextEvent() -> TCPEvent? {
        while eventHead < events.count {
            let event = events[eventHead]
            eventHead += 1
            if eventHead == events.count {
                events.removeAll(keepingCapacity: true)
                eventHead = 0
            }
            switch event {
            case .connection(let h):
                if let tcb = slots[Int(h.index)].tcb, slots[Int(h.index)].generation == h.generation {
                    tcb.eventQueued = false
                }
            case .listener(let h):
                if let l = listenerSlots[Int(h.index)].listener, listenerSlots[Int(h.index)].generation == h.generation {
                    l.eventQueued = false
                }
            }
            return event
        }
        return nil
    }

    // MARK: - IPv4TransportHandler

    /// Processes one received TCP segment (header onwards) addressed to `destination`.
    public func receive(_ payload: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address,
                        now: Instant, send: IPv4Send) {
        advanceTime(now)
        shared.statistics.segmentsReceived += 1
        guard let view = try? TCPSegmentView(checking: payload) else {
            shared.statistics.malformedSegments += 1
            return
        }
        guard view.verifyChecksum(source: source, destination: destination) else {
            shared.statistics.checksumErrors += 1
            return
        }
        guard let options = try? view.parseOptions() else {
            shared.statistics.malformedSegments += 1
            return
        }
        // Never answer or accept segments from or to broadcast, multicast or unspecified addresses
        // (RFC 9293 §3.9.2.1 / RFC 1122 §4.2.3.10).
        if source == .any || source == .broadcast || source.isMulticast || destination == .broadcast
            || destination.isMulticast || view.sourcePort == 0 || view.destinationPort == 0 {
            shared.statistics.malformedSegments += 1
            return
        }
        let segment = TCPIncoming(seq: view.sequenceNumber, ack: view.acknowledgmentNumber, flags: view.flags,
                                  window: view.window, urgentPointer: view.urgentPointer, options: options,
                                  payload: view.payload)
        let tuple = TCPFourTuple(localAddress: destination, localPort: view.destinationPort,
                                 remoteAddress: source, remotePort: view.sourcePort)
        defer { shared.flushResets(send: send) }

        if let slot = demultiplex(tuple), let tcb = slots[slot].tcb {
            if tcb.state == .timeWait && segment.syn && !segment.hasAck && !segment.rst,
               listenerIndex(port: tuple.localPort) != nil, tcb.acceptsNewIncarnation(segment) {
                // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN may reopen a connection in TIME-WAIT.
                tcb.owner = .orphan
                release(tcb)
            } else {
                if tcb.state == .synReceived && tcb.passive && segment.hasAck && !segment.rst && !segment.syn,
                   case .listener(let l) = tcb.owner, let listener = listenerSlots[l].listener,
                   listener.acceptQueue.count >= listener.backlog {
                    // Accept queue full: ignore the final ACK; our SYN-ACK retransmission retries later.
                    return
                }
                tcb.handle(segment, now: now)
                tcb.output(now: now, send: send)
                settle(tcb)
                return
            }
        }
        if let index = listenerIndex(port: tuple.localPort), let listener = listenerSlots[index].listener {
            listenerInput(segment, tuple: tuple, listener: listener, index: index, now: now, send: send)
            return
        }
        resetForNoConnection(segment, tuple: tuple, send: send)
    }

    /// Runs expired timers and sends everything due. Visits only connections with an expired timer or
    /// requested output, so its cost does not grow with idle connections.
    public func poll(now: Instant, send: IPv4Send) {
        advanceTime(now)
        shared.flushResets(send: send)
        while let top = validTimerTop(), top.deadline <= now {
            popTimer()
            guard let tcb = slots[top.slot].tcb else { continue }
            tcb.scheduledDeadline = nil
            tcb.runTimers(now: now)
            tcb.output(now: now, send: send)
            settle(tcb)
        }
        if !pendingOutput.isEmpty {
            swap(&scratch, &pendingOutput)
            for slot in scratch {
                guard let tcb = slots[slot].tcb else { continue }
                tcb.outputQueued = false
                tcb.output(now: now, send: send)
                settle(tcb)
            }
            scratch.removeAll(keepingCapacity: true)
        }
        if let retry = retryAt, retry <= now {
            retryAt = nil
            swap(&scratch, &blockedOutput)
            for slot in scratch {
                guard let tcb = slots[slot].tcb else { continue }
                tcb.retryQueued = false
                tcb.output(now: now, send: send)
                settle(tcb)
            }
            scratch.removeAll(keepingCapacity: true)
        }
        shared.flushResets(send: send)
    }

    /// When `poll` next has work: the earliest connection timer, the last instant seen if output or a RST is
    /// waiting, or the retry time of refused output. O(1) amortized.
    public var nextDeadline: Instant? {
        var best: Instant? = validTimerTop()?.deadline
        if !pendingOutput.isEmpty || !shared.pendingResets.isEmpty {
            if best == nil || lastNow < best! { best = lastNow }
        }
        if let retry = retryAt, best == nil || retry < best! { best = retry }
        return best
    }

    // MARK: - Internals

    /// Entries in the four-tuple demultiplexing table (for tests: no state may outlive its connection).
    var demultiplexEntries: Int { table.count }
    /// Connection slots allocated so far (reused after release); bounded by the peak number of connections.
    var slotCapacity: Int { slots.count }
    /// Events queued and not yet taken.
    var pendingEvents: Int { events.count - eventHead }
    /// The control block behind an application handle (for tests that check internal invariants).
    func controlBlock(_ handle: TCPConnectionHandle) -> TCPControlBlock? { try? lookup(handle) }

    /// `table.slot(for: tuple)` through the one-entry cache.
    @inline(__always)
    private func demultiplex(_ tuple: TCPFourTuple) -> Int? {
        if lastSlot >= 0 && lastTuple == tuple { return lastSlot }
        guard let slot = table.slot(for: tuple) else { return nil }
        lastTuple = tuple
        lastSlot = slot
        return slot
    }

    private func advanceTime(_ now: Instant) {
        if lastNow < now { lastNow = now }
    }

    private func lookup(_ handle: TCPConnectionHandle) throws(TCPError) -> TCPControlBlock {
        let i = Int(handle.index)
        guard i < slots.count, slots[i].generation == handle.generation, let tcb = slots[i].tcb,
              tcb.owner == .application else { throw .invalidHandle }
        return tcb
    }

    private func lookup(_ handle: TCPListenerHandle) throws(TCPError) -> Listener {
        let i = Int(handle.index)
        guard i < listenerSlots.count, listenerSlots[i].generation == handle.generation,
              let listener = listenerSlots[i].listener else { throw .invalidHandle }
        return listener
    }

    // MARK: Timer heap

    private func timerIsCurrent(_ entry: TimerEntry) -> Bool {
        guard slots[entry.slot].generation == entry.generation, let tcb = slots[entry.slot].tcb else { return false }
        return tcb.scheduledDeadline == entry.deadline
    }

    /// The heap's top after discarding stale entries.
    private func validTimerTop() -> TimerEntry? {
        while let top = timers.first {
            if timerIsCurrent(top) { return top }
            popTimer()
        }
        return nil
    }

    private func pushTimer(_ entry: TimerEntry) {
        timers.append(entry)
        var i = timers.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard timers[i].deadline < timers[parent].deadline else { break }
            timers.swapAt(i, parent)
            i = parent
        }
    }

    private func popTimer() {
        guard !timers.isEmpty else { return }
        let last = timers.removeLast()
        guard !timers.isEmpty else { return }
        timers[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < timers.count && timers[l].deadline < timers[smallest].deadline { smallest = l }
            if r < timers.count && timers[r].deadline < timers[smallest].deadline { smallest = r }
            if smallest == i { break }
            timers.swapAt(i, smallest)
            i = smallest
        }
    }

    /// Rebuilds the heap from the live connections when stale entries dominate it.
    private func compactTimers() {
        timers.removeAll(keepingCapacity: true)
        for (slot, entry) in slots.enumerated() {
            if let tcb = entry.tcb, let d = tcb.scheduledDeadline {
                pushTimer(TimerEntry(deadline: d, slot: slot, generation: entry.generation))
            }
        }
    }

    /// Puts a connection where `poll` will find it: in the timer heap under its earliest deadline, in the
    /// pending-output list if an application call left work, in the retry list if output was refused.
    private func schedule(_ tcb: TCPControlBlock) {
        let slot = tcb.slot
        let deadline = tcb.earliestDeadline
        if deadline != tcb.scheduledDeadline {
            tcb.scheduledDeadline = deadline
            if let deadline {
                pushTimer(TimerEntry(deadline: deadline, slot: slot, generation: slots[slot].generation))
                if timers.count > 2 * liveConnections + 64 { compactTimers() }
            }
        }
        if tcb.outputRequested && !tcb.outputQueued {
            tcb.outputQueued = true
            pendingOutput.append(slot)
        }
        if tcb.outputBlocked && !tcb.retryQueued {
            tcb.retryQueued = true
            blockedOutput.append(slot)
            let retry = lastNow + .milliseconds(1)
            if retryAt == nil || retry < retryAt! { retryAt = retry }
        }
    }

    private func insert(_ tcb: TCPControlBlock) -> Int {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot].tcb = tcb
        } else {
            slot = slots.count
            slots.append(ConnectionSlot(tcb: tcb, generation: 1))
        }
        tcb.slot = slot
        table.set(slot, for: tcb.tuple)
        lastSlot = -1
        liveConnections += 1
        schedule(tcb)
        return slot
    }

    /// Whether one more connection fits, ending the oldest orphaned TIME-WAIT connection if that is what it
    /// takes.
    private func roomForConnection() -> Bool {
        if liveConnections < shared.configuration.maximumConnections { return true }
        while timeWaitHead < timeWaitQueue.count {
            let entry = timeWaitQueue[timeWaitHead]
            timeWaitHead += 1
            if timeWaitHead == timeWaitQueue.count {
                timeWaitQueue.removeAll(keepingCapacity: true)
                timeWaitHead = 0
            }
            guard slots[entry.slot].generation == entry.generation, let tcb = slots[entry.slot].tcb,
                  tcb.state == .timeWait, tcb.owner == .orphan else { continue }
            shared.statistics.timeWaitEvictions += 1
            release(tcb)
            return liveConnections < shared.configuration.maximumConnections
        }
        return false
    }

    /// Forgets a connection entirely: table entry, listener queues, slot (its generation moves on).
    private func release(_ tcb: TCPControlBlock) {
        let slot = tcb.slot
        guard slot >= 0, slot < slots.count, slots[slot].tcb === tcb else { return }
        table.remove(tcb.tuple, ifSlot: slot)
        lastSlot = -1
        if case .listener(let l) = tcb.owner, let listener = listenerSlots[l].listener {
            listener.halfOpen.removeAll { $0 == slot }
            listener.acceptQueue.removeAll { $0 == slot }
        }
        slots[slot].tcb = nil
        slots[slot].generation &+= 1
        freeSlots.append(slot)
        liveConnections -= 1
        tcb.scheduledDeadline = nil
        if tcb.outputQueued { pendingOutput.removeAll { $0 == slot } }
        if tcb.retryQueued { blockedOutput.removeAll { $0 == slot } }
    }

    /// Bookkeeping after a connection did something: completed handshakes move to the accept queue, closed
    /// connections leave the demultiplexing table (and are freed unless the application still holds them),
    /// readiness changes become events.
    private func settle(_ tcb: TCPControlBlock) {
        if tcb.state == .closed {
            table.remove(tcb.tuple, ifSlot: tcb.slot)
            lastSlot = -1
            if tcb.owner != .application {
                release(tcb)
                return
            }
        } else if case .listener(let l) = tcb.owner, tcb.state != .synReceived,
                  let listener = listenerSlots[l].listener,
                  let position = listener.halfOpen.firstIndex(of: tcb.slot) {
            listener.halfOpen.remove(at: position)
            listener.acceptQueue.append(tcb.slot)
            if !listener.eventQueued {
                listener.eventQueued = true
                events.append(.listener(TCPListenerHandle(index: UInt32(l), generation: listenerSlots[l].generation)))
            }
        }
        if tcb.state == .timeWait && !tcb.timeWaitQueued {
            tcb.timeWaitQueued = true
            // Entries at the front expire first (every TIME-WAIT lasts as long): drop the stale ones so the
            // list stays about as long as the number of connections in TIME-WAIT.
            while timeWaitHead < timeWaitQueue.count {
                let front = timeWaitQueue[timeWaitHead]
                if slots[front.slot].generation == front.generation, slots[front.slot].tcb?.state == .timeWait { break }
                timeWaitHead += 1
            }
            if timeWaitHead > 0 && timeWaitHead * 2 >= timeWaitQueue.count {
                timeWaitQueue.removeSubrange(0..<timeWaitHead)
                timeWaitHead = 0
            }
            timeWaitQueue.append((tcb.slot, slots[tcb.slot].generation))
        }
        if tcb.readinessChanged {
            tcb.readinessChanged = false
            if tcb.owner == .application && !tcb.eventQueued {
                tcb.eventQueued = true
                events.append(.connection(TCPConnectionHandle(index: UInt32(tcb.slot),
                                                              generation: slots[tcb.slot].generation)))
            }
        }
        schedule(tcb)
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (unless it is one).
    private func resetForNoConnection(_ segment: TCPIncoming, tuple: TCPFourTuple, send: IPv4Send) {
        guard !segment.rst else { return }
        if segment.hasAck {
            shared.queueReset(tuple, seq: segment.ack, ack: nil)
        } else {
            shared.queueReset(tuple, seq: TCPSeqNumber(0), ack: segment.seq + segment.length)
        }
    }

    /// RFC 9293 §3.10.7.2 (LISTEN), with the SYN queue bound and SYN cookies (RFC 4987 §3.6).
    private func listenerInput(_ segment: TCPIncoming, tuple: TCPFourTuple, listener: Listener, index: Int,
                               now: Instant, send: IPv4Send) {
        let config = shared.configuration
        if segment.rst { return }
        if segment.hasAck {
            if !segment.syn, config.synCookies, let last = listener.lastCookieSent,
               now.duration(since: last) < .nanoseconds(Int64(2 * TCPSecrets.cookiePeriodNanoseconds)),
               let mss = secrets.validateSynCookie(segment.ack - 1, tuple, peerISN: segment.seq - 1, now: now) {
                guard listener.acceptQueue.count < listener.backlog, roomForConnection() else { return }
                shared.statistics.synCookiesAccepted += 1
                let tcb = TCPControlBlock.fromCookie(shared: shared, tuple: tuple, listener: index, ack: segment,
                                                     mss: mss, tsOffset: secrets.timestampOffset(tuple),
                                                     options: listener.options, now: now)
                _ = insert(tcb)
                listener.halfOpen.append(tcb.slot)      // settle moves it to the accept queue
                tcb.handle(segment, now: now)
                tcb.output(now: now, send: send)
                settle(tcb)
                return
            }
            shared.queueReset(tuple, seq: segment.ack, ack: nil)
            return
        }
        guard segment.syn else { return }
        guard listener.acceptQueue.count < listener.backlog else {
            shared.statistics.synsDropped += 1
            return
        }
        if listener.halfOpen.count >= config.synQueueLimit || !roomForConnection() {
            if config.synCookies {
                sendCookieSynAck(segment, tuple: tuple, listener: listener, now: now, send: send)
                return
            }
            if let oldest = listener.halfOpen.first, let victim = slots[oldest].tcb {
                shared.statistics.synQueueEvictions += 1
                release(victim)
            } else {
                shared.statistics.synsDropped += 1
                return
            }
            guard roomForConnection() else {
                shared.statistics.synsDropped += 1
                return
            }
        }
        let tcb = TCPControlBlock.passive(shared: shared, tuple: tuple, listener: index, syn: segment,
                                          iss: secrets.initialSequenceNumber(tuple, now: now),
                                          tsOffset: secrets.timestampOffset(tuple), options: listener.options,
                                          now: now)
        _ = insert(tcb)
        listener.halfOpen.append(tcb.slot)
        tcb.output(now: now, send: send)
        settle(tcb)
    }

    /// A stateless SYN-ACK whose sequence number is a SYN cookie. When the peer uses timestamps, the low five
    /// bits of our TSval carry its window scale (4 bits, 15 = none) and SACK-permitted (1 bit), echoed back in
    /// the final ACK's TSecr.
    private func sendCookieSynAck(_ syn: TCPIncoming, tuple: TCPFourTuple, listener: Listener, now: Instant,
                                  send: IPv4Send) {
        let config = shared.configuration
        let peerMSS = syn.options.maximumSegmentSize.map { Int($0) } ?? 536
        let cookie = secrets.synCookie(tuple, peerISN: syn.seq, peerMSS: peerMSS, now: now)
        let receiveBuffer = max(listener.options.receiveBufferSize ?? config.receiveBufferSize, 1)
        var options = TCPOptions()
        options.maximumSegmentSize = UInt16(min(max(config.maximumSegmentSize, 64), 65495))
        if config.timestamps, let ts = syn.options.timestamp {
            var bits: UInt32 = 0xF
            if config.windowScaling, let shift = syn.options.windowScale {
                bits = UInt32(shift)
                options.windowScale = TCPControlBlock.windowShift(forBuffer: receiveBuffer)
            }
            if config.selectiveAcknowledgments && syn.options.sackPermitted {
                bits |= 0x10
                options.sackPermitted = true
            }
            let clock = UInt32(truncatingIfNeeded: now.nanoseconds / 1_000_000) &+ secrets.timestampOffset(tuple)
            options.timestamp = TCPTimestampOption(value: (clock & ~0x1F) | bits, echoReply: ts.value)
        }
        let header = TCPHeader(sourcePort: tuple.localPort, destinationPort: tuple.remotePort, sequenceNumber: cookie,
                               acknowledgmentNumber: syn.seq + 1, flags: [.syn, .ack],
                               window: UInt16(min(receiveBuffer, 65535)), options: options)
        if tcpEmit(header, tuple: tuple, send: send) {
            shared.statistics.segmentsSent += 1
            shared.statistics.synCookiesSent += 1
            listener.lastCookieSent = now
        } else {
            shared.statistics.sendFailures += 1
        }
    }
}
