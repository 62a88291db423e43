import Interfaces

/// Stopping the virtual machine.
public enum Machine {
    /// QEMU's `isa-debug-exit` device as the `unikernel` tool configures it (`iobase=0xf4,iosize=0x04`).
    public static let debugExitPort = IOPort(0xf4)

    /// Ends the VM with `status`. Tries, in order: QEMU's isa-debug-exit (the host sees `status`), ACPI power-off
    /// through the PIIX4/ICH9 PM control port 0x604 (QEMU `pc`/`q35`; the status is lost), and the keyboard
    /// controller reset line. If the machine is still running after all three, it halts with interrupts off.
    public static func exit(_ status: ExitStatus) -> Never {
        CPU.disableInterrupts()
        debugExitPort.write32(UInt32(status.rawValue))
        IOPort(0x604).write16(0x2000)  // SLP_EN | SLP_TYP=0 on QEMU's PM1a control block
        IOPort(0x64).write8(0xFE)      // 8042 pulse reset line
        while true { CPU.halt() }
    }
}
