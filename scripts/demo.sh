#!/usr/bin/env bash
# The demo: three babeld routers in network namespaces, l3roamd on each, and a client that
# roams between r1 and r3 while a server behind r2 pings it every 10 ms. One line per roam
# with how long IPv6 and IPv4 traffic to the client was cut, then median and max.
#
#   sudo ./scripts/demo.sh [--roams N] [--by-hand] [--timeout S]
#
#   --roams N     number of roams (default 6), alternating active (the client pings the
#                 server throughout) and passive (the client sends nothing of its own accord)
#   --by-hand     no daemon: the script moves the client's host routes itself, as the daemon
#                 would; measures what babeld alone costs a roam (the baseline of the e2e bounds)
#   --timeout S   give up on a roam whose traffic is not back after S seconds (default 60)
#
# L3ROAMD_BIN=PATH runs that l3roamd instead of building one; BABELD_BIN=PATH that babeld
# instead of the one on PATH.
# Run as root on Debian; installs what is missing. Everything runs in namespaces this run
# creates and removes again, also on failure and on Ctrl-C. Logs stay in
# target/netns-logs/demo-<time>-<pid>/ (or under $CARGO_TARGET_DIR), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

roams=6
by_hand=0
restore_timeout=60
while [ $# -gt 0 ]; do
  case "$1" in
    --roams)
      roams=$2
      shift
      ;;
    --by-hand) by_hand=1 ;;
    --timeout)
      restore_timeout=$2
      shift
      ;;
    -h | --help)
      sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo.sh: unknown option $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

fail() {
  echo "demo.sh: FAILED: $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root for network namespaces: sudo $0"

# --- what the demo needs --------------------------------------------------------------------

# shellcheck source=scripts/prerequisites.sh
. scripts/prerequisites.sh
install_missing "${MESH_TOOLS[@]}" || fail "cannot install what the demo needs"

target=${CARGO_TARGET_DIR:-target}
bin=$target/release/l3roamd
if [ -n "${L3ROAMD_BIN:-}" ]; then
  # Another build of the daemon: an older or cross-built one, or the C l3roamd to compare.
  bin=$(readlink -f "$L3ROAMD_BIN")
  echo "daemon: $bin (L3ROAMD_BIN)"
elif [ "$by_hand" = 0 ]; then
  command -v cargo >/dev/null 2>&1 ||
    fail "cargo not found: install a Rust toolchain (rustup, Rust >= 1.85) for root, then rerun"
  echo "building l3roamd (release)"
  cargo build --release --locked
fi

# --- the mesh -------------------------------------------------------------------------------

mesh=tests/netns/mesh.sh
# One directory per run: two demos at once must not share (or tear down) each other's.
logs=$target/netns-logs/demo-$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$logs"
logs=$(readlink -f "$logs")

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  bash "$mesh" down "$logs" || true
  echo "logs: $logs"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$mesh" up "$logs" --owner $$
# shellcheck disable=SC1091
. "$logs/mesh.env"
echo "babeld: $BABELD_BIN ($BABELD_VERSION), hello interval 0.5 s; r1's redistribution rules (the release rule first):"
grep '^redistribute' "$logs/babeld-r1.conf" | sed 's/^/  /'

declare -A daemon_pid
daemon_log() { echo "$logs/l3roamd-$1.log"; }

# A daemon that is gone is the end of the demo: say which, how, and what it logged last.
check_daemons() {
  local r pid status dead=""
  for r in $ROUTERS; do
    pid=${daemon_pid[$r]:-}
    [ -n "$pid" ] || continue
    kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != Z ] && continue
    status=0
    wait "$pid" || status=$?
    unset "daemon_pid[$r]"
    echo "demo.sh: l3roamd on $r exited early (status $status); last lines of $(daemon_log "$r"):" >&2
    tail -n 20 "$(daemon_log "$r")" | sed 's/^/    /' >&2
    dead="$dead $r"
  done
  [ -z "$dead" ] || fail "l3roamd not running on:$dead"
}

start_daemons() {
  local r ns var args deadline
  for r in $ROUTERS; do
    var="NS_${r^^}"
    ns=${!var}
    mapfile -t args < <(bash "$mesh" daemon-args "$logs" "$r")
    echo "$r: l3roamd ${args[*]}" | tee "$(daemon_log "$r")"
    MESH_ENV=$logs/mesh.env ip netns exec "$ns" "$bin" "${args[@]}" </dev/null >>"$(daemon_log "$r")" 2>&1 &
    daemon_pid[$r]=$!
    # A daemon that is already gone needs no stopping; check_daemons reports it.
    bash "$mesh" track "$logs" "$!" "l3roamd-$r" 2>/dev/null || true
  done
  # Up means: the control socket exists (startup step 3) and the daemon is still running a
  # second later (the steps after it can still fail, e.g. binding the node IP).
  deadline=$((SECONDS + 10))
  for r in $ROUTERS; do
    until [ -S "$MESH_RUN/l3roamd-$r.sock" ]; do
      check_daemons
      [ "$SECONDS" -lt "$deadline" ] || fail "l3roamd on $r made no control socket in 10 s (log: $(daemon_log "$r"))"
      sleep 0.1
    done
  done
  sleep 1
  check_daemons
}

now() { date +%s.%N; }

# Waits until every ping log has a reply stamped after T0; 1 if the timeout hits first.
wait_replies() {
  local t0=$1 deadline=$((SECONDS + restore_timeout)) f
  shift
  for f in "$@"; do
    until bash "$mesh" replied-since "$f" "$t0"; do
      [ "$by_hand" = 1 ] || check_daemons
      [ "$SECONDS" -lt "$deadline" ] || return 1
      sleep 0.05
    done
  done
}

if [ "$by_hand" = 1 ]; then
  echo "no daemon (--by-hand): the script moves the client's host routes itself"
  bash "$mesh" host-routes "$logs" r1 add
else
  start_daemons
fi

# The client announces itself as a new client does: it talks to the server (through the
# gateway) until the server can reach it back.
echo "client $CLIENT_MAC ($CLIENT_IP6, $CLIENT_IP4) on r1"
bash "$mesh" ping-start "$logs" cli "$SERVER_IP6" cli6-0
bash "$mesh" ping-start "$logs" cli "$SERVER_IP4" cli4-0
bash "$mesh" ping-start "$logs" srv "$CLIENT_IP6" srv6-0
bash "$mesh" ping-start "$logs" srv "$CLIENT_IP4" srv4-0
t0=$(now)
wait_replies "$t0" "$logs/ping-srv6-0.log" "$logs/ping-srv4-0.log" ||
  fail "the server cannot reach the new client within ${restore_timeout}s (logs: $logs)"
echo "server reaches the client after $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }') ms"
for p in cli6-0 cli4-0 srv6-0 srv4-0; do bash "$mesh" ping-stop "$logs" "$p"; done
sleep 1

results=()
failed=0
at=r1
for i in $(seq 1 "$roams"); do
  to=r3
  [ "$at" = r3 ] && to=r1
  kind=passive
  [ $((i % 2)) = 1 ] && kind=active
  [ "$by_hand" = 1 ] || check_daemons
  bash "$mesh" ping-start "$logs" srv "$CLIENT_IP6" "srv6-$i"
  bash "$mesh" ping-start "$logs" srv "$CLIENT_IP4" "srv4-$i"
  if [ "$kind" = active ]; then
    bash "$mesh" ping-start "$logs" cli "$SERVER_IP6" "cli6-$i"
    bash "$mesh" ping-start "$logs" cli "$SERVER_IP4" "cli4-$i"
  fi
  sleep 1
  t0=$(now)
  if [ "$by_hand" = 1 ]; then
    bash "$mesh" roam "$logs" "$to" --by-hand
  else
    bash "$mesh" roam "$logs" "$to"
  fi
  # Only a reply after the port has moved proves the path through the new router.
  moved=$(now)
  restored=1
  wait_replies "$moved" "$logs/ping-srv6-$i.log" "$logs/ping-srv4-$i.log" || restored=0
  # A little after the first reply: a second gap right after it would count too.
  sleep 1
  t1=$(now)
  for p in "srv6-$i" "srv4-$i" "cli6-$i" "cli4-$i"; do bash "$mesh" ping-stop "$logs" "$p"; done
  cut6=$(bash "$mesh" cut "$logs/ping-srv6-$i.log" "$t0" "$t1")
  cut4=$(bash "$mesh" cut "$logs/ping-srv4-$i.log" "$t0" "$t1")
  if [ "$restored" = 0 ]; then
    failed=$((failed + 1))
    printf 'roam %d  %s -> %s  %-7s  NOT RESTORED within %d s (largest gaps so far: IPv6 %s ms, IPv4 %s ms)\n' \
      "$i" "$at" "$to" "$kind" "$restore_timeout" "$cut6" "$cut4"
  else
    printf 'roam %d  %s -> %s  %-7s  IPv6 cut %6d ms  IPv4 cut %6d ms\n' "$i" "$at" "$to" "$kind" "$cut6" "$cut4"
    results+=("$kind v6 $cut6" "$kind v4 $cut4")
  fi
  at=$to
done

echo "summary (cut = largest gap between the server's echo replies around the move, 10 ms pings):"
for kind in active passive; do
  for fam in v6 v4; do
    printf '%s\n' "${results[@]}" | awk -v k="$kind" -v f="$fam" '$1 == k && $2 == f { print $3 }' |
      sort -n | awk -v label="$kind IP${fam#v}" '
        { v[n++] = $1 }
        END {
          if (n == 0) { printf "  %-12s no roam\n", label; exit }
          med = (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
          printf "  %-12s median %6d ms  max %6d ms  (%d roams)\n", label, med, v[n - 1], n
        }'
  done
done
for r in "${!daemon_pid[@]}"; do
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${daemon_pid[$r]}/status" 2>/dev/null || true)
  [ -z "$rss" ] || echo "  l3roamd on $r: resident memory ${rss} kB"
done | sort
[ "$failed" = 0 ] || fail "$failed of $roams roams did not restore traffic within ${restore_timeout}s"
