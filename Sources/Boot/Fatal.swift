import BootShim
import Hardware
import Interfaces

/// The one path by which the kernel dies: print what happened on COM1, print a backtrace, exit with a status.
///
/// Nothing here allocates, so a report works after the heap is exhausted, and nothing here takes a lock, so a
/// report works from any interrupt context. If a second fault happens while a report is being written, the
/// second one prints a single line and exits with `ExitStatus.nestedFault` instead of recursing.
public enum Fatal {
    nonisolated(unsafe) private static var reporting = false

    /// Whether `address` can be dereferenced while walking a backtrace. The Runtime sets this once the memory
    /// map is known; until then only the kernel image is trusted.
    nonisolated(unsafe) public static var isReadable: (UInt64) -> Bool = { address in
        address >= KernelLayout.current.imageStart && address < KernelLayout.current.imageEnd
    }

    /// Extra guard pages (thread stacks) with the name of their owner, supplied by the scheduler.
    nonisolated(unsafe) public static var guardPageOwner: ((UInt64) -> String?)? = nil

    /// The serial port reports go to.
    public static var out: SerialPort { .com1 }

    /// Starts a report headed `*** <title>`. Exits at once if a report is already being written.
    public static func begin(_ title: StaticString) {
        if reporting {
            out.write("\n*** nested fault while reporting a fatal error\n")
            Machine.exit(.nestedFault)
        }
        reporting = true
        out.write("\n*** ")
        out.write(title)
    }

    /// Prints `  backtrace:` and one line per return address, starting at frame pointer `rbp`.
    public static func writeBacktrace(from rbp: UInt64) {
        out.write("  backtrace:\n")
        let n = Backtrace.walk(from: rbp, maxDepth: 32, read: { address in
            guard address & 7 == 0, isReadable(address), isReadable(address &+ 7) else { return nil }
            return UnsafePointer<UInt64>(bitPattern: UInt(address))?.pointee
        }, visit: { returnAddress in
            out.write("    ")
            out.writeHex(returnAddress)
            out.write("\n")
        })
        if n == 0 { out.write("    (no frames)\n") }
    }

    /// Ends the report with the exit status and stops the machine.
    public static func finish(_ status: ExitStatus) -> Never {
        out.write("*** exit status ")
        out.writeDecimal(UInt64(status.rawValue))
        out.write(" (")
        out.write(status.name)
        out.write(")\n")
        Machine.exit(status)
    }

    /// Reports a software panic with `message` and a backtrace of the caller, then exits with `status`.
    public static func panic(_ message: String, status: ExitStatus = .panic) -> Never {
        begin("PANIC: ")
        out.write(message)
        out.write("\n")
        writeBacktrace(from: CPU.framePointer())
        finish(status)
    }

    /// Whether `address` lies in a guard page: the boot stack's, an IST stack's, or a thread stack's.
    public static func isGuardPage(_ address: UInt64) -> Bool {
        guardPageName(address) != nil
    }

    /// Whose guard page `address` lies in, if any (e.g. `"boot stack"`, `"thread 'worker-3'"`).
    public static func guardPageName(_ address: UInt64) -> String? {
        let page = address & ~0xfff
        let layout = KernelLayout.current
        if page == layout.bootStackGuard { return "boot stack" }
        if layout.isInterruptStackGuard(page) { return "interrupt stack" }
        return guardPageOwner?(address)
    }
}
