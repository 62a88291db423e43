import FuzzDriver
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The glue between libFuzzer and a harness: the entry point, invariant checks that crash loudly, tracing for
// replaying a crash by hand, and writing the seed corpus.

/// Whether `FUZZ_TRACE` is set: harnesses then print what they do (use it when replaying one input).
public let fuzzTracing: Bool = getenv("FUZZ_TRACE") != nil

/// Prints `message()` when tracing.
@inline(__always)
public func trace(_ message: @autoclosure () -> String) {
    if fuzzTracing { print(message()) }
}

/// Stops the process with `message` if `condition` is false: libFuzzer records the input as a crash.
///
/// Harnesses use this for invariants the code under test promises (round trips, documented bounds, agreement
/// with a reference model); a violated invariant is a finding just like a trap.
@inline(__always)
public func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
                    line: UInt = #line) {
    if !condition { invariantFailed(message(), file: file, line: line) }
}

/// Reports a violated invariant and aborts.
@inline(never)
public func invariantFailed(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fflush(stdout)
    fputs("FUZZ INVARIANT VIOLATED at \(file):\(line): \(message)\n", stderr)
    fflush(stderr)
    abort()
}

/// Whether two byte buffers hold the same bytes.
public func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}

/// Whether a byte buffer equals an array.
public func sameBytes(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
    b.withUnsafeBytes { sameBytes(a, $0) }
}

/// Hex rendering of (at most the first 64 bytes of) a buffer, for messages.
public func hex(_ bytes: UnsafeRawBufferPointer) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    var text = ""
    for (i, b) in bytes.prefix(64).enumerated() {
        if i > 0 && i % 4 == 0 { text.append(" ") }
        text.append(digits[Int(b >> 4)])
        text.append(digits[Int(b & 0xF)])
    }
    if bytes.count > 64 { text += "…(\(bytes.count) bytes)" }
    return text
}

/// Hex rendering of an array.
public func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex($0) } }

/// One seed of a target's corpus: a file name and its bytes.
public struct Seed {
    /// The file name inside `Fuzz/Corpus/<target>/`.
    public var name: String
    /// The input.
    public var bytes: [UInt8]

    /// Creates a seed.
    public init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// The body of a target's `LLVMFuzzerInitialize`.
///
/// With `FUZZ_WRITE_SEEDS=<directory>` in the environment, writes `seeds()` there, runs each through `harness`
/// once (so a seed that breaks an invariant is caught at once) and exits; otherwise does nothing. This is how
/// `Scripts/fuzz.sh --write-seeds` regenerates `Fuzz/Corpus/`: the seeds are built by the same code that
/// decodes them.
public func fuzzInitialize(seeds: () -> [Seed], harness: (UnsafeRawBufferPointer) -> Void) {
    guard let dir = getenv("FUZZ_WRITE_SEEDS") else { return }
    let directory = String(cString: dir)
    let all = seeds()
    for seed in all {
        let path = directory + "/" + seed.name
        guard let file = fopen(path, "wb") else {
            fputs("cannot write \(path)\n", stderr)
            exit(1)
        }
        let written = seed.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        guard written == seed.bytes.count else {
            fputs("short write to \(path)\n", stderr)
            exit(1)
        }
        seed.bytes.withUnsafeBytes { harness($0) }
    }
    print("wrote \(all.count) seeds to \(directory)")
    exit(0)
}

/// The body of a target's `LLVMFuzzerTestOneInput`.
@inline(__always)
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int, _ harness: (UnsafeRawBufferPointer) -> Void) -> CInt {
    harness(UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size))
    return 0
}

/// The body of a target's `main.swift`: writes the seed corpus when asked (`FUZZ_WRITE_SEEDS`, see
/// `fuzzInitialize`), otherwise hands the command line to libFuzzer, which runs `testOneInput` (the target's
/// `LLVMFuzzerTestOneInput`) on each input and exits with its status.
///
/// Why not libFuzzer's own `main`: SwiftPM links every executable with `main` aliased to the module's entry
/// point, so the module must have one; this is it.
public func fuzzMain(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt, seeds: () -> [Seed],
                     harness: (UnsafeRawBufferPointer) -> Void) -> Never {
    fuzzInitialize(seeds: seeds, harness: harness)
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}
