import Foundation
import HostNetworking
import Interfaces
import TCPStack
import Testing

/// The TAP device and the namespace helpers on their own, and the poll-driven stack over a TAP (no threads).
@Suite(.serialized, .enabled(if: namespacesAvailable, "needs root, /dev/net/tun and iproute2"))
struct TAPDeviceTests {
    @Test func namespaceIsCreatedWithItsTAPAndDeletedCompletely() throws {
        let name = NetworkNamespace.uniqueName(prefix: "hnt")
        do {
            let namespace = try NetworkNamespace(name: name)
            try namespace.addTAP("tapx", address: "10.78.0.1/24", mtu: 1400)
            let link = namespace.run(["ip", "link", "show", "tapx"])
            #expect(link.succeeded && link.output.contains("mtu 1400"), "\(link.output)")
            let address = namespace.run(["ip", "-4", "address", "show", "tapx"])
            #expect(address.output.contains("10.78.0.1/24"), "\(address.output)")
            #expect(HostCommand.run(["ip", "netns", "list"]).output.contains(name))
            // The interface exists only inside the namespace.
            #expect(!HostCommand.run(["ip", "link", "show", "tapx"]).succeeded)
            // A process left running inside is killed by destroy().
            let sleeper = try BackgroundProcess(in: namespace, ["sleep", "30"])
            Thread.sleep(forTimeInterval: 0.2)
            #expect(!namespace.processIDs.isEmpty)
            namespace.destroy()
            #expect(sleeper.waitForExit(seconds: 5) != nil)
            #expect(namespace.isDestroyed)
        }
        #expect(!HostCommand.run(["ip", "netns", "list"]).output.contains(name))
    }

    @Test func badNamesAndLengthsAreRefused() throws {
        #expect(throws: HostNetworkingError.invalidName("bad name")) { try NetworkNamespace(name: "bad name") }
        #expect(throws: HostNetworkingError.invalidName("-x")) { try NetworkNamespace(name: "-x") }
        #expect(throws: HostNetworkingError.invalidName("a-very-long-interface")) {
            try TAPDevice(name: "a-very-long-interface", macAddress: Link.stackMAC)
        }
        #expect(throws: HostNetworkingError.self) { try NetworkNamespace(existing: "hnt-does-not-exist") }
        let failed = HostCommand.run(["false"])
        #expect(failed.status == 1)
        let missing = HostCommand.run(["hnt-no-such-program"])
        #expect(missing.status == 127)
        let slow = HostCommand.run(["sleep", "5"], timeout: .milliseconds(200))
        #expect(slow.status == HostCommand.timedOutStatus)
    }

    /// Raw frames: an ARP request written to the device reaches Linux, and Linux's reply is read back.
    @Test func arpRequestAndReplyThroughTheRawDevice() throws {
        try withLinkNamespace { namespace in
            let device = try namespace.openTAP(Link.tap, macAddress: Link.stackMAC)
            defer { device.close() }
            #expect(device.isLinkUp && device.mtu == 1500)
            #expect(!device.transmit(length: 13) { _ in Issue.record("fill called for a runt") })
            #expect(!device.transmit(length: 1515) { _ in Issue.record("fill called for an oversized frame") })
            let linkText = namespace.run(["ip", "link", "show", Link.tap]).output
            let hostMAC = linkText.components(separatedBy: "link/ether ").last?.prefix(17).lowercased() ?? "?"

            let sent = device.transmit(length: 42) { frame in
                let bytes: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x77, 0x00, 0x02, 0x08, 0x06,
                                      0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
                                      0x02, 0x00, 0x00, 0x77, 0x00, 0x02, 10, 77, 0, 2,
                                      0, 0, 0, 0, 0, 0, 10, 77, 0, 1]
                frame.copyBytes(from: bytes)
            }
            #expect(sent)
            var reply: [UInt8]? = nil
            let deadline = Date().addingTimeInterval(5)
            while reply == nil && Date() < deadline {
                _ = device.waitForReadable(timeout: .milliseconds(100))
                while device.receive({ frame in
                    // ARP reply (ethertype 0x0806, opcode 2) to us.
                    if frame.count >= 42, frame[12] == 0x08, frame[13] == 0x06, frame[21] == 2 { reply = Array(frame) }
                }) {}
            }
            let r = try #require(reply, "no ARP reply from Linux")
            #expect(Array(r[0..<6]) == [0x02, 0x00, 0x00, 0x77, 0x00, 0x02])   // to our MAC
            #expect(Array(r[28..<32]) == [10, 77, 0, 1])                        // sender: the host address
            #expect(Array(r[32..<38]) == [0x02, 0x00, 0x00, 0x77, 0x00, 0x02])  // target: us
            let senderMAC = r[22..<28].map { String(format: "%02x", $0) }.joined(separator: ":")
            #expect(senderMAC == hostMAC)
            #expect(device.statistics.transmittedPackets == 1 && device.statistics.transmittedBytes == 42)
            #expect(device.statistics.receivedPackets >= 1)
            // Nothing waits after everything was read.
            #expect(!device.waitForReadable(timeout: .zero) || device.receive { _ in })
        }
    }

    /// The poll-driven stack over the TAP: Linux pings it, and it pings Linux.
    @Test func pingBothWaysWithThePollDrivenStack() throws {
        try withLinkNamespace { namespace in
            let device = try namespace.openTAP(Link.tap, macAddress: Link.stackMAC)
            defer { device.close() }
            let stack = NetworkStack(
                device: device,
                addressing: .static(IPv4InterfaceConfiguration(address: Link.stackIPv4, prefixLength: 24,
                                                               gateway: Link.hostIPv4)),
                entropy: SeededEntropy(seed: 7))
            let clock = HostClock()
            func pump(until done: () -> Bool, seconds: Double) {
                let deadline = Date().addingTimeInterval(seconds)
                while !done() && Date() < deadline {
                    stack.poll(now: clock.now)
                    _ = device.waitForReadable(timeout: .milliseconds(10))
                }
            }
            let ping = try BackgroundProcess(in: namespace, ["ping", "-c", "3", "-i", "0.2", "-W", "2", Link.stackAddress])
            pump(until: { !ping.process.isRunning }, seconds: 15)
            #expect(ping.waitForExit(seconds: 1) == 0, "\(ping.output.value)")
            #expect(ping.output.value.contains("3 received"), "\(ping.output.value)")

            try stack.sendEchoRequest(to: Link.hostIPv4, identifier: 0x77, sequenceNumber: 1, payload: Array("swift".utf8))
            var reply: ICMPEchoReply? = nil
            pump(until: {
                reply = reply ?? stack.receiveEchoReply()
                return reply != nil
            }, seconds: 5)
            let r = try #require(reply)
            #expect(r.source == Link.hostIPv4 && r.identifier == 0x77 && r.sequenceNumber == 1)
            #expect(r.payload == Array("swift".utf8))
        }
    }
}
