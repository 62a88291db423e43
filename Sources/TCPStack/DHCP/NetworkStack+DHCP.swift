import Interfaces

/// The DHCP client glued to the stack: it runs inside `poll`, and each lease event reconfigures the interface
/// (address and prefix, gateway, DNS servers).
extension NetworkStack {
    /// Releases the lease (DHCPRELEASE) and removes the address; the client then stays idle until
    /// `restartDHCP`. Does nothing with static addressing.
    public func releaseDHCPLease() {
        guard dhcp != nil else { return }
        let event = dhcp!.release(now: now) { destination, message in self.sendDHCP(destination, message) }
        handleDHCPEvent(event)
    }

    /// Starts DHCP over from INIT (after `releaseDHCPLease`, or to force a new lease).
    public func restartDHCP() {
        guard dhcp != nil else { return }
        dhcp!.restart(now: now)
        handleDHCPEvent(.lost)
    }

    func runDHCP(now: Instant) {
        guard dhcp != nil else { return }
        let event = dhcp!.poll(now: now) { destination, message in self.sendDHCP(destination, message) }
        handleDHCPEvent(event)
    }

    func handleDHCP(_ payload: UnsafeRawBufferPointer, now: Instant) {
        guard let message = try? DHCPMessage(validating: payload) else {
            ownCounters.dhcpMalformed += 1
            return
        }
        let event = dhcp!.receive(message, now: now) { destination, bytes in self.sendDHCP(destination, bytes) }
        handleDHCPEvent(event)
    }

    func sendDHCP(_ destination: DHCPDestination, _ message: UnsafeRawBufferPointer) {
        _ = sendUDP(source: destination.source, sourcePort: DHCPMessage.clientPort,
                    destination: destination.destination, destinationPort: DHCPMessage.serverPort, payload: message)
    }

    func handleDHCPEvent(_ event: DHCPEvent?) {
        switch event {
        case .bound(let lease)?, .renewed(let lease)?:
            var configuration = IPv4InterfaceConfiguration(address: lease.network.address,
                                                           prefixLength: lease.network.prefixLength,
                                                           gateway: lease.gateway, dnsServers: lease.dnsServers)
            configuration.network = lease.network
            apply(configuration)
        case .lost?:
            apply(nil)
        case nil:
            break
        }
    }
}
