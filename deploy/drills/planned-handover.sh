#!/usr/bin/env bash
# Drill: planned maintenance. `docker compose stop primary` sends SIGTERM: the primary
# stops granting, releases the lease and tells the redundant, which takes over in about
# one round trip (no lease TTL to wait out). Then start the primary: handback.
# Local twin: npm run drill -- planned-handover.
#
# Env: MAX_HANDOVER_S (default 3).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
MAX_HANDOVER_S=${MAX_HANDOVER_S:-3}

cleanup() {
  probe_stop
  dc start primary >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== drill: planned handover (SIGTERM to the primary), then restart it"
require_steady
probe_start
before=$(probe_wait_seats primary 2) || { echo "the probe got no seats" >&2; exit 2; }
event "probe holds $(grep -c . <<<"$before") seats"

event "docker compose stop primary (SIGTERM)"
t_stop=$(now_ms)
dc stop -t 10 primary >/dev/null &
stop_pid=$!
if watch_until redundant FAILOVER_ACTIVE 20; then
  ms=$((WATCH_AT_MS - t_stop))
  check "redundant took over within ${MAX_HANDOVER_S}s" "$((ms > MAX_HANDOVER_S * 1000))" "$(fmt_ms "$ms") (includes docker and sampling latency)"
else
  check "redundant took over" 1 "redundant $R_STATE"
fi
wait "$stop_pid" || true
t_exit=$(now_ms)
# 0: node exited by itself on SIGTERM; 137: the 10 s grace ran out and docker killed it.
code=$(docker inspect -f '{{.State.ExitCode}}' "$(dc ps -aq primary)" 2>/dev/null || echo "?")
check "primary exited cleanly on SIGTERM" "$([[ $code == 0 ]] && echo 0 || echo 1)" "exit code $code, container stopped $(fmt_ms $((t_exit - t_stop))) after SIGTERM (must be within 5 s + docker)"

event "docker compose start primary"
dc start primary >/dev/null
t_start=$(now_ms)
if watch_until primary ACTIVE 90; then
  check "primary took the cluster back" 0 "$(fmt_ms $((WATCH_AT_MS - t_start))) after its start"
else
  check "primary took the cluster back" 1 "primary $P_STATE"
fi
watch_until redundant STANDBY 20 || true
after=$(probe_leases primary || true)
compare_leases "by the end" "$before" "$after"
check "never two nodes holding the lease" "$DOUBLE_ACTIVE_SEEN"
verdict "planned handover"
