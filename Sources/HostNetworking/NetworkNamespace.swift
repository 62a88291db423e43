#if os(Linux)
import Glibc
import Interfaces

/// A named Linux network namespace (`ip netns add`), created for a test and deleted afterwards, with helpers to
/// add TAP interfaces to it, open them from this process, and run commands inside it.
///
/// The calling thread never changes namespace: `openTAP` and `perform` run their work on a short-lived thread
/// that enters the namespace with `setns(2)` and ends with it, so the process's other threads (and everything in
/// the main namespace) are untouched. Commands run through `ip netns exec`.
///
/// `destroy()` (also called by `deinit`) kills the processes still inside the namespace and deletes it. Requires
/// root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the `ip` tool from iproute2.
///
/// ```swift
/// let ns = try NetworkNamespace(name: NetworkNamespace.uniqueName(prefix: "t"))
/// defer { ns.destroy() }
/// try ns.addTAP("tap0", address: "10.9.0.1/24")
/// let device = try ns.openTAP("tap0", macAddress: MACAddress(0x02, 0, 0, 0, 0, 2))
/// print(ns.run(["ping", "-c", "1", "10.9.0.2"]).output)
/// ```
public final class NetworkNamespace {
    /// The namespace's name (its file is `/run/netns/<name>`).
    public let name: String
    /// Whether `destroy()` has run.
    public private(set) var isDestroyed = false
    /// Whether this object created the namespace (and `deinit` deletes it).
    public let ownsNamespace: Bool

    /// Longest namespace name accepted here (the kernel allows more; `ip` and humans prefer short ones).
    public static let maximumNameLength = 48

    /// Creates the namespace `name` (failing if it exists) with its loopback interface up.
    public init(name: String) throws(HostNetworkingError) {
        guard isSafeName(name, maximumLength: Self.maximumNameLength) else { throw .invalidName(name) }
        self.name = name
        ownsNamespace = true
        try HostCommand.check(["ip", "netns", "add", name])
        do throws(HostNetworkingError) {
            try HostCommand.check(["ip", "-n", name, "link", "set", "lo", "up"])
        } catch {
            destroy()
            throw error
        }
    }

    /// Refers to the existing namespace `name` (created by another process, e.g. the test that started this
    /// one) without taking ownership: `deinit` leaves it alone, though `destroy()` still deletes it.
    public init(existing name: String) throws(HostNetworkingError) {
        guard isSafeName(name, maximumLength: Self.maximumNameLength) else { throw .invalidName(name) }
        guard access("/run/netns/" + name, F_OK) == 0 else { throw .systemCall("access /run/netns/" + name, errno: errno) }
        self.name = name
        ownsNamespace = false
    }

    deinit { if ownsNamespace { destroy() } }

    /// A name unlikely to collide: `prefix`, this process's id and a random suffix.
    public static func uniqueName(prefix: String) -> String {
        var random: UInt32 = 0
        arc4random_buf(&random, 4)
        return prefix + "-\(getpid())-" + String(random & 0xffffff, radix: 16)
    }

    /// Whether this process can create namespaces and TAP devices: it runs as root, `/dev/net/tun` exists and
    /// `ip` is installed.
    public static var isSupported: Bool {
        geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0 && HostCommand.isInstalled("ip")
    }

    /// Adds a persistent TAP interface `interface` to the namespace, sets its MTU, gives it `address` (CIDR
    /// notation, for the host side of the link, e.g. `10.9.0.1/24`) when given, and brings it up. The link has
    /// carrier once a process attaches to it (`openTAP`, or QEMU's `-netdev tap`).
    public func addTAP(_ interface: String, address: String? = nil, mtu: Int = 1500) throws(HostNetworkingError) {
        guard !isDestroyed else { throw .closed }
        guard isSafeName(interface, maximumLength: TAPDevice.maximumNameLength) else { throw .invalidName(interface) }
        try HostCommand.check(["ip", "-n", name, "tuntap", "add", "dev", interface, "mode", "tap"])
        try HostCommand.check(["ip", "-n", name, "link", "set", interface, "mtu", String(mtu)])
        if let address { try HostCommand.check(["ip", "-n", name, "address", "add", address, "dev", interface]) }
        try HostCommand.check(["ip", "-n", name, "link", "set", interface, "up"])
    }

    /// Opens the TAP interface `interface` of this namespace as a `TAPDevice` (creating the interface if it does
    /// not exist; such an interface disappears when the device is closed).
    public func openTAP(_ interface: String, macAddress: MACAddress, mtu: Int = 1500) throws(HostNetworkingError)
        -> TAPDevice
    {
        let result: Result<TAPDevice, HostNetworkingError> = try perform {
            do throws(HostNetworkingError) {
                return .success(try TAPDevice(name: interface, macAddress: macAddress, mtu: mtu))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Runs `body` on a new thread that first enters this namespace (so sockets and devices it creates belong
    /// to the namespace), waits for it, and returns its result. The calling thread stays where it is.
    public func perform<T>(_ body: () -> T) throws(HostNetworkingError) -> T {
        guard !isDestroyed else { throw .closed }
        guard let enter = setNamespaceFunction else { throw .systemCall("dlsym setns", errno: ENOSYS) }
        let fd = open("/run/netns/" + name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .systemCall("open /run/netns/" + name, errno: errno) }
        defer { Glibc.close(fd) }
        return try withoutActuallyEscaping(body) { (escapable) throws(HostNetworkingError) -> T in
            let task = NamespaceTask<T>(namespaceFD: fd, enter: enter, body: escapable)
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, { raw in
                Unmanaged<NamespaceTaskBase>.fromOpaque(raw!).takeUnretainedValue().perform()
                return nil
            }, Unmanaged<NamespaceTaskBase>.passUnretained(task).toOpaque())
            guard created == 0 else { throw .systemCall("pthread_create", errno: created) }
            pthread_join(thread, nil)
            switch task.outcome! {
            case .success(let value): return value
            case .failure(let error): throw error
            }
        }
    }

    /// `arguments` prefixed with `ip netns exec <name>`: the command line that runs them inside the namespace.
    public func command(_ arguments: [String]) -> [String] { ["ip", "netns", "exec", name] + arguments }

    /// Runs `arguments` inside the namespace (see `HostCommand.run`).
    public func run(_ arguments: [String], timeout: Duration? = .seconds(60)) -> CommandResult {
        guard !isDestroyed else { return CommandResult(status: 127, output: "namespace destroyed") }
        return HostCommand.run(command(arguments), timeout: timeout)
    }

    /// Process ids of the processes inside the namespace (`ip netns pids`).
    public var processIDs: [pid_t] {
        guard !isDestroyed else { return [] }
        return HostCommand.run(["ip", "netns", "pids", name]).output.split(separator: "\n")
            .compactMap { line in pid_t(String(line.filter { $0 != " " && $0 != "\t" && $0 != "\r" })) }
    }

    /// Kills (SIGKILL) every process still inside the namespace, waits briefly for them to go, and deletes the
    /// namespace. Idempotent. Interfaces inside it (TAPs included) are deleted with it once nothing holds it.
    public func destroy() {
        guard !isDestroyed else { return }
        for pid in processIDs where pid != getpid() { kill(pid, SIGKILL) }
        for _ in 0..<50 where !processIDs.isEmpty { usleep(20_000) }
        _ = HostCommand.run(["ip", "netns", "delete", name], timeout: .seconds(10))
        isDestroyed = true
    }
}

/// `setns(2)`, looked up at run time (Swift's Glibc module does not export it).
private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
private let setNamespaceFunction: SetNamespace? = {
    guard let symbol = dlsym(nil, "setns") else { return nil }
    return unsafeBitCast(symbol, to: SetNamespace.self)
}()
/// `CLONE_NEWNET` (linux/sched.h).
private let cloneNewNetwork: Int32 = 0x4000_0000

/// Work for a thread that enters a namespace first (the non-generic part the thread's entry point calls).
private class NamespaceTaskBase {
    func perform() {}
}

/// Work for a thread that enters a namespace first.
private final class NamespaceTask<T>: NamespaceTaskBase {
    let namespaceFD: Int32
    let enter: SetNamespace
    let body: () -> T
    var outcome: Result<T, HostNetworkingError>? = nil

    init(namespaceFD: Int32, enter: SetNamespace, body: @escaping () -> T) {
        self.namespaceFD = namespaceFD
        self.enter = enter
        self.body = body
    }

    override func perform() {
        guard enter(namespaceFD, cloneNewNetwork) == 0 else {
            outcome = .failure(.systemCall("setns", errno: errno))
            return
        }
        outcome = .success(body())
    }
}
#endif
