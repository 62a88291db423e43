#!/usr/bin/env bash
# Quick start: installs what is missing, builds the main example as a guest image and boots it in QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
image=$(swift run -q unikernel build Hello --quiet | tail -1)
echo "== image: $image"
swift run -q unikernel inspect "$image" | head -5
echo "== booting in QEMU (microvm, TCG)"
exec swift run -q unikernel run "$image" --append "one two" --timeout 60
