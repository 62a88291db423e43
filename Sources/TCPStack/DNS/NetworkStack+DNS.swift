import Interfaces

/// The DNS client (A records) on the stack's configured servers.
///
/// ```swift
/// let query = try stack.resolve("example.com")
/// while true {
///     stack.poll(now: clock.now)
///     if let addresses = try stack.resolution(of: query) { use(addresses[0]); break }
///     sleep(until: stack.nextDeadline)
/// }
/// ```
extension NetworkStack {
    /// Starts resolving `name` (dotted text) to IPv4 addresses; the query goes out at once.
    public func resolve(_ name: String) throws(DNSError) -> DNSQueryHandle {
        let encoded: DNSName
        do { encoded = try DNSName(name) } catch { throw .invalidName }
        return try resolve(encoded)
    }

    /// Starts resolving `name`; the query goes out at once, from a random ephemeral port (RFC 5452 §9.2).
    public func resolve(_ name: DNSName) throws(DNSError) -> DNSQueryHandle {
        guard let interface else { throw .notConfigured }
        guard !interface.dnsServers.isEmpty else { throw .noServers }
        guard let port = randomFreePort() else { throw .tooManyQueries }
        let client = dnsClient ?? startDNSClient()
        let handle = try client.resolver.start(name: name, servers: interface.dnsServers, localPort: port, now: now)
        client.resolver.poll(now: now) { port, server, query in
            _ = self.sendUDP(sourcePort: port, destination: server, destinationPort: DNSMessage.port, payload: query)
        }
        return handle
    }

    /// The outcome of a query: nil while pending; the addresses (at least one) once answered; or the error.
    /// A finished query's handle becomes invalid after this returns or throws its outcome.
    public func resolution(of query: DNSQueryHandle) throws(DNSError) -> [IPv4Address]? {
        guard let client = dnsClient else { throw .invalidHandle }  // no query was ever started
        switch try client.resolver.take(query) {
        case .pending: return nil
        case .resolved(let records): return records.map { $0.address }
        case .failed(let error): throw error
        }
    }

    /// The query's status with the records' TTLs, without consuming it.
    public func status(of query: DNSQueryHandle) throws(DNSError) -> DNSQueryStatus {
        guard let client = dnsClient else { throw .invalidHandle }
        return try client.resolver.status(query)
    }

    /// Abandons a query.
    public func cancel(_ query: DNSQueryHandle) { dnsClient?.resolver.cancel(query) }

    /// Creates the DNS client at the first query.
    private func startDNSClient() -> DNSClientService {
        let client = DNSClientService(entropy: entropy, configuration: configuration.dns)
        dnsClient = client
        dnsHooks = client.hooks
        return client
    }

    private func randomFreePort() -> UInt16? {
        let first = UInt32(configuration.udp.ephemeralPortFirst)
        let last = UInt32(max(configuration.udp.ephemeralPortLast, configuration.udp.ephemeralPortFirst))
        let span = last - first + 1
        var candidate = first + UInt32(entropy.next64() % UInt64(span))
        for _ in 0..<span {
            let port = UInt16(candidate)
            if port != 0, sockets.index(of: port) == nil, !isReservedUDPPort(port) { return port }
            candidate = candidate == last ? first : candidate + 1
        }
        return nil
    }
}
