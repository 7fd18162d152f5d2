#!/bin/sh
# Compose stack only: plays the vendor once, so the demo runs without a real vendor.
# Makes a throwaway vendor key pair and signs the demo license (serial 1, servers
# "primary" and "redundant" as the compose node ids) into the shared volume.
# A production node gets its license file and the vendor's PUBLIC key from the vendor;
# the private key never reaches a customer's machine.
set -eu
out=/vendor
if [ -f "$out/license.json" ]; then
  echo "demo vendor files already in $out"
  exit 0
fi
node dist/server/cli/licensectl.js vendor keygen --out "$out"
node dist/server/cli/licensectl.js vendor sign-license --key "$out/vendor-private.pem" \
  --in /app/deploy/demo/license.unsigned.json --out "$out/license.json"
chmod 0644 "$out/license.json" "$out/vendor-public.pem"
