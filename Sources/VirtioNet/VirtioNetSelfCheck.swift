import Interfaces
import Virtio

extension VirtioNet {
    /// Exercises the virtio-net device behind `transport` and reports named checks (for hypervisor developers;
    /// the runtime prints them as TAP or JSON lines): the transport checks of `VirtioSelfCheck`, driver
    /// initialization and the negotiated features, MAC, MTU and link status from the configuration space, the
    /// receive pool being posted, one broadcast frame (EtherType 0x88B5, IEEE local experimental) transmitted and
    /// returned by the device with the counters updated, frames received meanwhile (if the backend answers), and
    /// the absence of device faults. The driver runs in polling mode; `idle` is called between polls (e.g. to
    /// let the host's device thread run) and at most `pollLimit` polls are made. The device is reset at the end.
    public static func selfCheck(transport: any VirtioTransport, memory: any DMAMemory,
                                 configuration: Configuration = Configuration(), pollLimit: Int = 1_000_000,
                                 idle: () -> Void = {}) -> VirtioCheckReport {
        var report = VirtioCheckReport()
        VirtioSelfCheck.checkTransport(transport, into: &report)
        guard transport.deviceType == .network else {
            report.record("net.device-type", .fail, "device is \(transport.deviceType), not net")
            return report
        }
        var config = configuration
        config.interruptDriven = false
        let net: VirtioNet
        do throws(VirtioError) {
            net = try VirtioNet(transport: transport, memory: memory, configuration: config)
        } catch {
            report.record("net.init", .fail, error.description)
            return report
        }
        report.record("net.init", .pass, "features \(net.features), rx queue \(net.receiveQueue.size), tx queue "
                          + "\(net.transmitQueue.size), header \(net.headerLength) bytes")
        let f = net.features
        report.record("net.feature.mrg-rxbuf", f.contains(.netMergeableReceiveBuffers) ? .pass : .skip,
                      f.contains(.netMergeableReceiveBuffers) ? "negotiated" : "not offered")
        report.record("net.feature.csum", f.contains(.netChecksum) || f.contains(.netGuestChecksum) ? .pass : .skip,
                      "CSUM " + (f.contains(.netChecksum) ? "yes" : "no") + ", GUEST_CSUM "
                          + (f.contains(.netGuestChecksum) ? "yes" : "no"))
        report.record("net.feature.event-idx", f.contains(.eventIndex) ? .pass : .skip,
                      f.contains(.eventIndex) ? "negotiated" : "not offered")

        if f.contains(.netMAC) {
            let raw = MACAddress(transport.readConfig8(at: 0), transport.readConfig8(at: 1), transport.readConfig8(at: 2),
                                 transport.readConfig8(at: 3), transport.readConfig8(at: 4), transport.readConfig8(at: 5))
            let valid = !raw.isMulticast && raw != .zero
            report.expect("net.mac", valid, "device MAC \(raw)" + (valid ? "" : " is not a unicast address"))
        } else {
            report.record("net.mac", .skip, "VIRTIO_NET_F_MAC not offered; using \(net.macAddress)")
        }
        if f.contains(.netMTU) {
            let raw = Int(transport.readConfig16(at: 10))
            report.expect("net.mtu", raw >= 68, "device MTU \(raw), driver uses \(net.mtu)")
        } else {
            report.record("net.mtu", .skip, "VIRTIO_NET_F_MTU not offered; MTU \(net.mtu)")
        }
        if f.contains(.netStatus) {
            report.expect("net.link", net.isLinkUp, net.isLinkUp ? "link up" : "link down")
        } else {
            report.record("net.link", .skip, "VIRTIO_NET_F_STATUS not offered")
        }
        report.expect("net.rx-posted", net.postedReceiveBufferCount == net.receiveBufferTotal,
                      "\(net.postedReceiveBufferCount) of \(net.receiveBufferTotal) receive buffers posted")

        let mac = net.macAddress
        let payload: StaticString = "swift-unikernel virtio-net self-check"
        let sent = net.transmit(length: 60) { frame in
            for i in 0..<6 { frame[i] = 0xFF }
            mac.write(to: frame, at: 6)
            frame[12] = 0x88
            frame[13] = 0xB5
            for i in 14..<60 { frame[i] = 0 }
            payload.withUTF8Buffer { text in
                for (i, b) in text.enumerated() where 14 + i < 60 { frame[14 + i] = b }
            }
        }
        report.expect("net.tx-queued", sent, sent ? "60-byte frame queued" : "no transmit buffer available")
        var polls = 0
        while sent && net.freeTransmitBufferCount < net.transmitBufferTotal && polls < pollLimit {
            net.poll()
            idle()
            polls += 1
        }
        if sent {
            report.expect("net.tx-completed", net.freeTransmitBufferCount == net.transmitBufferTotal,
                          net.freeTransmitBufferCount == net.transmitBufferTotal
                              ? "device returned the buffer after \(polls) polls"
                              : "buffer not returned after \(polls) polls")
        }
        let stats = net.statistics
        report.expect("net.tx-counters", stats.transmittedPackets == (sent ? 1 : 0) && stats.transmittedBytes == (sent ? 60 : 0),
                      "\(stats.transmittedPackets) packets, \(stats.transmittedBytes) bytes")
        var received = 0
        var receivedBytes = 0
        while net.receive({ receivedBytes += $0.count }) { received += 1 }
        report.record("net.rx", received > 0 ? .pass : .skip,
                      received > 0 ? "\(received) frames (\(receivedBytes) bytes) received"
                                   : "no frame received (needs a backend that answers)")
        let after = net.statistics
        report.expect("net.device-faults", after.errors == 0 && !net.isBroken,
                      "\(after.errors) errors (rx queue faults \(net.receiveQueue.faults.total), tx queue faults "
                          + "\(net.transmitQueue.faults.total), config faults \(net.configurationFaults))"
                          + (net.isBroken ? ", queue broken" : ""))
        try? VirtioSetup.reset(transport)
        return report
    }
}
