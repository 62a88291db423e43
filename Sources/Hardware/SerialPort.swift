import Interfaces

/// A 16550-compatible UART (COM1 at I/O port 0x3f8 on every PC-compatible machine QEMU, Firecracker and Cloud
/// Hypervisor emulate), driven by polling: output never depends on interrupts, so it works in a fault handler.
///
/// Writing never allocates, which is what lets panics and exception reports print after the heap is exhausted.
public struct SerialPort: Sendable {
    /// The base I/O port (THR/RBR at +0).
    public let base: IOPort

    /// COM1.
    public static let com1 = SerialPort(base: IOPort(0x3f8))

    /// Names the UART at `base`. Call `initialize()` before the first write.
    public init(base: IOPort) { self.base = base }

    private var lineStatus: IOPort { base.advanced(by: 5) }

    /// Programs 115200 baud, 8 data bits, no parity, 1 stop bit, FIFOs on, UART interrupts off.
    public func initialize() {
        base.advanced(by: 1).write8(0x00)  // IER: no interrupts
        base.advanced(by: 3).write8(0x80)  // LCR: DLAB on
        base.advanced(by: 0).write8(0x01)  // divisor low: 115200 baud
        base.advanced(by: 1).write8(0x00)  // divisor high
        base.advanced(by: 3).write8(0x03)  // LCR: 8N1, DLAB off
        base.advanced(by: 2).write8(0xC7)  // FCR: enable and clear FIFOs, 14-byte threshold
        base.advanced(by: 4).write8(0x03)  // MCR: DTR, RTS
    }

    /// Sends one byte, waiting (bounded) for the transmit holding register to empty.
    @inline(__always) public func write(_ byte: UInt8) {
        var spins = 0
        while lineStatus.read8() & 0x20 == 0 && spins < 100_000 { spins += 1 }
        base.write8(byte)
    }

    /// Sends the bytes of a static string.
    public func write(_ text: StaticString) {
        text.withUTF8Buffer { for b in $0 { write(b) } }
    }

    /// Sends the UTF-8 bytes of `text`.
    public func write(_ text: String) {
        text.withUTF8Bytes { for b in $0 { write(b) } }
    }

    /// Sends `value` as `0x`-prefixed hexadecimal with exactly `digits` digits (leading zeros kept).
    public func writeHex(_ value: UInt64, digits: Int = 16) {
        write("0x")
        var shift = (min(max(digits, 1), 16) - 1) * 4
        while shift >= 0 {
            let nibble = UInt8((value >> UInt64(shift)) & 0xf)
            write(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
            shift -= 4
        }
    }

    /// Sends `value` in decimal.
    public func writeDecimal(_ value: UInt64) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits, no heap
        withUnsafeMutableBytes(of: &buffer) { bytes in
            var v = value
            var index = bytes.count
            repeat {
                index -= 1
                bytes[index] = 0x30 + UInt8(v % 10)
                v /= 10
            } while v != 0
            for i in index..<bytes.count { write(bytes[i]) }
        }
    }

    /// Whether a received byte is waiting.
    public var hasInput: Bool { lineStatus.read8() & 0x01 != 0 }

    /// The next received byte, if one is waiting.
    public func read() -> UInt8? { hasInput ? base.read8() : nil }
}
