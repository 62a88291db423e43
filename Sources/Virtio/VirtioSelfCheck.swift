import Interfaces

/// The result of one named device check.
public struct VirtioCheck: Equatable, Sendable, CustomStringConvertible {
    /// How a check ended.
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        /// The device behaved as the specification requires.
        case pass
        /// It did not.
        case fail
        /// The check does not apply (a feature not offered, a read-only disk).
        case skip

        /// A human-readable rendering.
        public var description: String {
            switch self {
            case .pass: return "pass"
            case .fail: return "fail"
            case .skip: return "skip"
            }
        }
    }

    /// A stable dotted name, e.g. `blk.write-readback`.
    public var name: String
    /// How it ended.
    public var outcome: Outcome
    /// What was observed (values read, the error seen).
    public var detail: String

    /// Records a check.
    public init(name: String, outcome: Outcome, detail: String) {
        self.name = name
        self.outcome = outcome
        self.detail = detail
    }

    /// `name: outcome (detail)`.
    public var description: String { name + ": " + outcome.description + " (" + detail + ")" }
}

/// An ordered list of checks, as a device self-check produces it.
public struct VirtioCheckReport: Sendable {
    /// The checks in the order they ran.
    public var checks: [VirtioCheck] = []

    /// An empty report.
    public init() {}

    /// Appends a check.
    public mutating func record(_ name: String, _ outcome: VirtioCheck.Outcome, _ detail: String) {
        checks.append(VirtioCheck(name: name, outcome: outcome, detail: detail))
    }

    /// Appends a pass or fail check.
    public mutating func expect(_ name: String, _ passed: Bool, _ detail: String) {
        record(name, passed ? .pass : .fail, detail)
    }

    /// Whether no check failed.
    public var allPassed: Bool { !checks.contains { $0.outcome == .fail } }

    /// The report as TAP version 14 lines (`TAP version 14`, `1..N`, then `ok N - name # detail`; skipped
    /// checks carry the `# SKIP` directive).
    public func tapLines() -> [String] {
        var lines = ["TAP version 14", "1..\(checks.count)"]
        for (i, check) in checks.enumerated() {
            let status = check.outcome == .fail ? "not ok" : "ok"
            let directive = check.outcome == .skip ? " # SKIP " : " # "
            lines.append(status + " \(i + 1) - " + check.name + directive + Self.sanitizedTAP(check.detail))
        }
        return lines
    }

    /// One JSON object per check: `{"check":"…","outcome":"pass","detail":"…"}` (strings escaped per RFC 8259 §7).
    public func jsonLines() -> [String] {
        checks.map { c in
            "{\"check\":\"" + Self.escapedJSON(c.name) + "\",\"outcome\":\"" + c.outcome.description
                + "\",\"detail\":\"" + Self.escapedJSON(c.detail) + "\"}"
        }
    }

    private static func sanitizedTAP(_ s: String) -> String {
        var bytes: [UInt8] = []
        for b in s.utf8 { bytes.append(b == 0x0A || b == 0x0D || b == UInt8(ascii: "#") ? 0x20 : b) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func escapedJSON(_ s: String) -> String {
        var bytes: [UInt8] = []
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(b)
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(digits[Int(b >> 4)])
                bytes.append(digits[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Checks of the transport layer that need no device driver; the device-specific self-checks
/// (`VirtioNet.selfCheck`, `VirtioBlk.selfCheck`) run these first.
public enum VirtioSelfCheck {
    /// Exercises reset, the status handshake, the offered features, queue 0's size and the configuration
    /// generation of `transport`, appending `transport.*` checks to `report`. Leaves the device reset.
    public static func checkTransport(_ transport: any VirtioTransport, into report: inout VirtioCheckReport) {
        report.expect("transport.identity", transport.deviceType.rawValue != 0,
                      "\(transport.deviceType) over \(transport.kind)")

        do throws(VirtioError) {
            try VirtioSetup.reset(transport)
            report.record("transport.reset", .pass, "status reads 0 after reset")
        } catch {
            report.record("transport.reset", .fail, error.description)
            return
        }

        transport.writeStatus([.acknowledge])
        let s1 = transport.readStatus()
        transport.writeStatus([.acknowledge, .driver])
        let s2 = transport.readStatus()
        report.expect("transport.status", s1 == [.acknowledge] && s2 == [.acknowledge, .driver],
                      "after ACKNOWLEDGE read \(s1), after DRIVER read \(s2)")

        let offered = transport.readDeviceFeatures()
        if transport.isLegacy {
            report.expect("transport.features", offered.rawValue >> 32 == 0,
                          "legacy device offers \(offered)")
        } else {
            report.expect("transport.features", offered.contains(.version1),
                          "offers \(offered); VERSION_1 " + (offered.contains(.version1) ? "present" : "missing"))
        }

        let maximum = transport.maximumQueueSize(0)
        let sizeOK = maximum > 0 && maximum <= 32768 && (transport.canChooseQueueSize || maximum & (maximum - 1) == 0)
        report.expect("transport.queue0-size", sizeOK, "queue 0 maximum size \(maximum)")

        let g1 = transport.configGeneration()
        let g2 = transport.configGeneration()
        report.expect("transport.config-generation", g1 == g2, "generation \(g1) then \(g2) with no change")

        do throws(VirtioError) {
            try VirtioSetup.reset(transport)
        } catch {
            report.record("transport.reset-after", .fail, error.description)
        }
    }
}
