import Interfaces

/// The 32 architecture-defined exception vectors (Intel SDM Vol. 3A, Table 6-1), with what a report needs.
public enum CPUException {
    /// The mnemonic and name of exception `vector` (0...31), e.g. `("#PF", "page fault")`.
    public static func name(of vector: UInt64) -> (mnemonic: StaticString, name: StaticString) {
        switch vector {
        case 0: return ("#DE", "divide error")
        case 1: return ("#DB", "debug")
        case 2: return ("NMI", "non-maskable interrupt")
        case 3: return ("#BP", "breakpoint")
        case 4: return ("#OF", "overflow")
        case 5: return ("#BR", "bound range exceeded")
        case 6: return ("#UD", "invalid opcode")
        case 7: return ("#NM", "device not available")
        case 8: return ("#DF", "double fault")
        case 9: return ("CSO", "coprocessor segment overrun")
        case 10: return ("#TS", "invalid TSS")
        case 11: return ("#NP", "segment not present")
        case 12: return ("#SS", "stack-segment fault")
        case 13: return ("#GP", "general protection")
        case 14: return ("#PF", "page fault")
        case 16: return ("#MF", "x87 floating-point error")
        case 17: return ("#AC", "alignment check")
        case 18: return ("#MC", "machine check")
        case 19: return ("#XM", "SIMD floating-point exception")
        case 20: return ("#VE", "virtualization exception")
        case 21: return ("#CP", "control protection")
        case 28: return ("#HV", "hypervisor injection")
        case 29: return ("#VC", "VMM communication")
        case 30: return ("#SX", "security exception")
        default: return ("#??", "reserved vector")
        }
    }

    /// Vector numbers with a meaning the reports single out.
    public static let divideError: UInt64 = 0
    public static let invalidOpcode: UInt64 = 6
    public static let doubleFault: UInt64 = 8
    public static let generalProtection: UInt64 = 13
    public static let pageFault: UInt64 = 14

    /// The page-fault error code (SDM Vol. 3A, 4.7), decoded.
    public struct PageFaultCode: Equatable, Sendable {
        /// P: the page was present (a protection violation) rather than absent.
        public var present: Bool
        /// W/R: the access was a write.
        public var write: Bool
        /// U/S: the access came from user mode.
        public var user: Bool
        /// RSVD: a reserved bit was set in a paging structure.
        public var reservedBit: Bool
        /// I/D: the access was an instruction fetch.
        public var instructionFetch: Bool

        /// Decodes `errorCode`.
        public init(_ errorCode: UInt64) {
            present = errorCode & 1 != 0
            write = errorCode & 2 != 0
            user = errorCode & 4 != 0
            reservedBit = errorCode & 8 != 0
            instructionFetch = errorCode & 16 != 0
        }

        /// e.g. `"write to a non-present page"`.
        public var summary: StaticString {
            if reservedBit { return "reserved bit set in a page-table entry" }
            if instructionFetch { return present ? "instruction fetch from a no-execute page" : "instruction fetch from a non-present page" }
            if write { return present ? "write to a read-only page" : "write to a non-present page" }
            return present ? "read of a protected page" : "read of a non-present page"
        }
    }

    /// What a fatal exception most likely means, which decides the report's headline and the exit status.
    public enum Diagnosis: Equatable, Sendable {
        /// A read or write near address 0: dereferencing a null pointer.
        case nullDereference
        /// A stack ran into the unmapped guard page below it.
        case stackOverflow
        /// A `ud2` emitted by Swift: fatalError, precondition, arithmetic overflow, index out of range, nil unwrap.
        case swiftTrap
        /// Integer division by zero (or INT_MIN / -1).
        case divideByZero
        /// Anything else.
        case other

        /// The exit status for this diagnosis.
        public var status: ExitStatus {
            switch self {
            case .stackOverflow: return .stackOverflow
            case .swiftTrap: return .panic
            default: return .cpuException
            }
        }
    }

    /// Classifies a fatal exception from its vector, CR2, the interrupted stack pointer and two predicates the
    /// kernel supplies: whether an address lies in a stack guard page, and whether the instruction at RIP is
    /// `ud2` (0F 0B). Pure, so every branch is host-tested.
    public static func diagnose(vector: UInt64, faultAddress: UInt64, stackPointer: UInt64,
                                isGuardPage: (UInt64) -> Bool, instructionIsUD2: Bool) -> Diagnosis {
        switch vector {
        case pageFault:
            if isGuardPage(faultAddress) { return .stackOverflow }
            if faultAddress < 4096 { return .nullDereference }
            return .other
        case doubleFault:
            return isGuardPage(stackPointer) || isGuardPage(stackPointer &- 8) ? .stackOverflow : .other
        case invalidOpcode:
            return instructionIsUD2 ? .swiftTrap : .other
        case divideError:
            return .divideByZero
        default:
            return .other
        }
    }
}

/// Walks a chain of frame pointers: at each frame, `[rbp]` holds the caller's RBP and `[rbp + 8]` the return
/// address (System V x86-64 with frame pointers kept).
public enum Backtrace {
    /// Calls `visit` with each return address starting from frame pointer `rbp`, at most `maxDepth` times, and
    /// returns how many it visited. The walk stops at a zero or misaligned RBP, at an address `read` refuses (it
    /// returns nil for memory that is not safely readable), or when the chain stops growing upward (a corrupted
    /// or cyclic chain). It allocates nothing, so fatal paths can use it after the heap is exhausted.
    @discardableResult
    public static func walk(from rbp: UInt64, maxDepth: Int, read: (UInt64) -> UInt64?,
                            visit: (UInt64) -> Void) -> Int {
        var count = 0
        var frame = rbp
        while count < maxDepth, frame != 0, frame & 7 == 0 {
            guard let returnAddress = read(frame &+ 8), let next = read(frame) else { break }
            if returnAddress == 0 { break }
            visit(returnAddress)
            count += 1
            if next <= frame { break }  // stacks grow down, so callers' frames are at higher addresses
            frame = next
        }
        return count
    }
}
