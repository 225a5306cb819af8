#!/usr/bin/env bash
# A stand-in for l3roamd, to check the demo and the e2e harness before the daemon's event loop
# exists; never used unless asked for:
#
#   sudo L3ROAMD_BIN=tests/netns/standin-l3roamd.sh ./scripts/demo.sh
#   sudo L3ROAMD_BIN=tests/netns/standin-l3roamd.sh cargo test --test netns_e2e
#
# It is no daemon: it knows the one client of the mesh from $MESH_ENV (which the demo and the
# harness set) and watches only its bridge FDB, once every 50 ms. While the client's MAC is a
# dynamic FDB entry of -b, it holds the client's /128 and /32 (proto 158, table -t, dev -i)
# and the client's node-client IP on lo; otherwise it holds nothing. At start it deletes every
# other proto-158 route on -i and every other address of fec0::/64 on lo (leftovers); on
# TERM or INT it deletes what it holds. `get_clients` on -s answers in the daemon's format.
# No intercom, no tun, no SEEK: roams are as slow as babeld makes them.
set -euo pipefail

[ -n "${MESH_ENV:-}" ] || {
  echo "standin: MESH_ENV is not set" >&2
  exit 1
}
# shellcheck disable=SC1090
. "$MESH_ENV"

client_if="" bridge="" sock="" table=254
while [ $# -gt 0 ]; do
  case "$1" in
    -i) client_if=$2 && shift ;;
    -b) bridge=$2 && shift ;;
    -s) sock=$2 && shift ;;
    -t) table=$2 && shift ;;
    -a | -p | -P | -m | -e | -4 | -D | -n | -c | --liveness) shift ;;
    -v | -d | --no-*) ;;
    -*) echo "[WARN standin] ignoring unknown option $1" ;;
    *) echo "[WARN standin] ignoring non-option argument \"$1\"" ;;
  esac
  shift
done
state=$MESH_RUN/standin-$$.json
echo -n '{ "clients": 0 }' >"$state"

held=0
hold() {
  ip -6 route replace "$CLIENT_IP6/128" dev "$client_if" proto 158 table "$table"
  ip -4 route replace "$CLIENT_IP4/32" dev "$client_if" proto 158 table "$table"
  ip addr replace "$CLIENT_NCIP/128" dev lo
  printf '{ "clients": 1, "clientlist": { "%s": { "interface": "%s", "addresses": { "%s": { "state": 1 }, "::ffff:%s": { "state": 1 } } } } }' \
    "$CLIENT_MAC" "$client_if" "$CLIENT_IP6" "$CLIENT_IP4" >"$state"
  held=1
  echo "[INFO standin] client $CLIENT_MAC is here: routes and $CLIENT_NCIP added"
}
release() {
  ip -6 route del "$CLIENT_IP6/128" dev "$client_if" proto 158 table "$table" 2>/dev/null || true
  ip -4 route del "$CLIENT_IP4/32" dev "$client_if" proto 158 table "$table" 2>/dev/null || true
  ip addr del "$CLIENT_NCIP/128" dev lo 2>/dev/null || true
  echo -n '{ "clients": 0 }' >"$state"
  held=0
  echo "[INFO standin] client $CLIENT_MAC left: routes and $CLIENT_NCIP removed"
}

socat_pid=""
shutdown() {
  [ "$held" = 0 ] || release
  [ -z "$socat_pid" ] || kill "$socat_pid" 2>/dev/null || true
  [ -z "$sock" ] || rm -f "$sock"
  rm -f "$state"
  echo "[INFO standin] exiting"
  exit 0
}
trap shutdown TERM INT

if [ -n "$client_if" ]; then
  for fam in -6 -4; do
    ip "$fam" route show table "$table" proto 158 dev "$client_if" | while read -r dst _; do
      echo "[INFO standin] deleting leftover route $dst"
      ip "$fam" route del "$dst" dev "$client_if" proto 158 table "$table"
    done
  done
  ip -6 -o addr show dev lo | awk '$4 ~ /^fec0::/ { print $4 }' | while read -r a; do
    echo "[INFO standin] deleting leftover node-client IP $a"
    ip addr del "$a" dev lo
  done
fi
if [ -n "$sock" ]; then
  rm -f "$sock"
  socat "UNIX-LISTEN:$sock,fork" \
    "SYSTEM:read -r line; case \"\$line\" in get_clients*) cat '$state' ;; *) echo 'ERROR: unknown command' ;; esac" &
  socat_pid=$!
fi
echo "[INFO standin] up"
while :; do
  if [ -n "$bridge" ] && bridge fdb show br "$bridge" 2>/dev/null | grep -v permanent | grep -qi "^$CLIENT_MAC "; then
    [ "$held" = 1 ] || hold
  else
    [ "$held" = 0 ] || release
  fi
  sleep 0.05 &
  wait $! || true
done
