import Virtio

/// Prints check results as they happen, so a device that hangs the guest still leaves every earlier result (and
/// the name of the device being checked) on the console.
///
/// TAP 14 (the default): `TAP version 14` first, then `ok N - name # detail` / `not ok N - name # detail` /
/// `ok N - name # SKIP detail` per check, `# ...` comments naming each device before its checks, the plan `1..N`
/// at the end (TAP 14 allows a trailing plan), and a final `# devicecheck: ...` summary comment.
///
/// JSON lines: `{"device":"blk0","type":"blk","location":"..."}` per device, `{"check":"blk0.read-first",
/// "outcome":"pass","detail":"..."}` per check, and a last line `{"summary":{...}}`. Lines that do not start with
/// `{` (runtime log messages) are not part of the output.
final class Reporter {
    let json: Bool
    private(set) var total = 0
    private(set) var passed = 0
    private(set) var failed = 0
    private(set) var skipped = 0

    init(json: Bool) {
        self.json = json
        if !json { print("TAP version 14") }
    }

    /// Announces a device before its checks.
    func device(name: String, type: String, location: String) {
        if json {
            print("{\"device\":\"" + escaped(name) + "\",\"type\":\"" + escaped(type) + "\",\"location\":\""
                      + escaped(location) + "\"}")
        } else {
            print("# " + name + ": virtio " + type + " at " + location)
        }
    }

    /// A remark for people (TAP comment; a `note` object in JSON).
    func note(_ text: String) {
        if json { print("{\"note\":\"" + escaped(text) + "\"}") } else { print("# " + sanitized(text)) }
    }

    /// Prints one check and counts it.
    func record(_ check: VirtioCheck) {
        total += 1
        switch check.outcome {
        case .pass: passed += 1
        case .fail: failed += 1
        case .skip: skipped += 1
        }
        if json {
            print("{\"check\":\"" + escaped(check.name) + "\",\"outcome\":\"" + check.outcome.description
                      + "\",\"detail\":\"" + escaped(check.detail) + "\"}")
        } else {
            let status = check.outcome == .fail ? "not ok " : "ok "
            let directive = check.outcome == .skip ? " # SKIP " : " # "
            print(status + "\(total) - " + sanitized(check.name) + directive + sanitized(check.detail))
        }
    }

    /// Records every check of `report`, its names prefixed with `prefix` and a dot.
    func record(_ report: VirtioCheckReport, prefix: String) {
        for check in report.checks {
            record(VirtioCheck(name: prefix + "." + check.name, outcome: check.outcome, detail: check.detail))
        }
    }

    /// Records a check built from its parts.
    func record(_ name: String, _ outcome: VirtioCheck.Outcome, _ detail: String) {
        record(VirtioCheck(name: name, outcome: outcome, detail: detail))
    }

    /// Prints the plan and the summary; returns whether every check passed (and there was at least one).
    func finish(devices: Int) -> Bool {
        let ok = failed == 0 && total > 0
        let verdict = ok ? "pass" : "fail"
        if json {
            print("{\"summary\":{\"checks\":\(total),\"passed\":\(passed),\"failed\":\(failed),\"skipped\":\(skipped),"
                      + "\"devices\":\(devices),\"result\":\"" + verdict + "\"}}")
        } else {
            print("1..\(total)")
            print("# devicecheck: \(total) checks, \(passed) passed, \(failed) failed, \(skipped) skipped, "
                      + "\(devices) devices: " + verdict)
        }
        return ok
    }

    /// Text safe inside a TAP line: no line breaks, no `#` (which would start a directive).
    private func sanitized(_ s: String) -> String {
        var bytes: [UInt8] = []
        for b in s.utf8 { bytes.append(b == 0x0A || b == 0x0D || b == UInt8(ascii: "#") ? 0x20 : b) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A JSON string body (RFC 8259 §7): quotes, backslashes and control characters escaped.
    private func escaped(_ s: String) -> String {
        let digits: StaticString = "0123456789abcdef"
        var bytes: [UInt8] = []
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(b)
            case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                digits.withUTF8Buffer { d in
                    bytes.append(d[Int(b >> 4)])
                    bytes.append(d[Int(b & 0xF)])
                }
            default: bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
