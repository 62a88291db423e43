/// The 8254 programmable interval timer, used once: to measure the TSC frequency when CPUID does not state it.
///
/// Channel 0 is used because it needs no gate: on QEMU `microvm` there is no port 0x61 (the PC-speaker gate of
/// channel 2). It runs in mode 2 (rate generator) from 0xFFFF at 1,193,182 Hz; its interrupt line stays masked,
/// so it only serves as a counter that is read back with latch commands (Intel 8254 datasheet, "Counter Latch
/// Command").
public enum PIT {
    /// Input clock of the 8254, in Hz.
    public static let frequency: UInt64 = 1_193_182
    /// Counts per period in mode 2 with a reload value of 0xFFFF.
    public static let period: UInt64 = 0xFFFF

    private static let channel0 = IOPort(0x40)
    private static let command = IOPort(0x43)

    /// Starts channel 0 counting down from 0xFFFF, reloading at 1 (mode 2, binary).
    public static func startChannel0() {
        command.write8(0b0011_0100)  // channel 0, lobyte/hibyte access, mode 2, binary
        channel0.write8(0xFF)
        channel0.write8(0xFF)
    }

    /// The current channel-0 count.
    public static func readChannel0() -> UInt16 {
        command.write8(0b0000_0000)  // latch channel 0
        let low = UInt16(channel0.read8())
        let high = UInt16(channel0.read8())
        return high << 8 | low
    }

    /// Ticks elapsed from count `previous` to count `current` of a down-counter with the given period (the
    /// counter may have reloaded once in between). Pure; host-tested.
    public static func ticks(from previous: UInt16, to current: UInt16, period: UInt64 = period) -> UInt64 {
        previous >= current ? UInt64(previous - current) : UInt64(previous) + period - UInt64(current)
    }
}
