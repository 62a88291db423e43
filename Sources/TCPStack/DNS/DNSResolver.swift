import Interfaces

/// Why a name could not be resolved.
public enum DNSError: Error, Equatable, CustomStringConvertible {
    /// NXDOMAIN: the name does not exist (RCODE 3).
    case nameNotFound
    /// The name exists but has no A record (NOERROR with no answer).
    case noAddresses
    /// No server answered within the retries.
    case timedOut
    /// Every server answered with an error RCODE (SERVFAIL, REFUSED, ...); the last one is given.
    case serverFailure(UInt8)
    /// A server's answer to our query could not be parsed.
    case malformedResponse
    /// The answer was truncated (TC) and held no address; TCP fallback is not implemented.
    case truncated
    /// The name cannot be encoded (empty label, label over 63 bytes, name over 255 bytes).
    case invalidName
    /// No DNS server is configured.
    case noServers
    /// `maximumQueries` queries are already in progress.
    case tooManyQueries
    /// The handle does not name a query (finished and taken, or never started).
    case invalidHandle
    /// The interface has no IPv4 address yet.
    case notConfigured

    public var description: String {
        switch self {
        case .nameNotFound: return "name not found (NXDOMAIN)"
        case .noAddresses: return "no A records"
        case .timedOut: return "DNS query timed out"
        case .serverFailure(let rcode): return "DNS server error (RCODE \(rcode))"
        case .malformedResponse: return "malformed DNS response"
        case .truncated: return "truncated DNS response"
        case .invalidName: return "invalid DNS name"
        case .noServers: return "no DNS servers configured"
        case .tooManyQueries: return "too many DNS queries in progress"
        case .invalidHandle: return "invalid DNS query handle"
        case .notConfigured: return "interface has no IPv4 address"
        }
    }
}

/// Timers and limits of the DNS client.
public struct DNSResolverConfiguration: Equatable {
    /// How long to wait for an answer before asking the next server.
    public var timeout: Duration = .seconds(2)
    /// How many times the whole server list is tried.
    public var rounds: Int = 2
    /// Queries in progress at once (each uses its own random source port).
    public var maximumQueries: Int = 8
    /// Servers used per query (the first ones configured).
    public var maximumServers: Int = 3

    /// The defaults above.
    public init() {}
}

/// Counters of the DNS client.
public struct DNSCounters: Equatable {
    /// Queries sent (first transmissions and retransmissions).
    public var queriesSent: UInt64 = 0
    /// Answers matched to a query.
    public var responsesAccepted: UInt64 = 0
    /// Datagrams on a query's port that were not its answer (wrong server, port, id or question).
    public var unmatched: UInt64 = 0
    /// Answers that matched a query but could not be parsed.
    public var malformed: UInt64 = 0

    /// All zero.
    public init() {}
}

/// A DNS query in progress or finished, until its result is taken.
public struct DNSQueryHandle: Hashable, CustomStringConvertible {
    let index: Int
    let generation: UInt32

    public var description: String { "dns#\(index).\(generation)" }
}

/// The state of a query.
public enum DNSQueryStatus: Equatable {
    /// No answer yet.
    case pending
    /// The A records of the answer (at least one).
    case resolved([DNSAddressRecord])
    /// The query failed.
    case failed(DNSError)
}

/// A stub resolver for A records (RFC 1035 §7, RFC 1123 §6.1.3): sends a recursive query over UDP to each
/// configured server in turn, retries, matches answers by source address and port, local port, id and question
/// (RFC 5452), and reports the addresses or a typed error.
///
/// Pure: the stack gives it a fresh local port per query, feeds it datagrams arriving on those ports, and polls
/// it with the time and a `send` closure. Ids come from an `EntropySource`. There is no cache.
public struct DNSResolver {
    struct Query {
        var generation: UInt32 = 0
        var active = false
        var name = DNSName()
        var servers: [IPv4Address] = []
        var localPort: UInt16 = 0
        var id: UInt16 = 0
        var attempts = 0
        var deadline = Instant.zero
        var status = DNSQueryStatus.pending
        var lastError: DNSError? = nil
    }

    /// Timers and limits.
    public let configuration: DNSResolverConfiguration
    /// The counters.
    public var counters = DNSCounters()

    private let entropy: any EntropySource
    private var queries: [Query] = []
    private var scratch = [UInt8](repeating: 0, count: DNSMessage.headerLength + DNSName.maximumLength + 4)

    /// A resolver with no queries.
    public init(entropy: any EntropySource, configuration: DNSResolverConfiguration = DNSResolverConfiguration()) {
        self.entropy = entropy
        self.configuration = configuration
    }

    /// Whether a query (pending or finished, not yet taken) owns local port `port`.
    public func owns(port: UInt16) -> Bool { queries.contains { $0.active && $0.localPort == port } }

    /// Starts a query for `name` from `localPort` to `servers`; `poll` sends it.
    public mutating func start(name: DNSName, servers: [IPv4Address], localPort: UInt16,
                               now: Instant) throws(DNSError) -> DNSQueryHandle {
        let usable = servers.prefix(max(configuration.maximumServers, 1))
        guard !usable.isEmpty else { throw .noServers }
        var slot = queries.firstIndex { !$0.active }
        if slot == nil {
            guard queries.count < configuration.maximumQueries else { throw .tooManyQueries }
            queries.append(Query())
            slot = queries.count - 1
        }
        let i = slot!
        var id = UInt16(truncatingIfNeeded: entropy.next64())
        while queries.contains(where: { $0.active && $0.id == id }) { id &+= 1 }
        queries[i].generation &+= 1
        queries[i].active = true
        queries[i].name = name
        queries[i].servers = Array(usable)
        queries[i].localPort = localPort
        queries[i].id = id
        queries[i].attempts = 0
        queries[i].deadline = now
        queries[i].status = .pending
        queries[i].lastError = nil
        return DNSQueryHandle(index: i, generation: queries[i].generation)
    }

    private func validate(_ handle: DNSQueryHandle) throws(DNSError) -> Int {
        guard handle.index >= 0, handle.index < queries.count, queries[handle.index].active,
              queries[handle.index].generation == handle.generation else { throw .invalidHandle }
        return handle.index
    }

    /// The query's status.
    public func status(_ handle: DNSQueryHandle) throws(DNSError) -> DNSQueryStatus {
        queries[try validate(handle)].status
    }

    /// The query's status; a finished query is forgotten (its port freed and its handle invalidated).
    public mutating func take(_ handle: DNSQueryHandle) throws(DNSError) -> DNSQueryStatus {
        let i = try validate(handle)
        let status = queries[i].status
        if status != .pending { queries[i].active = false }
        return status
    }

    /// Abandons a query (its port is freed).
    public mutating func cancel(_ handle: DNSQueryHandle) {
        if let i = try? validate(handle) { queries[i].active = false }
    }

    /// The local port of a query.
    public func localPort(_ handle: DNSQueryHandle) throws(DNSError) -> UInt16 { queries[try validate(handle)].localPort }

    /// Sends due queries and retransmissions (the next server each time), and fails queries that used all
    /// their attempts. `send(localPort, server, query)` transmits to the server's port 53.
    public mutating func poll(now: Instant, send: (UInt16, IPv4Address, UnsafeRawBufferPointer) -> Void) {
        for i in queries.indices where queries[i].active && queries[i].status == .pending && queries[i].deadline <= now {
            let servers = queries[i].servers
            if queries[i].attempts >= servers.count * max(configuration.rounds, 1) {
                queries[i].status = .failed(queries[i].lastError ?? .timedOut)
                continue
            }
            let server = servers[queries[i].attempts % servers.count]
            queries[i].attempts += 1
            queries[i].deadline = now + configuration.timeout
            let (name, id, port) = (queries[i].name, queries[i].id, queries[i].localPort)
            let length = DNSMessage.queryLength(for: name)
            scratch.withUnsafeMutableBytes { DNSMessage.emitQuery(into: $0, id: id, name: name) }
            counters.queriesSent += 1
            scratch.withUnsafeBytes { send(port, server, NetBytes.slice($0, 0, length)) }
        }
    }

    /// The earliest retransmission or failure deadline of a pending query.
    public var nextDeadline: Instant? {
        var best: Instant? = nil
        for q in queries where q.active && q.status == .pending {
            if best == nil || q.deadline < best! { best = q.deadline }
        }
        return best
    }

    /// Handles a UDP datagram to `localPort`. Returns false when no query owns the port (the stack then treats
    /// the port as closed). Answers that do not match the query are ignored and counted.
    public mutating func receive(payload: UnsafeRawBufferPointer, source: IPv4Address, sourcePort: UInt16,
                                 localPort: UInt16, now: Instant) -> Bool {
        guard let i = queries.firstIndex(where: { $0.active && $0.localPort == localPort }) else { return false }
        guard queries[i].status == .pending, sourcePort == DNSMessage.port, queries[i].servers.contains(source),
              let message = try? DNSMessage(validating: payload), message.isResponse, message.id == queries[i].id
        else { counters.unmatched += 1; return true }
        let response: DNSResponse
        do {
            response = try message.parseResponse()
        } catch {
            counters.malformed += 1
            queries[i].status = .failed(.malformedResponse)
            return true
        }
        if let question = response.questionName {
            guard question == queries[i].name, response.questionType == DNSRecordType.a else {
                counters.unmatched += 1
                return true
            }
        }
        counters.responsesAccepted += 1
        switch response.responseCode {
        case DNSResponseCode.noError:
            if !response.addresses.isEmpty {
                queries[i].status = .resolved(response.addresses)
            } else {
                queries[i].status = .failed(response.isTruncated ? .truncated : .noAddresses)
            }
        case DNSResponseCode.nameError:
            queries[i].status = .failed(.nameNotFound)
        default:
            // SERVFAIL, REFUSED, FORMERR, NOTIMP: ask the next server now.
            queries[i].lastError = .serverFailure(response.responseCode)
            queries[i].deadline = now
        }
        return true
    }
}
