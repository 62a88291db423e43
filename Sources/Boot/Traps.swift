import BootShim
import Hardware
import Interfaces

/// The registers saved by the common interrupt stub (layout in BootShim.h): general registers, the vector, the
/// error code and the CPU's interrupt frame. A handler may modify it; the stub restores from it.
public typealias TrapFrame = shim_trap_frame

/// A handler for an interrupt vector (32...255). It runs with interrupts disabled on the interrupted stack.
public typealias InterruptHandler = (UnsafeMutablePointer<TrapFrame>) -> Void

/// Routing of every vector that reaches Swift: exceptions (0...31) are fatal and reported; interrupts
/// (32...255) go to the handler registered for the vector.
///
/// Invariant: handlers are registered during initialization or with interrupts disabled; the table is read
/// only from interrupt context.
public enum Traps {
    nonisolated(unsafe) private static var handlers: [InterruptHandler?] = []
    /// Interrupts that arrived on a vector with no handler (counted, then ignored).
    nonisolated(unsafe) public private(set) static var unhandledInterrupts: UInt64 = 0
    /// The last vector that arrived without a handler.
    nonisolated(unsafe) public private(set) static var lastUnhandledVector: UInt64 = 0
    /// Called after every interrupt handler (the interrupt controller's end-of-interrupt and the scheduler's
    /// preemption check hang here). Receives the vector.
    nonisolated(unsafe) public static var afterInterrupt: ((UInt64) -> Void)? = nil

    /// Installs `handler` for `vector` (32...255), replacing any previous one.
    public static func setHandler(vector: UInt8, _ handler: InterruptHandler?) {
        precondition(vector >= 32, "vectors 0-31 are CPU exceptions")
        CPU.withInterruptsDisabled {
            if handlers.isEmpty { handlers = [InterruptHandler?](repeating: nil, count: 256) }
            handlers[Int(vector)] = handler
        }
    }

    /// Whether `vector` has a handler.
    public static func hasHandler(vector: UInt8) -> Bool {
        !handlers.isEmpty && handlers[Int(vector)] != nil
    }

    static func dispatch(_ frame: UnsafeMutablePointer<TrapFrame>) {
        let vector = frame.pointee.vector
        if vector < 32 { reportException(frame) }
        if !handlers.isEmpty, let handler = handlers[Int(vector)] {
            handler(frame)
        } else {
            unhandledInterrupts &+= 1
            lastUnhandledVector = vector
        }
        afterInterrupt?(vector)
    }

    /// Prints the exception report for `frame` and exits with the status its diagnosis calls for.
    static func reportException(_ frame: UnsafeMutablePointer<TrapFrame>) -> Never {
        let f = frame.pointee
        let cr2 = f.vector == CPUException.pageFault ? CPU.readCR2() : 0
        let layout = KernelLayout.current
        var isUD2 = false
        if f.rip >= layout.textStart && f.rip + 2 <= layout.textEnd,
           let bytes = UnsafePointer<UInt8>(bitPattern: UInt(f.rip)) {
            isUD2 = bytes[0] == 0x0F && bytes[1] == 0x0B
        }
        let diagnosis = CPUException.diagnose(
            vector: f.vector, faultAddress: cr2, stackPointer: f.rsp,
            isGuardPage: { Fatal.isGuardPage($0) }, instructionIsUD2: isUD2)
        let out = Fatal.out
        let names = CPUException.name(of: f.vector)

        switch diagnosis {
        case .swiftTrap:
            Fatal.begin("PANIC: Swift runtime trap (fatalError, precondition failure, arithmetic overflow, ")
            out.write("index out of range or unwrapping nil)\n")
        case .stackOverflow:
            Fatal.begin("STACK OVERFLOW: ")
            out.write(Fatal.guardPageName(f.vector == CPUException.pageFault ? cr2 : f.rsp) ?? "unknown stack")
            out.write(" ran into its guard page\n")
        case .nullDereference:
            Fatal.begin("NULL POINTER DEREFERENCE\n")
        case .divideByZero:
            Fatal.begin("DIVIDE ERROR: integer division by zero\n")
        case .other:
            Fatal.begin("CPU EXCEPTION\n")
        }
        out.write("  exception ")
        out.write(names.mnemonic)
        out.write(" (")
        out.write(names.name)
        out.write("), vector ")
        out.writeDecimal(f.vector)
        out.write("\n  error code ")
        out.writeHex(f.error_code)
        if f.vector == CPUException.pageFault {
            out.write(" (")
            out.write(CPUException.PageFaultCode(f.error_code).summary)
            out.write(")\n  cr2 ")
            out.writeHex(cr2)
        }
        out.write("\n  rip ")
        out.writeHex(f.rip)
        out.write("  rsp ")
        out.writeHex(f.rsp)
        out.write("  rbp ")
        out.writeHex(f.rbp)
        out.write("  rflags ")
        out.writeHex(f.rflags, digits: 8)
        out.write("\n  rax ")
        out.writeHex(f.rax)
        out.write("  rbx ")
        out.writeHex(f.rbx)
        out.write("  rcx ")
        out.writeHex(f.rcx)
        out.write("  rdx ")
        out.writeHex(f.rdx)
        out.write("\n  rsi ")
        out.writeHex(f.rsi)
        out.write("  rdi ")
        out.writeHex(f.rdi)
        out.write("  r8  ")
        out.writeHex(f.r8)
        out.write("  r9  ")
        out.writeHex(f.r9)
        out.write("\n  at ")
        out.writeHex(f.rip)
        out.write("\n")
        Fatal.writeBacktrace(from: f.rbp)
        Fatal.finish(diagnosis.status)
    }
}

/// Entry from the common interrupt stub (Boot/traps.S) for every vector.
@_cdecl("unikernel_trap")
public func unikernelTrap(_ frame: UnsafeMutablePointer<TrapFrame>) {
    Traps.dispatch(frame)
}
