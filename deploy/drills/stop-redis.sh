#!/usr/bin/env bash
# Drill: stop Redis (the only shared state) and start it again. While it is away no
# node may act (neither can renew or take the lease): both must report not holding it
# within one lease TTL, and the redundant must not start a failover episode. With AOF
# (appendonly yes, appendfsync everysec) sessions and seats survive the restart.
# Local twin: npm run drill -- redis-restart.
#
# Env: REDIS_DOWN_S (default 15) - how long Redis stays stopped.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
REDIS_DOWN_S=${REDIS_DOWN_S:-15}

cleanup() {
  probe_stop
  dc start redis >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== drill: stop Redis, then start it again"
require_steady
probe_start
before=$(probe_wait_seats primary 2) || { echo "the probe got no seats" >&2; exit 2; }
event "probe holds $(grep -c . <<<"$before") seats"
budget_before=$(status_fields redundant budget.episode_id budget.consumed_ms || echo "?")

event "docker compose stop redis (SIGTERM: Redis writes its AOF and exits)"
dc stop -t 10 redis >/dev/null
t_stop=$(now_ms)
if watch_until primary STANDBY 30; then
  check "primary stopped acting without Redis" 0 "$(fmt_ms $((WATCH_AT_MS - t_stop))) after the stop"
else
  check "primary stopped acting without Redis" 1 "primary still $P_STATE"
fi
# Hold the outage, watching that the redundant never takes over.
end=$(($(now_ms) + REDIS_DOWN_S * 1000))
took_over=0
while (($(now_ms) < end)); do
  s=$(state redundant)
  holds_lease "$s" && took_over=1
  sleep 1
done
check "redundant did not take over without Redis" "$took_over"

event "docker compose start redis"
dc start redis >/dev/null
t_start=$(now_ms)
if watch_until primary ACTIVE 60; then
  check "primary active again after Redis returned" 0 "$(fmt_ms $((WATCH_AT_MS - t_start))) after the start"
else
  check "primary active again after Redis returned" 1 "primary $P_STATE, redundant $R_STATE"
fi
sleep 2
after=$(probe_leases primary || true)
compare_leases "by the end" "$before" "$after"
budget_after=$(status_fields redundant budget.episode_id budget.consumed_ms || echo "?")
check "no failover budget consumed" "$([[ $budget_after == "$budget_before" ]] && echo 0 || echo 1)" "episode and consumed ms before: $budget_before, after: $budget_after"
check "never two nodes holding the lease" "$DOUBLE_ACTIVE_SEEN"
verdict "stop and start Redis"
