#!/usr/bin/env bash
# Prints the executable products that build into guest images: every target under Examples/ and Tests/Images/.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package --scratch-path .build-guest describe --type json 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
data = json.loads(text[text.index("{"):])
for t in data["targets"]:
    if t.get("type") == "executable" and (t["path"].startswith("Examples/") or t["path"].startswith("Tests/Images/")):
        print(t["name"])
'
