/// The 8254 programmable interval timer, used once: to measure the TSC frequency when CPUID does not state it.
///
/// Channel 2 is gated through port 0x61 and counts down from 0xFFFF at 1,193,182 Hz in mode 0 (interrupt on
/// terminal count), so about 54.9 ms can be timed without interrupts; the counter is read with a latch command.
public enum PIT {
    /// Input clock of the 8254, in Hz.
    public static let frequency: UInt64 = 1_193_182

    private static let channel2 = IOPort(0x42)
    private static let command = IOPort(0x43)
    private static let gate = IOPort(0x61)

    /// Starts channel 2 counting down from 0xFFFF. Returns immediately.
    public static func startChannel2() {
        let g = gate.read8()
        gate.write8((g & 0xFC) | 0x01)       // gate on, speaker off
        command.write8(0b1011_0000)           // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write8(0xFF)
        channel2.write8(0xFF)
        // Restart the count: the gate's rising edge reloads the counter in mode 0 only after the write.
        gate.write8(gate.read8() & 0xFE)
        gate.write8(gate.read8() | 0x01)
    }

    /// The current channel-2 count (counting down from 0xFFFF).
    public static func readChannel2() -> UInt16 {
        command.write8(0b1000_0000)           // latch channel 2
        let low = UInt16(channel2.read8())
        let high = UInt16(channel2.read8())
        return high << 8 | low
    }

    /// Whether channel 2 has reached terminal count since `startChannel2()` (its OUT pin, port 0x61 bit 5).
    public static var channel2Expired: Bool { gate.read8() & 0x20 != 0 }
}
