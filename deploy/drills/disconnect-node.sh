#!/usr/bin/env bash
# Drill: cut one node off the compose network (docker network disconnect), so it loses
# Redis and its peer at once, then reconnect it.
#
#   deploy/drills/disconnect-node.sh [primary|redundant]     (default primary)
#
# primary:   it cannot renew, so it stops acting before its lease can expire; the
#            redundant takes over; after the reconnect the primary takes the cluster
#            back through a handback. Local twin: npm run drill -- primary-cut-from-redis.
# redundant: nothing may change for clients: the primary keeps the lease, the
#            redundant never takes over (it cannot reach Redis either).
# (npm run drill -- nodes-cut-from-each-other cuts only the peer link; that needs a
# proxy between the nodes, which this stack does not have.)
#
# Env: CUT_S (default 20) - how long the node stays cut off after the expected change.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
NODE=${1:-primary}
CUT_S=${CUT_S:-20}
[[ $NODE == primary || $NODE == redundant ]] || { echo "usage: $0 [primary|redundant]" >&2; exit 2; }

cid=$(dc ps -q "$NODE")
[[ -n "$cid" ]] || { echo "no running container for service $NODE" >&2; exit 2; }
# The compose network the node is on (project_default unless the file names one).
network=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{println $k}}{{end}}' "$cid" | head -n1)
[[ -n "$network" ]] || { echo "cannot find the network of $NODE" >&2; exit 2; }

reconnect() {
  # --alias: the service name the peer and clients resolve; a plain connect would lose it.
  docker network connect --alias "$NODE" "$network" "$cid" >/dev/null 2>&1 || true
}
cleanup() {
  probe_stop
  reconnect
}
trap cleanup EXIT

echo "== drill: disconnect $NODE from $network, then reconnect it"
require_steady
probe_start
before=$(probe_wait_seats primary 2) || { echo "the probe got no seats" >&2; exit 2; }
event "probe holds $(grep -c . <<<"$before") seats"

epoch_before=$(status_fields primary epoch || echo "?")
event "docker network disconnect $network $NODE"
docker network disconnect "$network" "$cid"
t_cut=$(now_ms)
if [[ $NODE == primary ]]; then
  if watch_until redundant FAILOVER_ACTIVE 30; then
    check "redundant took over from the cut-off primary" 0 "$(fmt_ms $((WATCH_AT_MS - t_cut))) after the cut"
  else
    check "redundant took over from the cut-off primary" 1 "redundant $R_STATE"
  fi
  check "cut-off primary stopped acting" "$(holds_lease "$P_STATE" && echo 1 || echo 0)" "primary $P_STATE"
  event "keeping the primary cut off for ${CUT_S}s"
  watch_for "$CUT_S"
else
  # Nothing should change: watch for CUT_S seconds.
  watch_for "$CUT_S"
  epoch_now=$(status_fields primary epoch || echo "?")
  check "primary kept the lease" "$([[ $P_STATE == ACTIVE && $epoch_now == "$epoch_before" ]] && echo 0 || echo 1)" "primary $P_STATE, epoch $epoch_before -> $epoch_now"
  check "cut-off redundant did not take over" "$(holds_lease "$R_STATE" && echo 1 || echo 0)" "redundant $R_STATE"
fi

event "docker network connect --alias $NODE $network $NODE"
docker network connect --alias "$NODE" "$network" "$cid"
t_join=$(now_ms)
if watch_until primary ACTIVE 90 && watch_until redundant STANDBY 30; then
  check "steady state again after the reconnect" 0 "$(fmt_ms $((WATCH_AT_MS - t_join))) after the reconnect"
else
  check "steady state again after the reconnect" 1 "primary $P_STATE, redundant $R_STATE"
fi
after=$(probe_leases primary || true)
compare_leases "by the end" "$before" "$after"
check "never two nodes holding the lease" "$DOUBLE_ACTIVE_SEEN"
verdict "disconnect $NODE"
