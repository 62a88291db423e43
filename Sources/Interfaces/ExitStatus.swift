/// The status a guest reports when it stops, as the host sees it.
///
/// The guest writes the raw value to QEMU's `isa-debug-exit` port (0xf4); QEMU then exits with
/// `(rawValue << 1) | 1`, and `unikernel run` turns that back into `rawValue`. Process exit statuses are 8 bits,
/// so a guest status is at most 127. Each failure class has its own status, so a test (or a shell script) can
/// tell a page fault from an out-of-memory panic without reading the console.
public struct ExitStatus: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The status value, 0...127.
    public let rawValue: UInt8

    /// Creates a status; values above 127 are clamped to `failure`, since QEMU could not report them.
    public init(_ rawValue: UInt8) {
        self.rawValue = rawValue <= 127 ? rawValue : 1
    }

    /// The application finished normally.
    public static let success = ExitStatus(0)
    /// The application reported a failure (`exit(1)`).
    public static let failure = ExitStatus(1)
    /// `panic(_:)` or a Swift runtime trap (`fatalError`, `precondition`, overflow, out-of-bounds index, nil unwrap).
    public static let panic = ExitStatus(100)
    /// A CPU exception that is not one of the more specific classes below.
    public static let cpuException = ExitStatus(101)
    /// The heap could not satisfy an allocation.
    public static let outOfMemory = ExitStatus(102)
    /// A stack ran into its guard page.
    public static let stackOverflow = ExitStatus(103)
    /// Every thread is blocked and no timer or interrupt can wake one.
    public static let deadlock = ExitStatus(104)
    /// The boot failed before the application started (bad start info, no usable memory).
    public static let bootFailure = ExitStatus(105)
    /// `unikernel_start` returned to the boot shim, which should never happen.
    public static let bootReturned = ExitStatus(106)
    /// A fault occurred while a previous fault was being reported.
    public static let nestedFault = ExitStatus(107)

    /// A short name for reports, e.g. `"stack overflow"`; `"application status"` for statuses without a name.
    public var name: StaticString {
        switch rawValue {
        case 0: return "success"
        case 1: return "failure"
        case 100: return "panic"
        case 101: return "cpu exception"
        case 102: return "out of memory"
        case 103: return "stack overflow"
        case 104: return "deadlock"
        case 105: return "boot failure"
        case 106: return "boot returned"
        case 107: return "nested fault"
        default: return "application status"
        }
    }

    /// The name and the number, e.g. `"stack overflow (103)"`.
    public var description: String { "\(name) (\(rawValue))" }
}
