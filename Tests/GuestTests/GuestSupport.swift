import Foundation
import Testing
import UnikernelTool

/// Builds guest images once per test process and boots them in QEMU (TCG), capturing the console.
enum Guest {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    private static let lock = NSLock()
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

    /// Boots `product` with `arguments` on `machine`, stopping it after `timeout` seconds.
    static func boot(_ product: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                     memory: Int = 128, timeout: Double = 60,
                     configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> Run {
        try boot(imagePath: try image(product), arguments, machine: machine, memory: memory, timeout: timeout,
                 configure: configure)
    }

    /// Boots the image file at `imagePath` (e.g. a copy of a product's image with embedded content).
    static func boot(imagePath: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                     memory: Int = 128, timeout: Double = 60,
                     configure: (inout QEMUConfiguration) -> Void = { _ in }) throws -> Run {
        var config = QEMUConfiguration(image: imagePath)
        config.machine = machine
        config.memoryMiB = memory
        config.append = arguments
        configure(&config)
        let buffer = OutputBuffer()
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
