#!/usr/bin/env bash
# Drill: crash the primary (SIGKILL), the redundant takes over within about one lease
# TTL with every session and seat intact; restart the primary, it takes the cluster back
# after LICENSE_HANDBACK_AFTER_MS. Local twin: npm run drill -- crash-primary.
# (docker kill counts as a manual stop: `restart: unless-stopped` does not bring the
# primary back by itself, the drill starts it.)
#
#   deploy/drills/kill-primary.sh        (stack running: docker compose up -d --build)
#
# Env: MAX_FAILOVER_S (default 15) - the failover must be seen within this.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
MAX_FAILOVER_S=${MAX_FAILOVER_S:-15}

cleanup() {
  probe_stop
  dc start primary >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== drill: kill -9 the primary, then restart it"
require_steady
probe_start
before=$(probe_wait_seats primary 2) || { echo "the probe got no seats" >&2; exit 2; }
event "probe holds $(grep -c . <<<"$before") seats"

event "docker compose kill -s SIGKILL primary"
dc kill -s SIGKILL primary >/dev/null
t_kill=$(now_ms)
if watch_until redundant FAILOVER_ACTIVE $((MAX_FAILOVER_S + 15)); then
  failover_ms=$((WATCH_AT_MS - t_kill))
  event "failover: redundant FAILOVER_ACTIVE $(fmt_ms "$failover_ms") after the kill"
  check "redundant took over within ${MAX_FAILOVER_S}s" "$((failover_ms > MAX_FAILOVER_S * 1000))" "$(fmt_ms "$failover_ms") (unavailability window, sampled every ~0.5s)"
else
  check "redundant took over" 1 "no FAILOVER_ACTIVE"
fi
sleep 2
during=$(probe_leases redundant || true)
compare_leases "during the failover" "$before" "$during"

event "docker compose start primary"
dc start primary >/dev/null
t_start=$(now_ms)
if watch_until primary ACTIVE 90; then
  event "handback: primary ACTIVE $(fmt_ms $((WATCH_AT_MS - t_start))) after its start"
  check "primary took the cluster back" 0 "$(fmt_ms $((WATCH_AT_MS - t_start))) after start (includes LICENSE_HANDBACK_AFTER_MS)"
else
  check "primary took the cluster back" 1 "primary not ACTIVE within 90s of its start"
fi
watch_until redundant STANDBY 20 || true
check "redundant back to STANDBY" "$([[ $R_STATE == STANDBY ]] && echo 0 || echo 1)" "$R_STATE"
after=$(probe_leases primary || true)
compare_leases "by the end" "$before" "$after"
check "never two nodes holding the lease" "$DOUBLE_ACTIVE_SEEN"
verdict "kill -9 the primary"
