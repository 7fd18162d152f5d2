#!/usr/bin/env bash
# Drill: freeze the primary (docker compose pause = cgroup freezer, like SIGSTOP) past
# its lease TTL. The redundant takes over; when the primary thaws it must not act on
# its old lease (it stops acting at renewal + TTL - safety margin on its own clock)
# and takes the cluster back only through a handback. Local twin:
# npm run drill -- pause-primary.
#
# Env: PAUSE_S (default 20) - how long the primary stays frozen after the failover.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
PAUSE_S=${PAUSE_S:-20}

cleanup() {
  probe_stop
  dc unpause primary >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== drill: pause the primary past its lease TTL, then unpause it"
require_steady
probe_start
before=$(probe_wait_seats primary 2) || { echo "the probe got no seats" >&2; exit 2; }
event "probe holds $(grep -c . <<<"$before") seats"

event "docker compose pause primary"
dc pause primary >/dev/null
t_pause=$(now_ms)
if watch_until redundant FAILOVER_ACTIVE 30; then
  event "failover: redundant FAILOVER_ACTIVE $(fmt_ms $((WATCH_AT_MS - t_pause))) after the pause"
  check "redundant took over from the frozen primary" 0 "$(fmt_ms $((WATCH_AT_MS - t_pause)))"
else
  check "redundant took over from the frozen primary" 1 "no FAILOVER_ACTIVE"
fi
event "keeping the primary frozen for ${PAUSE_S}s"
sleep "$PAUSE_S"

event "docker compose unpause primary"
dc unpause primary >/dev/null
# The first answer of the thawed primary: it must already know its lease is gone.
first=DOWN
for _ in $(seq 1 20); do
  first=$(state primary)
  [[ $first != DOWN ]] && break
  sleep 0.2
done
event "thawed primary reports $first"
check "thawed primary does not act on its old lease" "$(holds_lease "$first" && echo 1 || echo 0)" "first state after unpause: $first"

t_unpause=$(now_ms)
if watch_until primary ACTIVE 90; then
  check "primary took the cluster back (handback)" 0 "$(fmt_ms $((WATCH_AT_MS - t_unpause))) after unpause"
else
  check "primary took the cluster back (handback)" 1 "not ACTIVE within 90s"
fi
watch_until redundant STANDBY 20 || true
after=$(probe_leases primary || true)
compare_leases "by the end" "$before" "$after"
check "never two nodes holding the lease" "$DOUBLE_ACTIVE_SEEN"
verdict "pause the primary"
