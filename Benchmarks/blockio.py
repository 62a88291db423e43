#!/usr/bin/env python3
"""virtio-blk throughput: our guest against a Linux guest doing the same I/O under the same QEMU configuration.

Prints numbers, asserts nothing. For each machine, in alternating runs on the same scratch image:
  * ours: the BlockCheck image's `bench` scenario (Tests/Images/BlockCheck) through the runtime's interrupt-driven
    virtio-blk driver: sequential writes of the first SPAN bytes in 4 KiB requests, then sequential reads, then the
    same with 64 KiB requests, one request in flight at a time, timed with the TSC, PASSES passes each;
  * the Linux peer (Benchmarks/LinuxPeer, `--run blockio`): Debian's kernel, /dev/vda opened with O_DIRECT, the same
    sizes, span, order, queue depth and passes, timed with CLOCK_MONOTONIC.
Both print `BENCH blockio_{write,read}_{4,64}k_MBps <MB/s>` (10^6 bytes/s, median of the passes); this script takes
the median over the runs and prints the ratio ours / Linux (above 1: we are faster). Under TCG (the default here)
these are emulation numbers: compare only the ratios of one invocation.

Usage: Benchmarks/blockio.py [--runs 3] [--passes 3] [--span-mib 64] [--machine microvm] [--machine pc ...]
                             [--legacy-virtio] [--no-linux] [--peer-dir DIR]
The Linux peer builds itself on first use (Benchmarks/LinuxPeer/build.sh; output in $LINUX_PEER_OUT or
/tmp/linux-peer).
"""
import argparse, os, re, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--runs", type=int, default=3, help="boots of each guest per machine (default 3)")
ap.add_argument("--passes", type=int, default=3, help="passes per size and direction inside a boot (default 3)")
ap.add_argument("--span-mib", type=int, default=64, help="bytes covered by a pass, MiB (default 64)")
ap.add_argument("--machine", action="append", choices=["microvm", "pc", "q35"],
                help="QEMU machine (repeatable; default microvm and q35)")
ap.add_argument("--legacy-virtio", action="store_true", help="legacy virtio (mmio v1 / disable-modern=on)")
ap.add_argument("--no-linux", action="store_true", help="measure only our guest")
ap.add_argument("--peer-dir", default=os.path.join(ROOT, "Benchmarks", "LinuxPeer"),
                help="the Linux peer kit (build.sh, run.sh); default Benchmarks/LinuxPeer")
ap.add_argument("--timeout", type=int, default=900, help="seconds per boot before giving up (default 900)")
args = ap.parse_args()
machines = args.machine or ["microvm", "q35"]
METRICS = ["blockio_write_4k_MBps", "blockio_read_4k_MBps", "blockio_write_64k_MBps", "blockio_read_64k_MBps"]
BENCH = re.compile(r"^BENCH (\S+) ([0-9.]+) ")


def bench_lines(text):
    return {m.group(1): float(m.group(2)) for m in map(BENCH.match, text.splitlines()) if m}


def ours(tool, image, machine, disk):
    argv = [tool, "run", image, "--machine", machine, "--disk", disk, "--timeout", str(args.timeout),
            "--append", f"bench={args.passes},{args.span_mib}"]
    if args.legacy_virtio:
        argv.append("--legacy-virtio")
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    values = bench_lines(p.stdout)
    if p.returncode != 0 or len(values) < len(METRICS):
        print(f"  ours failed on {machine} (status {p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-1000:]}")
        return None
    return values


def linux(machine, disk):
    argv = [os.path.join(args.peer_dir, "run.sh"), "--machine", machine, "--disk", disk, "--run", "blockio",
            "--args", f"-s,{args.span_mib}m,-r,{args.passes}", "--timeout", str(args.timeout)]
    if args.legacy_virtio:
        argv.append("--legacy-virtio")
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    values = bench_lines(p.stdout)
    if len(values) < len(METRICS):
        print(f"  linux peer failed on {machine} (status {p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-1000:]}")
        return None
    return values


def median_of(runs, metric):
    xs = [r[metric] for r in runs if r and metric in r]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def main():
    print("== building BlockCheck (guest image) and the host tool")
    image = subprocess.run(["swift", "run", "-q", "unikernel", "build", "BlockCheck", "--quiet"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout.strip()
    tool = os.path.join(bin_dir, "unikernel")
    with_linux = not args.no_linux
    if with_linux and not os.access(os.path.join(args.peer_dir, "run.sh"), os.X_OK):
        print(f"  no Linux peer at {args.peer_dir}: our numbers only")
        with_linux = False
    flavour = "legacy" if args.legacy_virtio else "modern"
    with tempfile.TemporaryDirectory(prefix="blockio-") as tmp:
        disk = os.path.join(tmp, "scratch.img")
        with open(disk, "wb") as f:
            f.truncate(args.span_mib << 20)
        for machine in machines:
            print(f"== {machine} ({flavour} virtio), span {args.span_mib} MiB, queue depth 1, {args.runs} runs x "
                  f"{args.passes} passes, alternating guests")
            mine, theirs = [], []
            for run in range(args.runs):
                mine.append(ours(tool, image, machine, disk))
                if with_linux:
                    theirs.append(linux(machine, disk))
                done = "; ".join(f"{k.split('_')[1]} {k.split('_')[2]} {v:.1f}" for k, v in (mine[-1] or {}).items())
                print(f"  run {run + 1}: ours {done or 'failed'}" + (
                    "; linux " + ("ok" if theirs[-1] else "failed") if with_linux else ""))
            print(f"  {'MB/s (10^6 B/s)':24} {'ours':>10} {'min-max':>15} {'linux':>10} {'min-max':>15} {'ratio':>7}")
            for metric in METRICS:
                a = median_of(mine, metric)
                b = median_of(theirs, metric) if with_linux else None
                cells = f"{a[0]:>10.1f} {f'{a[1]:.1f}-{a[2]:.1f}':>15}" if a else f"{'-':>10} {'':>15}"
                cells += f" {b[0]:>10.1f} {f'{b[1]:.1f}-{b[2]:.1f}':>15}" if b else f" {'-':>10} {'':>15}"
                ratio = f"{a[0] / b[0]:>6.2f}x" if a and b and b[0] > 0 else f"{'-':>7}"
                print(f"  {metric:24} {cells} {ratio}")


if __name__ == "__main__":
    sys.exit(main())
