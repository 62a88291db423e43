import Foundation
import Testing
import UnikernelTool

/// Boot tests for the foundation: images built with the guest toolset and booted in QEMU under TCG. Each test
/// names its machine; the console and the exit status are both checked.
@Suite(.serialized) struct FoundationBootTests {
    @Test(arguments: [QEMUConfiguration.Machine.microvm, .pc, .q35])
    func helloPrintsItsArgumentsAndExitsZero(machine: QEMUConfiguration.Machine) throws {
        let run = try Guest.boot("Hello", #"one "two words" unikernel.log=debug"#, machine: machine)
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        #expect(run.lines.contains("Hello from a Swift unikernel!"))
        #expect(run.lines.contains("argument: one"))
        #expect(run.lines.contains("argument: two words"))
        #expect(!run.console.contains("unikernel.log"), "runtime options are not application arguments")
    }

    @Test func pageFaultIsReportedWithAddressAndStatus() throws {
        let run = try Guest.boot("KernelCheck", "pagefault")
        #expect(run.status == 101, "\(run.console)")
        #expect(run.console.contains("*** CPU EXCEPTION"))
        #expect(run.console.contains("exception #PF (page fault), vector 14"))
        #expect(run.console.contains("(write to a non-present page)"))
        #expect(run.console.contains("cr2 0x0000004000000000"))
        #expect(run.console.contains("backtrace:"))
        #expect(run.console.contains("KernelCheck_main"), "the tool symbolizes the faulting address")
        #expect(run.console.contains("*** exit status 101 (cpu exception)"))
    }

    @Test func divideErrorIsReported() throws {
        let run = try Guest.boot("KernelCheck", "divide")
        #expect(run.status == 101, "\(run.console)")
        #expect(run.console.contains("*** DIVIDE ERROR: integer division by zero"))
        #expect(run.console.contains("exception #DE (divide error), vector 0"))
    }

    @Test func nullDereferenceIsReported() throws {
        let run = try Guest.boot("KernelCheck", "nil")
        #expect(run.status == 101, "\(run.console)")
        #expect(run.console.contains("*** NULL POINTER DEREFERENCE"))
        #expect(run.console.contains("cr2 0x0000000000000000"))
        #expect(run.console.contains("(read of a non-present page)"))
    }

    @Test func forceUnwrappingNilIsASwiftTrap() throws {
        let run = try Guest.boot("KernelCheck", "forceunwrap")
        #expect(run.status == 100, "\(run.console)")
        #expect(run.console.contains("*** PANIC: Swift runtime trap"))
        #expect(run.console.contains("exception #UD (invalid opcode), vector 6"))
    }

    @Test func fatalErrorPanicsWithItsLocation() throws {
        let run = try Guest.boot("KernelCheck", "fatal")
        #expect(run.status == 100, "\(run.console)")
        #expect(run.console.contains("*** PANIC: Swift runtime trap"))
        #expect(run.console.contains("KernelCheck_main"))
    }

    @Test func panicPrintsTheMessageAndABacktrace() throws {
        let run = try Guest.boot("KernelCheck", "panic")
        #expect(run.status == 100, "\(run.console)")
        #expect(run.console.contains("*** PANIC: KernelCheck asked for a panic"))
        #expect(run.console.contains("backtrace:"))
        #expect(run.console.contains("*** exit status 100 (panic)"))
    }

    @Test func stackOverflowIsCaughtByTheGuardPage() throws {
        let run = try Guest.boot("KernelCheck", "stackoverflow")
        #expect(run.status == 103, "\(run.console)")
        #expect(run.console.contains("*** STACK OVERFLOW: boot stack ran into its guard page"))
        #expect(run.console.contains("recurse"))
    }

    @Test func textIsReadOnly() throws {
        let run = try Guest.boot("KernelCheck", "writetext")
        #expect(run.status == 101, "\(run.console)")
        #expect(run.console.contains("(write to a read-only page)"))
    }

    @Test func heapStressEndsWhereItStarted() throws {
        let run = try Guest.boot("KernelCheck", "heapstress 1000000", timeout: 300)
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        #expect(run.console.contains("heap stress: 1000000 operations"))
        #expect(run.console.contains("corrupt blocks 0"))
        #expect(run.console.contains("heap stress: ok"))
    }

    @Test func memoryCopiesAndFillsMatchByteByByteReferences() throws {
        let run = try Guest.boot("KernelCheck", "memops", timeout: 300)
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        #expect(run.console.contains("memops: ok"))
        #expect(run.console.contains(" 0 failed"))
    }

    @Test func outOfMemoryReportsTheRequestAndTheHeap() throws {
        let run = try Guest.boot("KernelCheck", "oom", memory: 32)
        #expect(run.status == 102, "\(run.console)")
        #expect(run.console.contains("*** OUT OF MEMORY: cannot allocate 1048576 bytes (alignment 16)"))
        #expect(run.console.contains("bytes in use, peak"))
        #expect(run.console.contains("*** exit status 102 (out of memory)"))
    }

    @Test func bumpHeapCanBeChosen() throws {
        let run = try Guest.boot("KernelCheck", "bump")
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        #expect(run.console.contains("bump heap: total 3996000"))
    }

    @Test(arguments: [QEMUConfiguration.Machine.microvm, .q35])
    func runtimeServicesAnswer(machine: QEMUConfiguration.Machine) throws {
        let run = try Guest.boot("KernelCheck", "info", machine: machine)
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        #expect(run.console.contains("entropy: hardware true"))
        #expect(run.console.contains("dictionary: 100 entries, key42 = 42"))
        let tsc = run.lines.first { $0.hasPrefix("tsc: ") }.flatMap { UInt64($0.dropFirst(5).split(separator: " ")[0]) }
        #expect((tsc ?? 0) > 100_000_000, "calibrated TSC frequency: \(String(describing: tsc))")
        let wall = run.lines.first { $0.hasPrefix("wall clock: ") }.flatMap { Int64($0.dropFirst(12).split(separator: " ")[0]) }
        let now = Int64(Date().timeIntervalSince1970)
        #expect(abs((wall ?? 0) - now) < 120, "the RTC agrees with the host clock")
    }

    @Test func exitStatusReachesTheHost() throws {
        #expect(try Guest.boot("KernelCheck", "exit 42").status == 42)
    }

    @Test func timeoutStopsAHungGuest() throws {
        var config = QEMUConfiguration(image: try Guest.image("KernelCheck"))
        config.append = "hello"
        config.gdbPort = 45_123  // waits for a debugger forever
        let outcome = try QEMURunner(configuration: config, timeout: 2).run(output: { _ in })
        #expect(outcome == .timedOut)
    }

    /// `unikernel run` stopped by a signal (a script ending it, Ctrl-C) stops QEMU too and exits with 128 + the
    /// signal. Foundation starts QEMU in a session of its own, so without this QEMU would outlive the tool.
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func theToolStopsQEMUWhenItIsSignalled(signal: Int32) throws {
        let tool = Guest.packageRoot.appendingPathComponent(".build/debug/unikernel").path
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build it: swift build --product unikernel")
        let image = try Guest.image("KernelCheck")
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-\(UUID().uuidString).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        // --gdb: QEMU waits for a debugger forever, so only the signal can end the run.
        let run = try BoundedProcess([tool, "run", image, "--gdb", "--gdb-port", "\(46_000 + Int.random(in: 0..<1000))",
                                      "--qemu-arg", "-pidfile", "--qemu-arg", pidFile.path], in: nil)
        var qemu: Int32? = nil
        let deadline = Date().addingTimeInterval(60)
        while qemu == nil && run.isRunning && Date() < deadline {
            if let text = try? String(contentsOf: pidFile, encoding: .utf8) {
                qemu = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if qemu == nil { usleep(50_000) }
        }
        let pid = try #require(qemu, "QEMU wrote no pid file:\n\(run.output)")
        defer { kill(pid, SIGKILL) }
        kill(run.pid, signal)
        let status = run.wait(timeout: 20)
        #expect(status == 128 + signal, "\(run.output)")
        #expect(run.output.contains("stopped QEMU on signal \(signal)"), "\(run.output)")
        usleep(200_000)
        #expect(kill(pid, 0) != 0, "QEMU (pid \(pid)) outlived the tool")
    }

    @Test func gdbStopsAtMainAndPrintsABacktrace() throws {
        guard let gdb = Shell.which("gdb") else {
            Issue.record("gdb is not installed (the test script installs it)")
            return
        }
        let image = try Guest.image("Hello")
        let port = 45_000 + Int.random(in: 0..<1000)
        var config = QEMUConfiguration(image: image)
        config.gdbPort = port
        let gdbConfig = config
        let qemu = Thread { _ = try? QEMURunner(configuration: gdbConfig, timeout: 60).run(output: { _ in }) }
        qemu.start()
        Thread.sleep(forTimeInterval: 1)
        let (status, output) = try Shell.capture([gdb, "-batch", "-nx", "-ex", "set architecture i386:x86-64",
                                                  "-ex", "target remote :\(port)", "-ex", "hbreak main",
                                                  "-ex", "continue", "-ex", "bt", "-ex", "kill", image])
        #expect(status == 0, "\(output)")
        #expect(output.contains("Breakpoint 1"), "\(output)")
        #expect(output.contains("#0 "), "\(output)")
        #expect(output.contains("main"), "\(output)")
    }
}
