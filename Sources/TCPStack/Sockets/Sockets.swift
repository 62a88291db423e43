import Interfaces
import Scheduler

/// A listening TCP port. `accept` blocks the calling thread until a connection is established.
///
/// ```swift
/// let listener = try TCPListener(network: network, port: 8080)
/// while let connection = try? listener.accept() {
///     Thread.spawn(name: "client") { serve(connection) }
/// }
/// ```
public final class TCPListener {
    /// The network the listener belongs to.
    public let network: Network
    /// The engine's handle.
    public let handle: TCPListenerHandle
    /// The port.
    public let port: UInt16

    /// Listens on `port` with room for `backlog` established connections waiting to be accepted.
    public init(network: Network, port: UInt16, backlog: Int = 128,
                options: TCPConnectionOptions = TCPConnectionOptions()) throws(SocketError) {
        self.network = network
        self.port = port
        network.lock.lock()
        defer { network.lock.unlock() }
        do throws(TCPError) { handle = try network.tcp.listen(port: port, backlog: backlog, options: options) }
        catch { throw .tcp(error) }
    }

    /// Waits for the next connection (until `deadline`, if given).
    public func accept(until deadline: Instant? = nil) throws(SocketError) -> TCPConnection {
        network.lock.lock()
        defer { network.lock.unlock() }
        while true {
            do throws(TCPError) {
                if let h = try network.tcp.accept(handle) { return TCPConnection(network: network, handle: h) }
            } catch { throw .tcp(error) }
            if network.waitLocked(on: network.waiters(for: handle), until: deadline) == .timedOut {
                throw .timedOut
            }
        }
    }

    /// Stops listening; connections not yet accepted are reset.
    public func close() {
        network.locked { try? network.tcp.close(handle) }
    }
}

/// One TCP connection, used by one thread at a time with blocking calls.
public final class TCPConnection {
    /// The network the connection belongs to.
    public let network: Network
    /// The engine's handle.
    public let handle: TCPConnectionHandle
    /// Deadline for each `read` (nil: wait forever).
    public var readTimeout: Duration? = nil
    /// Deadline for each `write` (nil: wait forever).
    public var writeTimeout: Duration? = nil
    private var closed = false

    init(network: Network, handle: TCPConnectionHandle) {
        self.network = network
        self.handle = handle
    }

    /// Connects to `address:port`, waiting for the handshake (until `timeout`, if given).
    public static func connect(network: Network, to address: IPv4Address, port: UInt16, timeout: Duration? = nil,
                               options: TCPConnectionOptions = TCPConnectionOptions()) throws(SocketError) -> TCPConnection {
        network.lock.lock()
        defer { network.lock.unlock() }
        // A static address is applied by the stack's first poll, which the network thread may not have run yet.
        if network.address == nil { network.pollLocked() }
        guard network.address != nil else { throw .notConfigured }
        let deadline = timeout.map { network.now + $0 }
        let h: TCPConnectionHandle
        do throws(TCPError) { h = try network.tcp.connect(to: address, port: port, now: network.now, options: options) }
        catch { throw .tcp(error) }
        network.pollLocked()
        while true {
            let ready = network.tcp.readiness(of: h)
            if ready.contains(.connected) { return TCPConnection(network: network, handle: h) }
            do throws(TCPError) {
                if let e = try network.tcp.error(of: h) {
                    try? network.tcp.abort(h)
                    throw e
                }
            } catch { throw .tcp(error) }
            if network.waitLocked(on: network.waiters(for: h), until: deadline) == .timedOut {
                try? network.tcp.abort(h)
                throw .timedOut
            }
        }
    }

    /// Reads at least one byte into `buffer`; returns 0 at the end of the stream (the peer closed its side).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
        guard buffer.count > 0 else { return 0 }
        network.lock.lock()
        defer { network.lock.unlock() }
        let deadline = readTimeout.map { network.now + $0 }
        while true {
            let result: TCPReceiveResult
            do throws(TCPError) { result = try network.tcp.receive(handle, into: buffer) } catch { throw .tcp(error) }
            switch result {
            case .bytes(let n):
                network.pollLocked()  // a window update may be due
                return n
            case .endOfStream:
                return 0
            case .wouldBlock:
                if network.waitLocked(on: network.waiters(for: handle), until: deadline) == .timedOut {
                    throw .timedOut
                }
            }
        }
    }

    /// Reads up to `maximum` bytes; an empty array at the end of the stream.
    public func read(maximum: Int = 4096) throws(SocketError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: maximum)
        let result: Result<Int, SocketError> = bytes.withUnsafeMutableBytes { b in
            do throws(SocketError) { return .success(try read(into: b)) } catch { return .failure(error) }
        }
        bytes.removeSubrange(try result.get()...)
        return bytes
    }

    /// Writes all of `bytes`, waiting for buffer space as needed.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SocketError) {
        network.lock.lock()
        defer { network.lock.unlock() }
        let deadline = writeTimeout.map { network.now + $0 }
        var offset = 0
        while offset < bytes.count {
            let taken: Int
            do throws(TCPError) {
                taken = try network.tcp.send(handle, UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            } catch { throw .tcp(error) }
            offset += taken
            network.pollLocked()  // transmit now
            if offset < bytes.count && taken == 0 {
                // That poll may have taken in the ACKs that free buffer space, and dispatched the writable event
                // before this thread waits for it: wait only if there is still no space.
                if network.tcp.readiness(of: handle).contains(.writable) { continue }
                if network.waitLocked(on: network.waiters(for: handle), until: deadline) == .timedOut {
                    throw .timedOut
                }
            }
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) throws(SocketError) {
        let result: Result<Void, SocketError> = bytes.withUnsafeBytes { b in
            do throws(SocketError) { return .success(try write(b)) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Closes the sending side (FIN after the queued data); reading continues.
    public func shutdown() {
        network.locked {
            try? network.tcp.shutdown(handle)
            network.pollLocked()
        }
    }

    /// Closes the connection: queued data is still delivered, then FIN; the handle is released.
    public func close() {
        guard !closed else { return }
        closed = true
        network.locked {
            try? network.tcp.close(handle)
            network.pollLocked()
        }
    }

    /// Resets the connection at once (RST).
    public func abort() {
        guard !closed else { return }
        closed = true
        network.locked { try? network.tcp.abort(handle) }
    }

    /// The connection's addresses and ports.
    public var endpoints: TCPFourTuple? { network.locked { try? network.tcp.endpoints(of: handle) } }

    deinit { close() }
}

/// A UDP socket with blocking receive.
public final class UDPSocket {
    /// The network the socket belongs to.
    public let network: Network
    let handle: UDPHandle

    /// Binds `port` (or an ephemeral port when nil).
    public init(network: Network, port: UInt16? = nil) throws(SocketError) {
        self.network = network
        network.lock.lock()
        defer { network.lock.unlock() }
        do throws(UDPError) { handle = try network.udp.bind(port: port) } catch { throw .udp(error) }
    }

    /// Sends one datagram.
    public func send(_ payload: [UInt8], to address: IPv4Address, port: UInt16) throws(SocketError) {
        network.lock.lock()
        defer { network.lock.unlock() }
        let result: Result<Void, UDPError> = payload.withUnsafeBytes { b in
            do throws(UDPError) {
                return .success(try network.udp.transmit(handle, address, port, b))
            } catch { return .failure(error) }
        }
        if case .failure(let error) = result { throw .udp(error) }
        network.pollLocked()
    }

    /// Receives one datagram into `buffer` (truncated to its size), waiting until one arrives or `deadline`.
    public func receive(into buffer: UnsafeMutableRawBufferPointer,
                        until deadline: Instant? = nil) throws(SocketError) -> UDPReceiveInfo {
        network.lock.lock()
        defer { network.lock.unlock() }
        while true {
            do throws(UDPError) {
                if let info = try network.udp.receive(handle, into: buffer) { return info }
            } catch { throw .udp(error) }
            if network.waitLocked(on: network.udpWaiters, until: deadline) == .timedOut { throw .timedOut }
        }
    }

    /// Closes the socket.
    public func close() {
        network.locked { try? network.udp.close(handle) }
    }
}
