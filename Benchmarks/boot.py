#!/usr/bin/env python3
"""Boot benchmark for the foundation (issue 2): image size, boot time inside the guest, whole-process QEMU time.

Prints numbers, asserts nothing. Every figure is a median over several runs on this machine, under QEMU TCG:
  * Hello image size, unstripped and stripped (llvm-objcopy --strip-all);
  * entry to main, measured inside the guest with the TSC (KernelCheck `boottime`: TSC at the PVH entry
    instruction against the call of main), and the lazy memory bring-up that follows the first allocation;
  * whole-process time: QEMU started until it exited after Hello printed its greeting, on microvm and pc.
With --linux, the same whole-process measurement runs for the Linux peer (Benchmarks/LinuxPeer: process start to
its READY line), in the same invocation, and the ratios are printed.

Usage: Benchmarks/boot.py [--runs N] [--linux]
"""
import argparse, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=10)
ap.add_argument("--linux", action="store_true", help="also measure the Linux peer (several seconds per boot)")
args = ap.parse_args()

def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, **kw).stdout

def build(product):
    return run(["swift", "run", "-q", "unikernel", "build", product, "--quiet"]).strip().splitlines()[-1]

def med(xs):
    return statistics.median(xs)

hello = build("Hello")
check = build("KernelCheck")
strip = os.path.join(os.path.dirname(os.path.realpath(subprocess.run(["which", "swift"], capture_output=True, text=True).stdout.strip())), "llvm-objcopy")
stripped = "/tmp/unikernel-hello.stripped"
subprocess.run([strip, "--strip-all", hello, stripped], check=True)
print("== image size (Hello)")
print(f"  unstripped {os.path.getsize(hello):>9} bytes")
print(f"  stripped   {os.path.getsize(stripped):>9} bytes   (target <= 65536; Unikraft's hello is 197 KB, quoted)")

def guest_lines(machine, scenario):
    out = subprocess.run(["swift", "run", "-q", "unikernel", "run", check, "--machine", machine, "--append", scenario,
                          "--timeout", "60"], cwd=ROOT, capture_output=True, text=True).stdout
    return out.splitlines()

print(f"== inside the guest: TSC at the PVH entry instruction to the call of main ({args.runs} boots each)")
for machine in ["microvm", "pc"]:
    entry, memory = [], []
    for _ in range(args.runs):
        lines = guest_lines(machine, "boottime")
        for l in lines:
            if l.startswith("BOOT entry_to_main_ns="):
                entry.append(int(l.split()[1].split("=")[1]))
            if l.startswith("BOOT milestone memory ready"):
                memory.append(int(l.split()[4]))
    print(f"  {machine:8} entry->main median {med(entry)/1e6:.3f} ms (min {min(entry)/1e6:.3f}, max {max(entry)/1e6:.3f});"
          f" memory ready (lazy, first allocation) median {med(memory)/1e6:.3f} ms after entry")

def whole_process(argv, marker=None, timeout=120):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    if marker:
        for line in p.stdout:
            if marker.encode() in line:
                elapsed = time.monotonic() - t0
                p.kill(); p.wait()
                return elapsed
        return None
    p.communicate(timeout=timeout)
    return time.monotonic() - t0

print(f"== whole process: QEMU start to exit after Hello's greeting ({args.runs} runs each)")
results = {}
for machine in ["microvm", "pc"]:
    qemu = ["qemu-system-x86_64", "-accel", "tcg", "-M", machine, "-cpu", "max", "-m", "128", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", hello]
    times = [whole_process(qemu) for _ in range(args.runs)]
    results[machine] = med(times)
    print(f"  {machine:8} median {med(times)*1000:.1f} ms (min {min(times)*1000:.1f}, max {max(times)*1000:.1f})")

if args.linux:
    peer = os.path.join(ROOT, "Benchmarks/LinuxPeer")
    subprocess.run([os.path.join(peer, "build.sh")], check=True, stdout=subprocess.DEVNULL)
    print(f"== Linux peer: QEMU start to READY ({max(3, args.runs // 3)} runs each)")
    for machine in ["microvm", "pc"]:
        times = [t for t in (whole_process([os.path.join(peer, "run.sh"), "--machine", machine, "--net", "user",
                                            "--run", "httpd"], marker="READY")
                             for _ in range(max(3, args.runs // 3))) if t]
        if times:
            print(f"  {machine:8} median {med(times)*1000:.1f} ms; Hello boots {med(times)/results[machine]:.0f}x faster")
