#!/bin/sh
# Compose stack only: plays the vendor re-issuing the demo license. Signs
# deploy/demo/license.unsigned.json into the shared volume with the next serial (one
# above the license there now: a node never accepts a lower serial than it has seen), and
# with a failover budget of BUDGET_MS when given (the budget is a license term, never a
# setting). The nodes load the new file when they restart.
#   sign-license.sh [BUDGET_MS]
# Run by deploy/drills/budget-exhaust-and-activate.sh in the vendor-init container.
set -eu
out=/vendor
budget=${1:-}
tmp=$(mktemp)
node -e '
const fs = require("node:fs");
const [inFile, current, outFile, budget] = process.argv.slice(1);
const lic = JSON.parse(fs.readFileSync(inFile, "utf8"));
let serial = lic.serial;
try { serial = Math.max(serial, JSON.parse(fs.readFileSync(current, "utf8")).serial + 1); } catch { /* no license yet */ }
lic.serial = serial;
if (budget) lic.failover = { ...lic.failover, budget_ms: Number(budget) };
fs.writeFileSync(outFile, JSON.stringify(lic));
' /app/deploy/demo/license.unsigned.json "$out/license.json" "$tmp" "$budget"
node dist/server/cli/licensectl.js vendor sign-license --key "$out/vendor-private.pem" --in "$tmp" --out "$out/license.json"
rm -f "$tmp"
chmod 0644 "$out/license.json"
