#if os(Linux)
import Glibc

/// Why a host networking operation failed.
public enum HostNetworkingError: Error, Equatable, CustomStringConvertible {
    /// A system call failed; `call` names it (and its object), `errno` is the C library's error number.
    case systemCall(String, errno: Int32)
    /// A name is empty, longer than the kernel allows (15 bytes for interfaces), or has bytes other than ASCII
    /// letters, digits, `-`, `_` and `.` (names end up on `ip` command lines and in `/run/netns`).
    case invalidName(String)
    /// A command could not be started, or exited with a status other than 0.
    case commandFailed(command: String, status: Int32, output: String)
    /// The object was already closed or destroyed.
    case closed

    public var description: String {
        switch self {
        case .systemCall(let call, let number):
            return call + " failed: " + String(cString: strerror(number)) + " (errno \(number))"
        case .invalidName(let name): return "invalid name '" + name + "'"
        case .commandFailed(let command, let status, let output):
            return "'" + command + "' exited with status \(status): " + output
        case .closed: return "already closed"
        }
    }
}

/// Whether `name` is usable as an interface or namespace name: 1 to `maximumLength` bytes of ASCII letters,
/// digits, `-`, `_` and `.`, not starting with `-` or `.`.
func isSafeName(_ name: String, maximumLength: Int) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= maximumLength, bytes[0] != UInt8(ascii: "-"), bytes[0] != UInt8(ascii: ".")
    else { return false }
    for b in bytes {
        let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
        if !ok { return false }
    }
    return true
}
#endif
