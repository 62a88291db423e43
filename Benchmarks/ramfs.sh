#!/usr/bin/env bash
# RamFS benchmark (issue 6): small-file operations per second and large sequential MB/s.
#   1. on the host: RamFS in-process against the same sequence through system calls on tmpfs (/dev/shm), ratios;
#   2. for reference, the same workload inside a booted image under QEMU (TCG), printed as BENCH lines.
# Usage: Benchmarks/ramfs.sh [runs]     (numbers only; nothing is asserted)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
echo "== host: RamFS in-process vs system calls on tmpfs"
swift run -q -c release RamFSBench "$runs"
echo "== guest: the same workload inside a booted image (microvm, TCG, 512 MiB)"
image=$(swift run -q unikernel build RamFSGuestBench --quiet | tail -1)
swift run -q unikernel run "$image" --memory 512 --append "$runs" --timeout 600
