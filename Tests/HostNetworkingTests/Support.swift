import Foundation
import HostNetworking
import Interfaces
import TCPStack
import Testing

/// The link every interop test builds inside its own namespace: a TAP interface whose host side is Linux
/// (`hostAddress`) and whose other end is the Swift stack (`stackAddress`, `stackMAC`). The addresses exist only
/// inside the namespace.
enum Link {
    static let tap = "tap0"
    static let hostAddress = "10.77.0.1"
    static let stackAddress = "10.77.0.2"
    static let prefixLength = 24
    static let stackMAC = MACAddress(0x02, 0x00, 0x00, 0x77, 0x00, 0x02)
    static var stackIPv4: IPv4Address { IPv4Address(stackAddress)! }
    static var hostIPv4: IPv4Address { IPv4Address(hostAddress)! }
}

/// Whether namespaces and TAP devices can be used here (root, /dev/net/tun, iproute2).
let namespacesAvailable = NetworkNamespace.isSupported

/// Creates a namespace with `Link.tap` (host side `Link.hostAddress/24`), runs `body`, and deletes the namespace
/// (killing anything still running inside), also when `body` throws.
func withLinkNamespace(_ body: (NetworkNamespace) throws -> Void) throws {
    let namespace = try NetworkNamespace(name: NetworkNamespace.uniqueName(prefix: "hnt"))
    defer { namespace.destroy() }
    try namespace.addTAP(Link.tap, address: "\(Link.hostAddress)/\(Link.prefixLength)")
    try body(namespace)
}

/// Text collected from a child process's output.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ data: Data) {
        let s = String(decoding: data, as: UTF8.self)
        lock.lock(); text += s; lock.unlock()
    }
    var value: String { lock.lock(); defer { lock.unlock() }; return text }
}

/// A background process inside a namespace (a Linux-side server), stopped and reaped by `stop()`.
final class BackgroundProcess {
    let process = Process()
    let output = LockedText()
    private let input = Pipe()
    private let pipe = Pipe()

    /// Starts `arguments` (first: the program, looked up on PATH by `ip netns exec`) inside `namespace`.
    convenience init(in namespace: NetworkNamespace, _ arguments: [String], environment: [String: String] = [:]) throws {
        try self.init(executable: URL(fileURLWithPath: "/usr/bin/env"), namespace.command(arguments),
                      environment: environment)
    }

    /// Starts `executable` with `arguments`, this process's environment plus `environment`, and its standard
    /// output and error collected in `output`.
    init(executable: URL, _ arguments: [String], environment: [String: String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = input
        process.standardOutput = pipe
        process.standardError = pipe
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.append(data) }
        }
        try process.run()
    }

    /// Waits until the output contains `marker` (true), the process ends, or `seconds` pass (false).
    func waitFor(_ marker: String, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.value.contains(marker) { return true }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.1)
                return output.value.contains(marker)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// Waits up to `seconds` for the process to end by itself; returns its status, or nil if it is still running.
    func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        Thread.sleep(forTimeInterval: 0.05)  // let the last output arrive
        return process.terminationStatus
    }

    /// Closes the process's standard input, waits up to `seconds` for it to end, kills it (SIGKILL) if it has
    /// not, and returns its status.
    @discardableResult
    func stop(seconds: Double = 10) -> Int32 {
        try? input.fileHandleForWriting.close()
        if waitForExit(seconds: seconds) == nil {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        pipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }
}

/// The Swift stack in a child process: this test binary, started again with a filter that selects only
/// `StackProcessEntry.stackProcessEntryPoint`, and `TAPNET_*` variables saying what to run.
///
/// Why a child process: the thread machinery (`ThreadSystem.shared`) is one per process, and other suites of this
/// test binary (SchedulerTests) install their own while tests run in parallel; a child has it to itself. The child
/// enters nothing: it opens the TAP from a short-lived thread inside the namespace (`NetworkNamespace.openTAP`),
/// so the main namespace is untouched. It ends when its standard input closes (`stop()`), or after
/// `TAPNET_LIFETIME` seconds at most.
final class StackProcess {
    private let process: BackgroundProcess
    /// What the child wrote to standard output and error.
    var output: LockedText { process.output }

    init(role: String, namespace: NetworkNamespace, lifetime: Int = 60, environment: [String: String] = [:]) throws {
        var env = environment
        env["TAPNET_ROLE"] = role
        env["TAPNET_NAMESPACE"] = namespace.name
        env["TAPNET_LIFETIME"] = String(lifetime)
        process = try BackgroundProcess(
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
            ["--testing-library", "swift-testing", "--filter", "stackProcessEntryPoint"], environment: env)
    }

    /// Lines the child reported (`TAPNET <text>`), without the prefix.
    var reports: [String] {
        output.value.split(separator: "\n").compactMap { line in
            guard let r = line.range(of: "TAPNET ") else { return nil }
            return String(line[r.upperBound...])
        }
    }

    /// Waits until the child reports a line starting with `prefix`; returns it (nil: the child ended or `seconds`
    /// passed).
    func waitFor(_ prefix: String, seconds: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = reports.first(where: { $0.hasPrefix(prefix) }) { return line }
            if !process.process.isRunning {
                Thread.sleep(forTimeInterval: 0.1)
                return reports.first { $0.hasPrefix(prefix) }
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    /// Waits up to `seconds` for the child to finish by itself; returns its status, or nil if it still runs.
    func waitForExit(seconds: Double) -> Int32? { process.waitForExit(seconds: seconds) }

    /// Closes the child's standard input (it exits at once), waits for it (SIGKILL after `seconds`), returns its
    /// status.
    @discardableResult
    func stop(seconds: Double = 10) -> Int32 { process.stop(seconds: seconds) }
}

/// Parses `name=value` lines (the `/stats` answer) into a dictionary of integers.
func parseCounters(_ text: String) -> [String: Int] {
    var result: [String: Int] = [:]
    for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
        let parts = line.split(separator: "=", maxSplits: 1)
        if parts.count == 2, let v = Int(parts[1]) { result[String(parts[0])] = v }
    }
    return result
}
