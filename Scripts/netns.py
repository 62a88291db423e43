"""Shared by Scripts/reliability.py and Benchmarks/network.py: running a command, and network namespaces with TAP
devices in which a guest and every process that talks to it live (nothing is sent from the main namespace).

A namespace is named <prefix>-<pid>-<n>; `Namespace.destroy_all()` (call it in a `finally`) kills what still runs
inside each one this process created, then deletes them.
"""
import os
import signal
import subprocess
import time


class SetupError(RuntimeError):
    """A command, or a step that prepares a measurement, failed."""


def run(command, check=True, timeout=120, **kwargs):
    """Runs `command` with stdout and stderr captured together; raises SetupError on a non-zero status if `check`."""
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                            **kwargs)
    if check and result.returncode != 0:
        raise SetupError(f"{' '.join(command)} failed ({result.returncode}): {result.stdout.strip()[-800:]}")
    return result


class Namespace:
    """A network namespace with its loopback up; add TAP devices with `add_tap`."""
    counter = 0
    live = []

    def __init__(self, prefix):
        Namespace.counter += 1
        self.name = f"{prefix}-{os.getpid()}-{Namespace.counter}"
        run(["ip", "netns", "add", self.name])
        Namespace.live.append(self)
        self.ip(["link", "set", "lo", "up"])

    def ip(self, arguments):
        """Runs `ip` inside the namespace."""
        return run(["ip", "-n", self.name] + arguments)

    def command(self, arguments):
        """`arguments` as a command line that runs inside the namespace."""
        return ["ip", "netns", "exec", self.name] + arguments

    def add_tap(self, name, address=None, arp=True):
        """Adds TAP device `name` (IPv6 off), with `address` (e.g. "10.77.0.1/24") if given, and brings it up."""
        self.ip(["tuntap", "add", "dev", name, "mode", "tap"])
        run(self.command(["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.disable_ipv6=1"]), check=False)
        if address:
            self.ip(["address", "add", address, "dev", name])
        if not arp:
            self.ip(["link", "set", name, "arp", "off"])
        self.ip(["link", "set", name, "up"])

    def pids(self):
        """The processes running inside the namespace."""
        return [int(p) for p in run(["ip", "netns", "pids", self.name], check=False).stdout.split() if p.isdigit()]

    def destroy(self):
        """Kills every process inside, waits up to 5 s for them to go, and deletes the namespace."""
        if self not in Namespace.live:
            return
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(50):
            if not self.pids():
                break
            time.sleep(0.1)
        run(["ip", "netns", "delete", self.name], check=False)
        Namespace.live.remove(self)

    @classmethod
    def destroy_all(cls):
        """Destroys every namespace this process created and has not destroyed yet."""
        for namespace in list(cls.live):
            namespace.destroy()
