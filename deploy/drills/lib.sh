# shellcheck shell=bash
# Helpers shared by the compose drills (sourced, not run). Every drill:
#   - runs from the repository root against the stack of docker-compose.yml,
#   - reads node state only through `licensectl --json status` inside the node's own
#     container (docker compose exec), so it needs nothing on the host but docker,
#   - prints a timeline (wall clock, seconds since the drill started, event) and ends
#     with a verdict: PASS (exit 0) or FAIL (exit 1).
#
# Environment:
#   COMPOSE          compose command (default "docker compose"; "docker-compose" works too)
#   DRILL_TIMEOUT_S  default wait for a state change (default 60)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
read -r -a COMPOSE_CMD <<<"${COMPOSE:-docker compose}"
DRILL_TIMEOUT_S=${DRILL_TIMEOUT_S:-60}
# gRPC address of a node as seen from inside its own container (LICENSE_GRPC_ADDR port).
NODE_GRPC=127.0.0.1:7400

# Wall-clock milliseconds (bash 5 EPOCHREALTIME; whole seconds on older shells).
now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
  else
    echo $(($(date +%s) * 1000))
  fi
}

DRILL_T0_MS=$(now_ms)
WATCH_LAST=""
DRILL_CHECKS=()
DRILL_FAILED=0

# fmt_ms MS -> "12.345s"
fmt_ms() {
  local ms=$1 sign=""
  if ((ms < 0)); then sign="-" ms=$((-ms)); fi
  printf '%s%d.%03ds' "$sign" $((ms / 1000)) $((ms % 1000))
}

# event TEXT...: one timeline line.
event() {
  local el=$(($(now_ms) - DRILL_T0_MS))
  printf '%s  +%9s  %s\n' "$(date -u +%H:%M:%S)" "$(fmt_ms "$el")" "$*"
}

dc() { "${COMPOSE_CMD[@]}" "$@"; }

# ctl SERVICE ARGS...: licensectl inside SERVICE's container against that node
# (the admin token comes from the container's LICENSE_ADMIN_TOKEN).
ctl() {
  local svc=$1
  shift
  dc exec -T "$svc" node dist/server/cli/licensectl.js --server "$NODE_GRPC" --timeout 2000 "$@"
}

# Reads JSON on stdin, prints the given dotted fields space-separated ("-" when empty);
# "state" loses its NODE_STATE_ prefix. Runs inside a container (node is there).
# shellcheck disable=SC2016 # JavaScript, not shell
JSON_FIELDS_JS='let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const j=JSON.parse(s);const get=(p)=>p.split(".").reduce((o,k)=>(o==null?undefined:o[k]),j);console.log(process.argv.slice(1).map((p)=>{let v=get(p);if(p==="state")v=String(v).replace(/^NODE_STATE_/,"");return v===undefined||v===null||v===""?"-":String(v);}).join(" "));});'

# Prints "client_id/lease_id" per line for leases whose client id starts with $1.
LEASES_JS='let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const p=process.argv[1]||"";for(const l of JSON.parse(s).leases)if(l.client_id.startsWith(p))console.log(l.client_id+"/"+l.lease_id);});'

# status_fields SERVICE FIELD...: fields of the node's `licensectl --json status`;
# fails (non-zero) when the node cannot answer (container stopped, paused, node down).
status_fields() {
  local svc=$1
  shift
  # shellcheck disable=SC2016 # $1.. expand inside the container's sh, on purpose
  dc exec -T "$svc" sh -c 'js=$1; srv=$2; shift 2; node dist/server/cli/licensectl.js --server "$srv" --timeout 2000 --json status | node -e "$js" "$@"' \
    sh "$JSON_FIELDS_JS" "$NODE_GRPC" "$@" 2>/dev/null
}

# state SERVICE: ACTIVE, STANDBY, FAILOVER_ACTIVE, FAILOVER_BLOCKED, ... or DOWN.
state() {
  local out
  if out=$(status_fields "$1" state) && [[ -n "$out" ]]; then echo "$out"; else echo DOWN; fi
}

# state_epoch SERVICE: "STATE epoch" (epoch 0 when the node holds no lease), or "DOWN -".
state_epoch() {
  local out
  if out=$(status_fields "$1" state epoch) && [[ -n "$out" ]]; then echo "$out"; else echo "DOWN -"; fi
}

holds_lease() { [[ $1 == ACTIVE || $1 == FAILOVER_ACTIVE || $1 == FAILOVER_BLOCKED ]]; }

# Set by watch_until: when the awaited state was first seen, and the states then.
WATCH_AT_MS=0
P_STATE=DOWN
R_STATE=DOWN
DOUBLE_ACTIVE_SEEN=0

# shellcheck disable=SC2034 # WATCH_AT_MS, P_STATE, R_STATE, DOUBLE_ACTIVE_SEEN: read by the drills
# watch_until SERVICE STATE [TIMEOUT_S]: samples both nodes (about twice a second),
# prints every change, and returns once SERVICE reports STATE (1 on timeout). Two
# consecutive samples with both nodes holding the lease count as a double-active
# (DOUBLE_ACTIVE_SEEN): one such sample alone is the sampling skew of a handover
# (the two nodes are read one after the other).
watch_until() {
  local svc=$1 want=$2 timeout_s=${3:-$DRILL_TIMEOUT_S}
  local deadline=$(($(now_ms) + timeout_s * 1000)) both=0 p r pe re line
  while :; do
    read -r p pe <<<"$(state_epoch primary)"
    read -r r re <<<"$(state_epoch redundant)"
    P_STATE=$p R_STATE=$r
    line="primary=$p${pe:+ (epoch $pe)}  redundant=$r${re:+ (epoch $re)}"
    line=${line// (epoch [0-])/}
    if [[ "$line" != "$WATCH_LAST" ]]; then
      event "$line"
      WATCH_LAST=$line
    fi
    if holds_lease "$p" && holds_lease "$r"; then
      both=$((both + 1))
      if ((both >= 2)); then
        DOUBLE_ACTIVE_SEEN=1
        event "!! both nodes report holding the lease"
      fi
    else
      both=0
    fi
    local cur=$p
    [[ $svc == redundant ]] && cur=$r
    if [[ $cur == "$want" ]]; then
      WATCH_AT_MS=$(now_ms)
      return 0
    fi
    if (($(now_ms) > deadline)); then
      [[ $want == - ]] && return 0
      event "timed out after ${timeout_s}s waiting for $svc $want"
      return 1
    fi
    sleep 0.3
  done
}

# watch_for SECONDS: prints the timeline of both nodes for SECONDS (P_STATE/R_STATE
# hold the last sample).
watch_for() { watch_until primary - "$1"; }

# check NAME OK(0/1) DETAIL: records one line of the verdict.
check() {
  local name=$1 ok=$2 detail=${3:-}
  if [[ $ok == 0 ]]; then
    DRILL_CHECKS+=("PASS  $name${detail:+: $detail}")
  else
    DRILL_CHECKS+=("FAIL  $name${detail:+: $detail}")
    DRILL_FAILED=1
  fi
}

# verdict TITLE: prints the checks and exits 0 (PASS) or 1 (FAIL).
verdict() {
  echo
  echo "== verdict: $1"
  local c
  for c in "${DRILL_CHECKS[@]}"; do echo "   $c"; done
  if ((DRILL_FAILED)); then
    echo "== FAIL"
    exit 1
  fi
  echo "== PASS"
  exit 0
}

# require_steady: the drill starts from the normal state (primary ACTIVE, redundant STANDBY).
require_steady() {
  event "waiting for the steady state: primary ACTIVE, redundant STANDBY"
  if ! watch_until primary ACTIVE "$DRILL_TIMEOUT_S" || ! watch_until redundant STANDBY "$DRILL_TIMEOUT_S"; then
    echo "the stack is not in its steady state; start it with: docker compose up -d --build" >&2
    exit 2
  fi
}

# --- probe: a loadgen container holding seats through the drill ------------------
PROBE_ID="drill-probe-$$"
PROBE_CONTAINER="$PROBE_ID"

probe_start() {
  event "probe: starting $PROBE_CONTAINER (2 clients, 1 solver seat each, held all drill long)"
  dc run -d --rm --no-deps --name "$PROBE_CONTAINER" loadgen \
    --clients 2 --features solver --hold-ms 86400000 --ramp-ms 0 --client-id "$PROBE_ID" >/dev/null
}

# probe_leases SERVICE: sorted "client/lease" of the probe, read from SERVICE (any node answers).
probe_leases() {
  # shellcheck disable=SC2016 # $1.. expand inside the container's sh, on purpose
  dc exec -T "$1" sh -c 'js=$1; srv=$2; shift 2; node dist/server/cli/licensectl.js --server "$srv" --timeout 2000 --json leases | node -e "$js" "$@"' \
    sh "$LEASES_JS" "$NODE_GRPC" "$PROBE_ID" 2>/dev/null | sort
}

# probe_wait_seats SERVICE N: waits until the probe holds N leases; prints them.
probe_wait_seats() {
  local svc=$1 n=$2 i leases
  for ((i = 0; i < 60; i++)); do
    leases=$(probe_leases "$svc" || true)
    if [[ -n "$leases" ]] && (($(wc -l <<<"$leases") >= n)); then
      echo "$leases"
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# SIGTERM: the loadgen closes its sessions, which frees the seats. `rm -f` too, because
# some compose versions ignore --rm together with -d.
probe_stop() {
  docker stop -t 20 "$PROBE_CONTAINER" >/dev/null 2>&1 || true
  docker rm -f "$PROBE_CONTAINER" >/dev/null 2>&1 || true
}

# compare_leases WHEN BEFORE AFTER: check that the probe kept every seat (same lease ids).
compare_leases() {
  local when=$1 before=$2 after=$3 lost
  lost=$(comm -23 <(echo "$before") <(echo "$after") | grep -c . || true)
  check "sessions lost $when (must be 0)" "$([[ $lost == 0 ]] && echo 0 || echo 1)" "$lost of $(grep -c . <<<"$before") probe seats gone"
}
