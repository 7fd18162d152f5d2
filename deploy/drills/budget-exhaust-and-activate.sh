#!/usr/bin/env bash
# Drill: spend the redundant's failover budget, then unblock it with an activation key
# signed by the demo vendor (the private key vendor-init left in the "vendor" volume).
#   1. the vendor re-issues the demo license with a short failover budget: the budget is
#      a license term, never a setting (deploy/demo/sign-license.sh signs the next serial);
#      both nodes restart on it, the redundant down first and up last, so no failover
#   2. kill -9 the primary: FAILOVER_ACTIVE, then FAILOVER_BLOCKED when the budget is spent
#   3. check that a new client is refused (REDUNDANT_BLOCKED) while held seats stay held
#   4. operator: licensectl activation request     -> request key (LRQ1...)
#      vendor:   licensectl vendor sign-activation -> activation key (LAK1...)
#      operator: licensectl activation apply KEY   -> FAILOVER_ACTIVE again
#   5. restore: start the primary (handback), then the vendor re-issues the demo license
#      with the default budget (the next serial again: serials only go up) and both nodes
#      restart on it
# Local twin: npm run drill -- budget-exhaust-and-activate.
#
# Needs a cluster with no failover episode open (a fresh stack, or the primary has held
# the lease for the license's failover.reset_after_ms, 1 h, since the last failover).
# The episode this drill opens stays open (with the activation's extra budget) until then.
#
# Env: DRILL_BUDGET_MS (default 30000) - the short budget.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
DRILL_BUDGET_MS=${DRILL_BUDGET_MS:-30000}

# resign_license [BUDGET_MS]: the demo vendor signs the next serial of the demo license
# (failover budget BUDGET_MS, or the license default), and both nodes restart on it: the
# redundant stops first and starts last, so restarting the primary is no failover.
resign_license() {
  dc stop redundant >/dev/null 2>&1
  dc stop primary >/dev/null 2>&1
  dc run --rm --no-deps -T --entrypoint sh vendor-init /app/deploy/demo/sign-license.sh "$@" >/dev/null
  dc start primary >/dev/null
  watch_until primary ACTIVE 60 || return 1
  dc start redundant >/dev/null
  watch_until redundant STANDBY 60
}
restored=0
cleanup() {
  probe_stop
  dc start primary >/dev/null 2>&1 || true
  if ((!restored)); then
    echo "restoring: re-issuing the demo license with the default failover budget" >&2
    resign_license || true
  fi
}
trap cleanup EXIT

echo "== drill: exhaust the failover budget, then activate"
require_steady
episode=$(status_fields redundant budget.episode_id)
if [[ $episode != - ]]; then
  restored=1
  echo "a failover episode is open ($episode): the short budget would not apply to it." >&2
  echo "wait until the primary has held the lease for the license's failover.reset_after_ms, or start from a fresh stack (docker compose down -v)." >&2
  exit 2
fi

event "vendor: re-issuing the demo license with failover.budget_ms=$DRILL_BUDGET_MS (next serial); both nodes restart on it"
resign_license "$DRILL_BUDGET_MS" || { echo "the nodes did not come back on the re-issued license" >&2; exit 1; }
event "license: $(status_fields primary license_serial budget.granted_ms | awk '{printf "serial %s, failover budget %s ms", $1, $2}')"
probe_start
before=$(probe_wait_seats primary 2) || { echo "the probe got no seats" >&2; exit 2; }
event "probe holds $(grep -c . <<<"$before") seats"

event "docker compose kill -s SIGKILL primary"
dc kill -s SIGKILL primary >/dev/null
t_kill=$(now_ms)
if watch_until redundant FAILOVER_ACTIVE 30; then
  check "redundant took over" 0 "$(fmt_ms $((WATCH_AT_MS - t_kill))) after the kill"
else
  check "redundant took over" 1 "redundant $R_STATE"
fi
t_active=$(now_ms)
if watch_until redundant FAILOVER_BLOCKED $((DRILL_BUDGET_MS / 1000 + 30)); then
  check "redundant blocked once the budget was spent" 0 "$(fmt_ms $((WATCH_AT_MS - t_active))) of serving (budget $(fmt_ms "$DRILL_BUDGET_MS"))"
else
  check "redundant blocked once the budget was spent" 1 "redundant $R_STATE"
  verdict "budget exhaust and activate"
fi
event "budget: $(status_fields redundant budget.remaining_ms budget.consumed_ms budget.granted_ms budget.blocked | awk '{printf "remaining %s ms, consumed %s ms, granted %s ms, blocked %s", $1, $2, $3, $4}')"

event "a new client tries to check out (loadgen, 5 s)"
newclient=$(dc run --rm --no-deps -T loadgen --clients 1 --features solver --duration-ms 5000 --retry-ms 1000 --client-id "drill-blocked-$$" 2>/dev/null || true)
if grep -q '"event":"blocked"' <<<"$newclient" && grep -q 'REDUNDANT_BLOCKED' <<<"$newclient"; then
  check "new sessions/checkouts refused while blocked" 0 "REDUNDANT_BLOCKED"
else
  check "new sessions/checkouts refused while blocked" 1 "loadgen saw no REDUNDANT_BLOCKED"
fi
blocked_leases=$(probe_leases redundant || true)
compare_leases "while blocked" "$before" "$blocked_leases"

event "operator: licensectl activation request (on the redundant)"
request=$(ctl redundant activation request | tr -d '\r' | tail -n1)
[[ $request == LRQ1.* ]] || { check "request key issued" 1 "got: $request"; verdict "budget exhaust and activate"; }
event "request key: ${request:0:24}..."

event "vendor: licensectl vendor sign-activation --key /vendor/vendor-private.pem REQUEST_KEY"
key=$(dc run --rm --no-deps -T --entrypoint node vendor-init dist/server/cli/licensectl.js vendor sign-activation \
  --key /vendor/vendor-private.pem "$request" | tr -d '\r' | tail -n1)
[[ $key == LAK1.* ]] || { check "activation key signed" 1 "got: $key"; verdict "budget exhaust and activate"; }
event "activation key: ${key:0:24}..."

event "operator: licensectl activation apply KEY"
t_apply=$(now_ms)
event "$(ctl redundant activation apply "$key" | tr -d '\r')"
if watch_until redundant FAILOVER_ACTIVE 15; then
  check "activation unblocked the redundant" 0 "FAILOVER_ACTIVE $(fmt_ms $((WATCH_AT_MS - t_apply))) after apply"
else
  check "activation unblocked the redundant" 1 "redundant $R_STATE"
fi
event "budget: $(status_fields redundant budget.remaining_ms budget.activations budget.blocked | awk '{printf "remaining %s ms, %s activation(s), blocked %s", $1, $2, $3}')"
reuse=$(ctl redundant activation apply "$key" 2>&1 || true)
check "the same key is refused a second time" "$([[ $reuse == *ACTIVATION_USED* || $reuse == *already* ]] && echo 0 || echo 1)" "$(tr -d '\r' <<<"$reuse" | head -n1)"

event "restore: docker compose start primary (handback)"
dc start primary >/dev/null
watch_until primary ACTIVE 90 || true
check "primary took the cluster back" "$([[ $P_STATE == ACTIVE ]] && echo 0 || echo 1)" "primary $P_STATE"
after=$(probe_leases primary || true)
compare_leases "by the end" "$before" "$after"
check "never two nodes holding the lease" "$DOUBLE_ACTIVE_SEEN"
event "restore: the vendor re-issues the demo license with the default failover budget (next serial); both nodes restart on it"
restored=1
resign_license || true
verdict "budget exhaust and activate"
