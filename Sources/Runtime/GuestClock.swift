import Interfaces

/// Converts time-stamp-counter ticks to nanoseconds with a 32.32 fixed-point multiplier (no division on the
/// hot path, exact to about 1 part in 4 billion). Pure; host-tested.
public struct TSCScale: Equatable, Sendable {
    /// Ticks per second.
    public let hz: UInt64
    /// Nanoseconds per tick, times 2^32.
    public let multiplier: UInt64

    /// A scale for a counter running at `hz` (must be at least 1 kHz).
    public init(hz: UInt64) {
        precondition(hz >= 1000, "TSC frequency below 1 kHz")
        self.hz = hz
        // Double keeps 53 bits: the multiplier (about 2^32 * 1e9 / hz) is exact to well below one part in 10^12.
        multiplier = UInt64((1_000_000_000.0 * 4_294_967_296.0) / Double(hz))
    }

    /// `ticks` in nanoseconds (saturating).
    public func nanoseconds(_ ticks: UInt64) -> UInt64 {
        let product = ticks.multipliedFullWidth(by: multiplier)
        if product.high >> 32 != 0 { return .max }
        return product.high << 32 | product.low >> 32
    }

    /// The frequency measured by counting `tscTicks` while a reference clock of `referenceHz` counted
    /// `referenceTicks` (the PIT, for example), or nil if the measurement is unusable.
    public static func measured(tscTicks: UInt64, referenceTicks: UInt64, referenceHz: UInt64) -> TSCScale? {
        guard referenceTicks > 0, tscTicks > 0 else { return nil }
        let hz = Double(tscTicks) * Double(referenceHz) / Double(referenceTicks)
        guard hz >= 1_000_000, hz <= 100_000_000_000 else { return nil }  // 1 MHz ... 100 GHz
        return TSCScale(hz: UInt64(hz))
    }
}

#if os(none)
import Hardware

/// The guest's monotonic clock: the TSC, with the image's first instruction as time zero.
///
/// The frequency comes from CPUID when the CPU states it; otherwise the PIT's channel 2 starts counting at boot
/// and the frequency is computed the first time anyone needs it, from at least 2 ms of PIT time. Because the
/// measurement window opens at boot, a clock first read after 2 ms costs nothing; one read earlier waits for
/// the rest of the window. If the PIT does not count (no PIT on the machine), the clock falls back to 1 GHz and
/// says so on the console: time is then only approximately right.
final class TSCClock {
    let origin: UInt64
    private var scale: TSCScale?
    private var windowStartTSC: UInt64 = 0
    /// How the frequency was obtained, for the boot log.
    private(set) var source: StaticString = "uncalibrated"

    /// Minimum PIT window: 2 ms at 1.193182 MHz.
    static let minimumPITTicks: UInt64 = 2386

    init(origin: UInt64, reportedHz: UInt64?) {
        self.origin = origin
        if let hz = reportedHz, hz >= 1_000_000 {
            scale = TSCScale(hz: hz)
            source = "CPUID"
        } else {
            PIT.startChannel2()
            windowStartTSC = CPU.readTSC()
        }
    }

    var currentScale: TSCScale {
        if let scale { return scale }
        let measured = calibrate()
        scale = measured
        return measured
    }

    private func calibrate() -> TSCScale {
        var previousCount: UInt16 = 0xFFFF
        var unchangedReads = 0
        while true {
            let count = PIT.readChannel2()
            let tsc = CPU.readTSC()
            if PIT.channel2Expired {
                // More than 54.9 ms passed since the window opened: the count wrapped. Open a new window.
                PIT.startChannel2()
                windowStartTSC = CPU.readTSC()
                previousCount = 0xFFFF
                continue
            }
            let elapsed = UInt64(0xFFFF - count)
            if elapsed >= Self.minimumPITTicks,
               let s = TSCScale.measured(tscTicks: tsc &- windowStartTSC, referenceTicks: elapsed,
                                         referenceHz: PIT.frequency) {
                source = "PIT"
                return s
            }
            unchangedReads = count == previousCount ? unchangedReads + 1 : 0
            previousCount = count
            if unchangedReads > 100_000 {
                source = "assumed 1 GHz: the PIT does not count"
                consoleWarning("WARNING: no PIT to calibrate the TSC; assuming 1 GHz, time is approximate\n")
                return TSCScale(hz: 1_000_000_000)
            }
            CPU.pause()
        }
    }

    var now: Instant { Instant(nanoseconds: currentScale.nanoseconds(CPU.readTSC() &- origin)) }

    func duration(ticks: UInt64) -> Duration { .nanoseconds(Int64(clamping: currentScale.nanoseconds(ticks))) }
}

/// Writes a warning straight to COM1 (usable before the heap exists).
func consoleWarning(_ text: StaticString) { SerialPort.com1.write(text) }
#endif
