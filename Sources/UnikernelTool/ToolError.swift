/// Everything that can go wrong in the host tool, each with a message that says what to do.
public enum ToolError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(String)
    case notAnELF(String, reason: String)
    case missingPVHNote(String)
    case badPVHNote(String, reason: String)
    case qemuNotFound(String)
    case guestTimedOut(seconds: Double)
    case toolchainWithoutEmbedded(String)
    case checkoutWithoutLinkerScript(String)
    case noSuchProduct(String, available: [String])
    case productNotExecutable(String, type: String)
    case commandFailed(String, status: Int32, output: String)
    case invalidArgument(String)
    case embed(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "no such file: \(path)"
        case .notAnELF(let path, let reason):
            return "\(path) is not a readable ELF image: \(reason)"
        case .missingPVHNote(let path):
            return "\(path) has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18, owner \"Xen\"); "
                + "QEMU, Firecracker and Cloud Hypervisor cannot boot it. Was it linked with Linker/unikernel.ld?"
        case .badPVHNote(let path, let reason):
            return "\(path): the PVH entry note is invalid: \(reason)"
        case .qemuNotFound(let name):
            return "\(name) was not found on PATH. Install it (Debian/Ubuntu: apt-get install qemu-system-x86) "
                + "or run ./Scripts/quickstart.sh, which installs it."
        case .guestTimedOut(let seconds):
            return "the guest did not exit within \(seconds) seconds; it was stopped"
        case .toolchainWithoutEmbedded(let detail):
            return "this Swift toolchain cannot build guests: \(detail). Use a Swift 6 toolchain from swift.org "
                + "that ships Embedded Swift for x86_64-unknown-none-elf."
        case .checkoutWithoutLinkerScript(let path):
            return "the unikernel package checkout at \(path) has no Linker/unikernel.ld; the dependency is "
                + "incomplete or not this package"
        case .noSuchProduct(let name, let available):
            return "no product named '\(name)' in this package; executable products: "
                + (available.isEmpty ? "(none)" : available.joined(separator: ", "))
        case .productNotExecutable(let name, let type):
            return "product '\(name)' is a \(type), not an executable; only executable products build into images"
        case .commandFailed(let command, let status, let output):
            let tail = output.split(separator: "\n", omittingEmptySubsequences: false).suffix(30).joined(separator: "\n")
            return "\(command) failed with status \(status)\n\(tail)"
        case .invalidArgument(let message):
            return message
        case .embed(let message):
            return message
        }
    }
}
