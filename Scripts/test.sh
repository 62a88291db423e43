#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. installs missing Debian packages (QEMU, libelf, gdb, ...);
#   2. builds every example and test image as an Embedded Swift guest (a compile failure is a test failure);
#   3. runs `swift test`: host unit tests, simulated-device tests, and boot tests that boot images in QEMU (TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build --build-tests
swift build --product unikernel
for product in $(Scripts/guest-products.sh); do
    echo "== guest build: $product"
    swift run -q unikernel build "$product" --quiet >/dev/null
done
swift test "$@"
