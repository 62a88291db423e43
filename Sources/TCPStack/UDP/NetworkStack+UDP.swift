import Interfaces

/// UDP (RFC 768) sockets: bind a port (or take an ephemeral one), send datagrams, receive them from a
/// bounded queue, close. Handles, not callbacks: the application polls `udpReceive` after `poll`.
///
/// ```swift
/// let socket = try stack.udpBind(port: 7)
/// var buffer = [UInt8](repeating: 0, count: 1500)
/// stack.poll(now: clock.now)
/// if let (from, data) = try stack.udpReceive(socket) {
///     try stack.udpSend(socket, to: from.source, port: from.sourcePort, payload: data)
/// }
/// ```
extension NetworkStack {
    /// Opens a socket on `port`, or on a free ephemeral port (49152...65535 by default) when nil.
    public func udpBind(port: UInt16? = nil) throws(UDPError) -> UDPHandle {
        try sockets.bind(port: port)
    }

    /// The local port of a socket.
    public func udpLocalPort(_ socket: UDPHandle) throws(UDPError) -> UInt16 { try sockets.port(of: socket) }

    /// Sends `payload` from the socket's port to `destination:port`. The datagram is transmitted at once, or
    /// queued while the next hop is resolved with ARP. Broadcasts (255.255.255.255 or the directed broadcast)
    /// are allowed.
    public func udpSend(_ socket: UDPHandle, to destination: IPv4Address, port: UInt16,
                        payload: UnsafeRawBufferPointer) throws(UDPError) {
        let sourcePort = try sockets.port(of: socket)
        guard port != 0 else { throw .invalidPort }
        guard payload.count + UDPDatagram.headerLength + IPv4Packet.minimumHeaderLength <= mtu else {
            ownCounters.ipv4.sendTooLong += 1
            throw .messageTooLong(payload.count)
        }
        guard interface != nil else { ownCounters.ipv4.sendNotConfigured += 1; throw .notConfigured }
        switch sendUDP(sourcePort: sourcePort, destination: destination, destinationPort: port, payload: payload) {
        case nil: return
        case .notConfigured?: throw .notConfigured
        case .noRoute(let a)?: throw .noRoute(a)
        case .tooLong?: throw .messageTooLong(payload.count)
        case .wouldBlock?: throw .wouldBlock
        }
    }

    /// Sends `payload` (see the buffer variant).
    public func udpSend(_ socket: UDPHandle, to destination: IPv4Address, port: UInt16,
                        payload: [UInt8]) throws(UDPError) {
        var failure: UDPError? = nil
        payload.withUnsafeBytes { bytes in
            do throws(UDPError) {
                try udpSend(socket, to: destination, port: port, payload: bytes)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Takes the oldest queued datagram, copying its payload into `buffer` (the part that does not fit is
    /// discarded; `isTruncated` tells). Nil when the queue is empty.
    public func udpReceive(_ socket: UDPHandle,
                           into buffer: UnsafeMutableRawBufferPointer) throws(UDPError) -> UDPReceiveInfo? {
        try sockets.receive(socket, into: buffer)
    }

    /// Takes the oldest queued datagram as a new array (allocates; the buffer variant does not).
    public func udpReceive(_ socket: UDPHandle) throws(UDPError) -> (info: UDPReceiveInfo, payload: [UInt8])? {
        guard let length = try sockets.pending(socket).nextLength else { return nil }
        var payload = [UInt8](repeating: 0, count: length)
        var result: Result<UDPReceiveInfo?, UDPError> = .success(nil)
        payload.withUnsafeMutableBytes { buffer in
            do throws(UDPError) {
                result = .success(try sockets.receive(socket, into: buffer))
            } catch {
                result = .failure(error)
            }
        }
        switch result {
        case .success(let info?): return (info, payload)
        case .success(nil): return nil
        case .failure(let error): throw error
        }
    }

    /// Datagrams waiting on the socket.
    public func udpPendingDatagrams(_ socket: UDPHandle) throws(UDPError) -> Int { try sockets.pending(socket).count }

    /// Datagrams dropped because this socket's queue was full.
    public func udpDrops(_ socket: UDPHandle) throws(UDPError) -> UInt64 { try sockets.drops(socket) }

    /// Closes the socket; queued datagrams are discarded and the handle becomes invalid.
    public func udpClose(_ socket: UDPHandle) throws(UDPError) { try sockets.close(socket) }

    // MARK: - Internals

    /// Ports the stack itself uses: 68 while DHCP runs, and each DNS query's port.
    func isReservedUDPPort(_ port: UInt16) -> Bool {
        (dhcp != nil && port == DHCPMessage.clientPort) || (dnsHooks?.owns(port) ?? false)
    }

    /// Sends one UDP datagram; `source` defaults to the interface address (DHCP passes 0.0.0.0).
    func sendUDP(source: IPv4Address? = nil, sourcePort: UInt16, destination: IPv4Address, destinationPort: UInt16,
                 payload: UnsafeRawBufferPointer) -> IPv4SendError? {
        guard let from = source ?? interface?.address else {
            ownCounters.ipv4.sendNotConfigured += 1
            return .notConfigured
        }
        let length = UDPDatagram.headerLength + payload.count
        let result = transmitIPv4(source: from, destination: destination, protocolNumber: IPProtocolNumber.udp,
                                  length: length) { buffer in
            if payload.count > 0 {
                NetBytes.slice(buffer, UDPDatagram.headerLength, length).copyMemory(from: payload)
            }
            UDPDatagram.emitHeader(into: buffer, sourcePort: sourcePort, destinationPort: destinationPort,
                                   source: from, destination: destination)
        }
        if result == nil { ownCounters.udp.sent += 1 }
        return result
    }

    func handleUDP(_ datagram: Inbound, now: Instant) {
        ownCounters.udp.received += 1
        let udp: UDPDatagram
        do {
            udp = try UDPDatagram(validating: datagram.payload, source: datagram.source,
                                  destination: datagram.destination)
        } catch {
            if error == .badChecksum { ownCounters.udp.badChecksum += 1 } else { ownCounters.udp.malformed += 1 }
            return
        }
        let port = udp.destinationPort
        if dhcp != nil && port == DHCPMessage.clientPort {
            ownCounters.ipv4.delivered += 1
            ownCounters.udp.delivered += 1
            handleDHCP(udp.payload, now: now)
            return
        }
        guard !datagram.onlyForDHCP else { ownCounters.ipv4.notForUs += 1; return }
        ownCounters.ipv4.delivered += 1
        if let dns = dnsHooks, dns.receive(udp.payload, datagram.source, udp.sourcePort, port, now) {
            ownCounters.udp.delivered += 1
            return
        }
        switch sockets.deliver(port: port, source: datagram.source, sourcePort: udp.sourcePort,
                               destination: datagram.destination, payload: udp.payload) {
        case true?:
            ownCounters.udp.delivered += 1
        case false?:
            ownCounters.udp.queueFull += 1
        case nil:
            ownCounters.udp.noSocket += 1
            if !datagram.isBroadcast {
                sendICMPError(type: ICMPv4Type.destinationUnreachable, code: ICMPv4UnreachableCode.port,
                              quoteHeader: datagram.header, quotePayload: datagram.payload)
            }
        }
    }
}
