import Foundation

/// How to boot an image in QEMU, and the command line that does it.
public struct QEMUConfiguration: Equatable, Sendable {
    /// QEMU machine models the tool supports.
    public enum Machine: String, CaseIterable, Sendable {
        /// Minimal machine, virtio-mmio devices, no firmware: the fastest boot.
        case microvm
        /// i440FX PC with SeaBIOS, virtio-pci devices.
        case pc
        /// Q35 PC with SeaBIOS, virtio-pci devices (PCIe).
        case q35

        /// Whether devices attach through PCI (else virtio-mmio).
        public var usesPCI: Bool { self != .microvm }
    }

    /// Accelerator. TCG (software emulation) works everywhere; KVM needs a real hardware hypervisor.
    public enum Accelerator: String, CaseIterable, Sendable { case tcg, kvm }

    /// Network backend for the virtio-net device.
    public enum Network: Equatable, Sendable {
        case none
        /// QEMU user-mode networking (guest 10.0.2.15, gateway 10.0.2.2) with host port forwards.
        case user
        /// A host TAP interface (create it first, inside a network namespace).
        case tap(String)

        /// Parses `none`, `user` or `tap:IFNAME`.
        public init?(argument: String) {
            if argument == "none" { self = .none }
            else if argument == "user" { self = .user }
            else if argument.hasPrefix("tap:"), argument.count > 4 { self = .tap(String(argument.dropFirst(4))) }
            else { return nil }
        }
    }

    /// A TCP port forward from the host's 127.0.0.1 to the guest (user networking).
    public struct Forward: Equatable, Sendable {
        public var hostPort: UInt16
        public var guestPort: UInt16

        /// Parses `HOST:GUEST`.
        public init?(argument: String) {
            let parts = argument.split(separator: ":")
            guard parts.count == 2, let h = UInt16(parts[0]), let g = UInt16(parts[1]), h > 0, g > 0 else { return nil }
            hostPort = h
            guestPort = g
        }

        public init(hostPort: UInt16, guestPort: UInt16) {
            self.hostPort = hostPort
            self.guestPort = guestPort
        }
    }

    public var image: String
    public var machine: Machine = .microvm
    public var memoryMiB: Int = 128
    public var accelerator: Accelerator = .tcg
    public var network: Network = .none
    public var forwards: [Forward] = []
    public var disks: [String] = []
    public var append: String? = nil
    /// Attach a virtio-rng device.
    public var randomNumberGenerator = false
    /// Use the legacy virtio interface (virtio-mmio version 1 on microvm, `disable-modern=on` on PCI).
    public var legacyVirtio = false
    /// Start QEMU's gdb server on this port and wait for a debugger before the first instruction.
    public var gdbPort: Int? = nil
    /// The QEMU binary.
    public var qemu = "qemu-system-x86_64"
    /// Extra arguments passed through unchanged.
    public var extraArguments: [String] = []

    public init(image: String) { self.image = image }

    /// The complete QEMU argument list (without the binary).
    public var arguments: [String] {
        var a = ["-accel", accelerator.rawValue, "-M", machine.rawValue,
                 "-cpu", accelerator == .kvm ? "host" : "max",
                 "-m", "\(memoryMiB)", "-smp", "1",
                 "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                 "-serial", "stdio", "-monitor", "none",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                 "-kernel", image]
        if let append, !append.isEmpty { a += ["-append", append] }
        if machine == .microvm && !legacyVirtio { a += ["-global", "virtio-mmio.force-legacy=false"] }
        let pciSuffix = legacyVirtio ? ",disable-modern=on" : ""
        func device(_ kind: String, _ rest: String) -> String {
            machine.usesPCI ? "\(kind)-pci,\(rest)\(pciSuffix)" : "\(kind)-device,\(rest)"
        }
        switch effectiveNetwork {
        case .none: break
        case .user:
            var netdev = "user,id=net0"
            for f in forwards { netdev += ",hostfwd=tcp:127.0.0.1:\(f.hostPort)-:\(f.guestPort)" }
            a += ["-netdev", netdev, "-device", device("virtio-net", "netdev=net0")]
        case .tap(let name):
            a += ["-netdev", "tap,id=net0,ifname=\(name),script=no,downscript=no",
                  "-device", device("virtio-net", "netdev=net0")]
        }
        for (i, disk) in disks.enumerated() {
            a += ["-drive", "file=\(disk),if=none,id=disk\(i),format=raw",
                  "-device", device("virtio-blk", "drive=disk\(i)")]
        }
        if randomNumberGenerator { a += ["-device", device("virtio-rng", "rng=rng0"),
                                         "-object", "rng-random,id=rng0,filename=/dev/urandom"] }
        if let gdbPort { a += ["-gdb", "tcp::\(gdbPort)", "-S"] }
        return a + extraArguments
    }

    /// Forwards imply user networking.
    public var effectiveNetwork: Network { network == .none && !forwards.isEmpty ? .user : network }
}

/// The outcome of a guest run.
public enum GuestOutcome: Equatable, Sendable {
    /// The guest wrote its status to the isa-debug-exit port.
    case exited(status: Int32)
    /// QEMU stopped without a guest status: a triple fault (with -no-reboot) or a power-off.
    case stoppedWithoutStatus
    /// QEMU itself failed (bad option, missing file) with this status.
    case qemuFailed(status: Int32)
    /// The run was stopped after the timeout.
    case timedOut
    /// The tool received this signal (SIGTERM, SIGINT, SIGHUP) and stopped QEMU (`QEMURunner.stopOnSignals`).
    case interrupted(signal: Int32)

    /// Decodes QEMU's exit status: isa-debug-exit makes QEMU exit with `(value << 1) | 1`.
    public static func decode(qemuStatus: Int32, qemuReportedError: Bool) -> GuestOutcome {
        if qemuReportedError { return .qemuFailed(status: qemuStatus) }
        if qemuStatus == 0 { return .stoppedWithoutStatus }
        if qemuStatus & 1 == 1 { return .exited(status: qemuStatus >> 1) }
        return .qemuFailed(status: qemuStatus)
    }

    /// The tool's own exit status for this outcome: the guest's status, 124 for a timeout, 125 for a QEMU
    /// failure, 126 when the guest stopped without a status, 128 + the signal when the tool was interrupted (the
    /// shell's convention).
    public var toolStatus: Int32 {
        switch self {
        case .exited(let s): return s
        case .timedOut: return 124
        case .qemuFailed: return 125
        case .stoppedWithoutStatus: return 126
        case .interrupted(let signal): return 128 + signal
        }
    }
}

/// Runs QEMU with the console on standard output, annotating backtrace addresses with symbols.
public struct QEMURunner {
    public var configuration: QEMUConfiguration
    /// Stop the guest after this many seconds (nil: no limit).
    public var timeout: Double?
    /// Annotate `0x…` addresses in backtraces with function names (needs the image's symbols).
    public var symbolize = true
    /// Stop QEMU when this process receives SIGTERM, SIGINT or SIGHUP, then let `run` return. Foundation starts
    /// QEMU in a session of its own, so a signal to this process (or to its process group: a script stopping
    /// the tool, Ctrl-C) would otherwise leave QEMU running. The command-line tool sets it; a test process,
    /// which must keep its own signal handling, does not.
    public var stopOnSignals = false

    public init(configuration: QEMUConfiguration, timeout: Double? = nil) {
        self.configuration = configuration
        self.timeout = timeout
    }

    /// Boots the image and returns how the guest ended. Console output goes to `output` line by line.
    public func run(output: @escaping (String) -> Void = { print($0, terminator: ""); fflush(stdout) }) throws(ToolError) -> GuestOutcome {
        guard let qemu = Shell.which(configuration.qemu) else { throw .qemuNotFound(configuration.qemu) }
        let image = try ELFImage(path: configuration.image)
        try image.verifyBootable()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemu)
        process.arguments = configuration.arguments
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        if isatty(0) == 0 { process.standardInput = FileHandle.nullDevice }

        let annotator = BacktraceAnnotator(image: symbolize ? image : nil)
        let lock = NSLock()
        final class Flag: @unchecked Sendable { var value = false }
        let reportedError = Flag()
        let outDone = DispatchSemaphore(value: 0)
        let errDone = DispatchSemaphore(value: 0)
        stdoutPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                lock.lock(); let rest = annotator.flush(); lock.unlock()
                if !rest.isEmpty { output(rest) }
                outDone.signal()
                return
            }
            lock.lock(); let text = annotator.feed(data); lock.unlock()
            if !text.isEmpty { output(text) }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; errDone.signal(); return }
            let text = String(decoding: data, as: UTF8.self)
            if text.contains("qemu-system") || text.contains("qemu:") { lock.lock(); reportedError.value = true; lock.unlock() }
            FileHandle.standardError.write(data)
        }
        do { try process.run() } catch { throw .commandFailed(qemu, status: -1, output: "\(error)") }
        var signalSources: [DispatchSourceSignal] = []
        final class ReceivedSignal: @unchecked Sendable { var number: Int32 = 0 }
        let received = ReceivedSignal()
        if stopOnSignals {
            // A parent may have blocked these (a test runner does); they must reach this process now.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            for number in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&unblock, number) }
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            for number in [SIGTERM, SIGINT, SIGHUP] {
                signal(number, SIG_IGN)  // delivered to the dispatch source instead of ending this process
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    lock.lock(); if received.number == 0 { received.number = number }; lock.unlock()
                    guard process.isRunning else { return }
                    process.terminate()
                    usleep(500_000)
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                }
                source.resume()
                signalSources.append(source)
            }
        }
        defer {
            for source in signalSources { source.cancel() }
            if stopOnSignals { for number in [SIGTERM, SIGINT, SIGHUP] { signal(number, SIG_DFL) } }
        }

        var timedOut = false
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(2000) }
            if process.isRunning {
                timedOut = true
                process.terminate()
                usleep(200_000)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
        process.waitUntilExit()
        _ = outDone.wait(timeout: .now() + 2)
        _ = errDone.wait(timeout: .now() + 2)
        if timedOut { return .timedOut }
        lock.lock(); let signalNumber = received.number; lock.unlock()
        if signalNumber != 0 { return .interrupted(signal: signalNumber) }
        if process.terminationReason == .uncaughtSignal { return .qemuFailed(status: 128 + process.terminationStatus) }
        lock.lock(); let failed = reportedError.value; lock.unlock()
        return GuestOutcome.decode(qemuStatus: process.terminationStatus, qemuReportedError: failed)
    }
}

/// Adds ` <function>+0xoffset` to console lines that are backtrace entries (`    0x…` after a `backtrace:` line)
/// or an exception's `at 0x…` line.
final class BacktraceAnnotator {
    private let image: ELFImage?
    /// Bytes of the current, unfinished line. Lines are decoded whole, so a UTF-8 character split between two
    /// reads from the pipe is never mangled.
    private var pending: [UInt8] = []
    private var inBacktrace = false

    init(image: ELFImage?) { self.image = image }

    func feed(_ data: Data) -> String {
        pending.append(contentsOf: data)
        var out = ""
        var start = 0
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            out += annotate(String(decoding: pending[start..<newline], as: UTF8.self)) + "\n"
            start = newline + 1
        }
        pending.removeFirst(start)
        return out
    }

    func flush() -> String {
        let rest = String(decoding: pending, as: UTF8.self)
        pending = []
        return rest
    }

    private func annotate(_ raw: String) -> String {
        let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed == "backtrace:" { inBacktrace = true; return line }
        let isEntry = inBacktrace && trimmed.hasPrefix("0x") && !trimmed.contains(" ")
        let isAt = trimmed.hasPrefix("at 0x")
        if !isEntry { inBacktrace = inBacktrace && trimmed.hasPrefix("(") }
        guard let image, isEntry || isAt else { return line }
        let hex = isAt ? String(trimmed.dropFirst(5)) : String(trimmed.dropFirst(2))
        guard let address = UInt64(hex, radix: 16) else { return line }
        // Return addresses point after the call; look up the byte before them.
        let lookup = isEntry ? address &- 1 : address
        guard let (symbol, offset) = image.symbol(containing: lookup) else { return line }
        return line + "  " + Demangler.shared.demangle(symbol.name) + "+0x" + String(offset + (isEntry ? 1 : 0), radix: 16)
    }
}

/// Turns Swift symbol names into readable ones with the toolchain's `swift-demangle` (cached).
final class Demangler: @unchecked Sendable {
    static let shared = Demangler()
    private var cache: [String: String] = [:]
    private let lock = NSLock()

    func demangle(_ name: String) -> String {
        guard name.hasPrefix("$s") || name.hasPrefix("$e") || name.hasPrefix("_$s") else { return name }
        lock.lock(); defer { lock.unlock() }
        if let hit = cache[name] { return hit }
        var result = name
        if let (status, output) = try? Shell.capture(["swift-demangle", "--simplified", "--compact", name]), status == 0 {
            let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { result = text }
        }
        cache[name] = result
        return result
    }
}
