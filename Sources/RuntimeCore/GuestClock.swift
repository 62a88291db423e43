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

    /// `nanoseconds` in ticks (saturating): the inverse of `nanoseconds(_:)`, for programming deadlines.
    public func ticks(nanoseconds: UInt64) -> UInt64 {
        let product = nanoseconds.multipliedFullWidth(by: hz)
        guard product.high < 1_000_000_000 else { return .max }
        return UInt64(1_000_000_000).dividingFullWidth(product).quotient
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
/// The frequency comes from CPUID when the CPU states it (leaf 0x15/0x16 or the hypervisor timing leaf);
/// otherwise it is measured against the PIT the first time anyone needs time: 10 ms of PIT channel 0, polled
/// (so boot itself never waits). If the PIT does not count (a machine without one), the clock assumes 1 GHz and
/// says so on the console: time is then only approximately right.
package final class TSCClock {
    package let origin: UInt64
    private var scale: TSCScale?
    /// How the frequency was obtained, for reports.
    private(set) var source: StaticString = "uncalibrated"

    /// Calibration window: 10 ms of PIT ticks (11,932 at 1.193182 MHz).
    static let calibrationTicks: UInt64 = 11_932

    init(origin: UInt64, reportedHz: UInt64?) {
        self.origin = origin
        if let hz = reportedHz, hz >= 1_000_000 {
            scale = TSCScale(hz: hz)
            source = "CPUID"
        }
    }

    package var currentScale: TSCScale {
        if let scale { return scale }
        let measured = calibrate()
        scale = measured
        return measured
    }

    private func calibrate() -> TSCScale {
        PIT.startChannel0()
        var previous = PIT.readChannel0()
        let startTSC = CPU.readTSC()
        var elapsed: UInt64 = 0
        var unchangedReads = 0
        while elapsed < Self.calibrationTicks {
            let count = PIT.readChannel0()
            if count == previous {
                unchangedReads += 1
                if unchangedReads > 1_000_000 {
                    source = "assumed 1 GHz: the PIT does not count"
                    consoleWarning("WARNING: no PIT to calibrate the TSC; assuming 1 GHz, time is approximate\n")
                    return TSCScale(hz: 1_000_000_000)
                }
                continue
            }
            unchangedReads = 0
            elapsed += PIT.ticks(from: previous, to: count)
            previous = count
        }
        let ticks = CPU.readTSC() &- startTSC
        source = "PIT"
        return TSCScale.measured(tscTicks: ticks, referenceTicks: elapsed, referenceHz: PIT.frequency)
            ?? TSCScale(hz: 1_000_000_000)
    }

    package var now: Instant { Instant(nanoseconds: currentScale.nanoseconds(CPU.readTSC() &- origin)) }

    func duration(ticks: UInt64) -> Duration { .nanoseconds(Int64(clamping: currentScale.nanoseconds(ticks))) }
}

/// Writes a warning straight to COM1 (usable before the heap exists).
func consoleWarning(_ text: StaticString) { SerialPort.com1.write(text) }
#endif
