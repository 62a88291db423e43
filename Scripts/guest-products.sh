#!/usr/bin/env bash
# Prints the executable products that build into guest images: every executable target that depends on Runtime
# (the examples, the test images under Tests/Images/, the guest benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
swift package --scratch-path .build-guest describe --type json 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
data = json.loads(text[text.index("{"):])
for t in data["targets"]:
    if t.get("type") == "executable" and "Runtime" in t.get("target_dependencies", []):
        print(t["name"])
'
