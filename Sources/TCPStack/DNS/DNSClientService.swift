import Interfaces

/// What the stack's always-running paths (UDP receive, timers, port reservation, counters) need of its DNS client:
/// closures over the client, made when the first `resolve` creates it.
///
/// An image that never resolves a name does not link the resolver or the DNS message parser, because the only code
/// that makes these closures is `resolve`. (Through a protocol, the optimizer called the single conforming class's
/// methods directly from the receive path, which linked them into every image.)
struct StackDNSHooks {
    /// Whether a query in progress uses local UDP port.
    let owns: (UInt16) -> Bool
    /// Offers a UDP payload (source, source port, local port); true when it answered one of the client's queries.
    let receive: (UnsafeRawBufferPointer, IPv4Address, UInt16, UInt16, Instant) -> Bool
    /// Sends queries that are due (first tries and retries) and expires the ones out of time.
    let poll: (Instant, (UInt16, IPv4Address, UnsafeRawBufferPointer) -> Void) -> Void
    /// When `poll` next has work.
    let nextDeadline: () -> Instant?
    /// The resolver's counters.
    let counters: () -> DNSCounters
}

/// The stack's DNS client: a `DNSResolver` in a reference the stack holds once a name was first resolved.
final class DNSClientService {
    /// The resolver (queries, their ports and deadlines).
    var resolver: DNSResolver

    init(entropy: any EntropySource, configuration: DNSResolverConfiguration) {
        resolver = DNSResolver(entropy: entropy, configuration: configuration)
    }

    /// The hooks the stack's always-running paths call. They hold the client strongly; the stack holds them and
    /// the client, and the client holds neither, so there is no cycle.
    var hooks: StackDNSHooks {
        StackDNSHooks(
            owns: { port in self.resolver.owns(port: port) },
            receive: { payload, source, sourcePort, localPort, now in
                self.resolver.receive(payload: payload, source: source, sourcePort: sourcePort, localPort: localPort,
                                      now: now)
            },
            poll: { now, send in self.resolver.poll(now: now, send: send) },
            nextDeadline: { self.resolver.nextDeadline },
            counters: { self.resolver.counters })
    }
}
