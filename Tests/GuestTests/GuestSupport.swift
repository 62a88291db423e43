import Foundation
import Testing
import UnikernelTool

/// Builds guest images once per test process and boots them in QEMU (TCG), capturing the console.
enum Guest {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    private static let lock = NSLock()
    /// One guest at a time: suites run in parallel, but boot tests measure time and share two cores.
    static let bootLock = NSLock()
    nonisolated(unsafe) private static var images: [String: Result<String, ToolError>] = [:]

    /// The image of `product`, built on first request (the guest build of this package, size-optimized).
    static func image(_ product: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let cached = images[product] { return try cached.get() }
        let result: Result<String, ToolError>
        do throws(ToolError) {
            let builder = GuestBuilder(packageDirectory: packageRoot, unikernel: try UnikernelPackage.current(),
                                       toolchain: try Toolchain.find())
            result = .success(try builder.build(product: product, quiet: true).path)
        } catch {
            result = .failure(error)
        }
        images[product] = result
        return try result.get()
    }

    /// The result of one boot.
    struct Run {
        var outcome: GuestOutcome
        var console: String
        var lines: [String] { console.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        var status: Int32? { if case .exited(let s) = outcome { return s } else { return nil } }
    }

    /// Runs `body` holding the boot lock, so that no guest boots meanwhile: for tests whose host-side work (large
    /// inputs, hashing) would otherwise disturb the timing of boots running in parallel. Inside, boot with
    /// `boot(imagePath:..., bootLockHeld: true)`.
    static func exclusively<R>(_ body: () throws -> R) rethrows -> R {
        bootLock.lock()
        defer { bootLock.unlock() }
        return try body()
    }

    /// Boots `product` with `arguments` on `machine`, stopping it after `timeout` seconds.
    static func boot(_ product: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                     memory: Int = 128, timeout: Double = 60,
                     configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> Run {
        try boot(imagePath: try image(product), arguments, machine: machine, memory: memory, timeout: timeout,
                 configure: configure)
    }

    /// Boots the image file at `imagePath` (e.g. a copy of a product's image with embedded content). Pass
    /// `bootLockHeld: true` only inside `exclusively`.
    static func boot(imagePath: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                     memory: Int = 128, timeout: Double = 60, bootLockHeld: Bool = false,
                     configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> Run {
        var config = QEMUConfiguration(image: imagePath)
        config.machine = machine
        config.memoryMiB = memory
        config.append = arguments
        configure(&config)
        let buffer = OutputBuffer()
        if !bootLockHeld { bootLock.lock() }
        defer { if !bootLockHeld { bootLock.unlock() } }
        let outcome = try QEMURunner(configuration: config, timeout: timeout).run(output: { buffer.append($0) })
        return Run(outcome: outcome, console: buffer.text)
    }
}

/// Console text collected from QEMU's reader thread.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var storage = ""
    func append(_ s: String) { lock.lock(); storage += s; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return storage }
}

/// A guest running in the background (a server), stopped by `stop()` or when its timeout passes.
final class RunningGuest: @unchecked Sendable {
    let output = OutputBuffer()
    private var outcome: GuestOutcome? = nil
    private let done = NSCondition()
    private var config: QEMUConfiguration
    private let timeout: Double
    private var stopped = false

    init(config: QEMUConfiguration, timeout: Double) {
        self.config = config
        self.timeout = timeout
    }

    fileprivate func start() {
        let thread = Thread { [self] in
            let result = (try? QEMURunner(configuration: config, timeout: timeout).run(output: { self.output.append($0) }))
                ?? .qemuFailed(status: -1)
            done.lock()
            outcome = result
            done.broadcast()
            done.unlock()
        }
        thread.start()
    }

    /// Waits until the console shows `marker` (true) or the guest ends or `seconds` pass (false).
    func waitFor(_ marker: String, seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.text.contains(marker) { return true }
            done.lock(); let ended = outcome != nil; done.unlock()
            if ended { return output.text.contains(marker) }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// Stops QEMU and returns how the guest ended.
    @discardableResult
    func stop() -> GuestOutcome? {
        // QEMURunner kills QEMU when its timeout passes; to stop earlier, kill the QEMU child by its port forward.
        // SIGKILL: QEMU inherits this test process's signal mask, in which SIGTERM is blocked, so a plain pkill left
        // the guest running after the test process had exited (orphaned QEMUs serving HelloHTTP forever).
        if let forward = config.forwards.first {
            _ = try? Shell.capture(["pkill", "-KILL", "-f", "hostfwd=tcp:127.0.0.1:\(forward.hostPort)-"])
        }
        done.lock()
        let deadline = Date().addingTimeInterval(10)
        while outcome == nil && Date() < deadline { _ = done.wait(until: deadline) }
        let result = outcome
        done.unlock()
        if !stopped {
            stopped = true
            Guest.bootLock.unlock()
        }
        return result
    }
}

extension Guest {
    /// A free TCP port on 127.0.0.1.
    static func freePort() -> UInt16 {
        for _ in 0..<100 {
            let port = UInt16.random(in: 30000...60000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 { return port }
        }
        return 39_999
    }

    /// Boots `product` in the background with TCP port `guestPort` forwarded from a free host port, holding the
    /// boot lock until the caller stops it.
    static func serve(_ product: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                      memory: Int = 128, guestPort: UInt16 = 8080, timeout: Double = 300,
                      configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> (RunningGuest, UInt16) {
        try serve(imagePath: try image(product), arguments, machine: machine, memory: memory, guestPort: guestPort,
                  timeout: timeout, configure: configure)
    }

    /// `serve` for an image file (e.g. a copy with embedded content).
    static func serve(imagePath: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                      memory: Int = 128, guestPort: UInt16 = 8080, timeout: Double = 300,
                      configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> (RunningGuest, UInt16) {
        var config = QEMUConfiguration(image: imagePath)
        config.machine = machine
        config.memoryMiB = memory
        config.append = arguments
        let port = freePort()
        config.forwards = [QEMUConfiguration.Forward(hostPort: port, guestPort: guestPort)]
        configure(&config)
        let guest = RunningGuest(config: config, timeout: timeout)
        bootLock.lock()  // released by stop()
        guest.start()
        return (guest, port)
    }
}

extension Guest {
    /// Boots `product` in the background (no port forwards), holding the boot lock until the caller stops it.
    static func start(_ product: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                      memory: Int = 128, timeout: Double = 300,
                      configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> RunningGuest {
        var config = QEMUConfiguration(image: try image(product))
        config.machine = machine
        config.memoryMiB = memory
        config.append = arguments
        configure(&config)
        let guest = RunningGuest(config: config, timeout: timeout)
        bootLock.lock()  // released by stop()
        guest.start()
        return guest
    }
}

/// A test's precondition that does not hold on this machine (not root, a tool missing); thrown, so the test fails
/// with this message instead of passing silently.
struct EnvironmentError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// A private network namespace with a TAP device, for boot tests that talk to a guest over a real link.
///
/// Everything that sends traffic (QEMU's TAP backend, ping, raw-socket scripts) runs inside the namespace through
/// `run` or `qemuWrapper`; nothing is sent from the main namespace. `destroy()` (idempotent; call it in a `defer`)
/// stops every process left in the namespace (only processes this test started live there) and deletes it.
final class NetworkNamespace: @unchecked Sendable {
    nonisolated(unsafe) private static var counter = 0
    private static let counterLock = NSLock()

    /// The namespace's name (`swu-<tag>-<pid>-<n>`).
    let name: String
    /// The TAP device inside it.
    let tap = "tap0"
    /// The namespace's own address on the TAP device.
    let hostAddress: String
    /// The address the guest is given (`unikernel.ip=`).
    let guestAddress: String
    /// Prefix length of the link's network.
    let prefixLength = 24
    /// An executable that runs `qemu-system-x86_64` inside the namespace (for `QEMUConfiguration.qemu`).
    let qemuWrapper: String
    private let directory: URL
    private var destroyed = false

    /// Creates the namespace, brings up `lo` and a TAP device with `hostAddress`/24 on `subnet` (the first three
    /// octets, e.g. "10.213.0"; host .1, guest .2). Throws `EnvironmentError` when this machine cannot (not root,
    /// no `ip`, no network namespaces), after removing whatever it created.
    init(tag: String, subnet: String = "10.213.0") throws {
        guard getuid() == 0 else {
            throw EnvironmentError("this test needs root (network namespaces and TAP devices); CI runs as root")
        }
        guard Shell.which("ip") != nil else { throw EnvironmentError("`ip` (iproute2) is not installed") }
        let n: Int = Self.counterLock.withLock {
            Self.counter += 1
            return Self.counter
        }
        name = "swu-\(tag)-\(getpid())-\(n)"
        hostAddress = subnet + ".1"
        guestAddress = subnet + ".2"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        qemuWrapper = directory.appendingPathComponent("qemu-in-netns").path
        let (status, output) = try Shell.capture(["ip", "netns", "add", name])
        guard status == 0 else {
            throw EnvironmentError("`ip netns add \(name)` failed (status \(status)): \(output); network namespaces "
                                       + "are needed for TAP tests")
        }
        do {
            for command in [["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", "dev", tap, "mode", "tap"],
                            ["ip", "addr", "add", "\(hostAddress)/\(prefixLength)", "dev", tap],
                            ["ip", "link", "set", tap, "up"]] {
                let (s, o) = try run(command)
                guard s == 0 else {
                    throw EnvironmentError("`\(command.joined(separator: " "))` in namespace \(name) failed: \(o)")
                }
            }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let script = "#!/bin/sh\nexec ip netns exec \(name) qemu-system-x86_64 \"$@\"\n"
            try script.write(toFile: qemuWrapper, atomically: true, encoding: .utf8)
            chmod(qemuWrapper, 0o755)
        } catch {
            destroy()
            throw error
        }
    }

    /// Runs a command inside the namespace, capturing its output.
    func run(_ command: [String]) throws -> (status: Int32, output: String) {
        try Shell.capture(["ip", "netns", "exec", name] + command)
    }

    /// Stops the processes still running inside the namespace (a guest that did not exit, a stuck client).
    func stopProcesses() {
        guard !destroyed, let (_, output) = try? Shell.capture(["ip", "netns", "pids", name]) else { return }
        let pids = output.split(whereSeparator: \.isWhitespace).compactMap { pid_t($0) }
        for pid in pids { kill(pid, SIGTERM) }
        if !pids.isEmpty { usleep(300_000) }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    /// Stops what runs inside, deletes the namespace (and with it the TAP device) and the wrapper.
    func destroy() {
        guard !destroyed else { return }
        stopProcesses()
        destroyed = true
        _ = try? Shell.capture(["ip", "netns", "del", name])
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { destroy() }
}
