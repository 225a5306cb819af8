#!/usr/bin/env bash
# The namespace mesh of the demo (scripts/demo.sh) and of the end-to-end tests
# (tests/netns_e2e.rs): the only place that defines it. Run as root.
#
#            srv (2001:db8:2::2, 10.0.2.2)
#             |
#   r1 ----- r2 ----- r3          mesh links: veth, IPv6 link-local only (IPv4 via v6)
#   |                 |           node IPs 2001:db8:ff::N/128 on lo, babeld on every router
#   br-client         br-client   same MAC and gateway addresses on both, like Gluon's next-node
#   |
#   cli (2001:db8:1::100, 10.0.1.100)  its port moves between r1's and r3's bridge on a roam
#
# With --clients N, clients cli2 ... cliN (MAC 02:00:00:00:0K:00, 2001:db8:1::100 + K - 1,
# 10.0.1.99 + K) hang on r1's bridge beside cli, each with a port of its own to roam.
#
# Subcommands (DIR is the run's directory: logs, configurations, mesh.env; created by `up`):
#   up DIR [--local-node] [--owner PID] [--clients N]
#                                         build the mesh, start babeld, wait for convergence
#   down DIR                              stop what this run started, delete its namespaces
#   roam DIR TO [--by-hand] [--client C]  move the client's (or client C's) port to router TO
#                                         (r1 or r3); --by-hand also moves its host routes
#                                         (no daemon; cli only)
#   relink DIR ROUTER PEER                delete the mesh link ROUTER-PEER, make it anew
#   rebridge DIR ROUTER                   delete ROUTER's client bridge, make it anew
#   wait-converged DIR [SECONDS]          wait until babeld has converged again
#   host-routes DIR ROUTER add|del        the client's /128 and /32, proto 158, as the daemon
#   track DIR PID NAME                    have `down` (and the watchdog) stop PID too
#   ping-start DIR NODE ADDR NAME         ping ADDR every 10 ms from NODE into DIR/ping-NAME.log
#   ping-stop DIR NAME
#   replied-since FILE T0                 exit 0 if FILE has an echo reply stamped after T0
#   cut FILE T0 T1                        largest gap in ms between echo replies in [T0-1 s, T1]
#                                         (a gap still open at T1 counts up to T1)
#   ncip MAC [PREFIX]                     the node-client IP of MAC (behaviour.md §2.1)
#   daemon-args DIR ROUTER [--gluon]      l3roamd's command line there, one word a line
#   exec DIR NODE CMD...                  run CMD in NODE's namespace
#   rogue DIR                             attach a namespace "rogue" to r2 by a link of its
#                                         own (no babeld on it), routed toward the node IPs,
#                                         node-client IPs and client prefixes: a stranger on
#                                         a mesh link, for the hostile-input tests; adds
#                                         NS_ROGUE, ROGUE_* to mesh.env
# Environment: MESH_NO_RELEASE_RULE=1 leaves babeld's rule for l3roamd's demoted routes
# (proto 159, metric 65534) out of its configuration. BABELD_BIN=PATH runs that babeld on
# the routers instead of the one on PATH (another version or build, to compare); mesh.env
# names the one that ran (BABELD_BIN, BABELD_VERSION).
# After `up`, DIR/mesh.env holds every name and address (shell syntax, also read by the
# Rust harness), so nothing else hard-codes them.
#
# Names: every namespace is called <id>-<node> with an id drawn per run, so parallel runs
# and leftovers of crashed runs never collide; interfaces are created directly inside their
# namespaces (never in the caller's), so their names need no prefix. `down` stops the
# processes DIR/pids lists (checked by start time, so a recycled PID is never hit) and any
# left inside this run's namespaces, then deletes the namespaces DIR/netns lists. With
# --owner, a watchdog runs `down` as soon as the owner process is gone (a test binary killed
# by Ctrl-C runs no destructors). --local-node: Gluon's layout, the gateway MAC and addresses
# on a `local-node` macvlan on top of br-client instead of on the bridge.
set -euo pipefail

MESH_SH=$(readlink -f "${BASH_SOURCE[0]}")

die() {
  echo "mesh.sh: $*" >&2
  exit 1
}

# --- the topology's constants -------------------------------------------------------------

ROUTERS="r1 r2 r3"
# The rogue (`rogue` subcommand): its link to r2, fixed MACs so both link-locals are known.
ROGUE_IF=rg0
ROGUE_MAC=02:00:00:ee:00:01
ROGUE_PEER=r2
ROGUE_PEER_IF=m-rogue
ROGUE_PEER_MAC=02:00:00:ee:00:02
ROGUE_IP6=2001:db8:ee::66
CLIENT_ROUTERS="r1 r3"
NODE_PREFIX=2001:db8:ff::/64
CLIENT_PREFIX6=2001:db8:1::/64
CLIENT_PREFIX4=10.0.1.0/24
NODE_CLIENT_PREFIX=fec0::/64
SERVER_LAN6=2001:db8:2::/64
SERVER_LAN4=10.0.2.0/24
SERVER_GW6=2001:db8:2::1
SERVER_GW4=10.0.2.1
SERVER_IP6=2001:db8:2::2
SERVER_IP4=10.0.2.2
# Gluon's next-node: one anycast MAC and address pair on every router's client bridge. The
# addresses are a /128 and a /32, so the kernel makes no on-link prefix route for the client
# prefix: such a route (metric 256) would beat the daemon's route into its tun (metric 1024).
GW_MAC=02:00:5e:00:53:01
GW_IP6=2001:db8:1::1
GW_IP4=10.0.1.1
CLIENT_BRIDGE=br-client
CLIENT_MAC=02:00:00:00:01:00
CLIENT_IP6=2001:db8:1::100
CLIENT_IP4=10.0.1.100
# The router-side end of the client's veth: the "radio" it is associated with.
CLIENT_PORT=cl-port
BABELD_HELLO=0.5
# What Gluon passes as " -P <prefix>" (never honoured, so node-client IPs stay in fec0::/64).
GLUON_NODE_CLIENT_PREFIX=fd12:3456:789a:bcde::/64

# EUI-64 link-local address of a MAC (what the kernel derives for an interface).
mac_ll() {
  local IFS=:
  # shellcheck disable=SC2086
  set -- $1
  IFS=' '
  compress6 fe80 0 0 0 "$(printf '%x' $(((0x$1 ^ 2) << 8 | 0x$2)))" \
    "$(printf '%x' $((0x$3 << 8 | 0xff)))" "$(printf '%x' $((0xfe00 | 0x$4)))" \
    "$(printf '%x' $((0x$5 << 8 | 0x$6)))"
}

# An IPv6 address as eight 4-digit groups, one a line.
expand6() {
  local addr=${1%%/*} head tail IFS=: n=0 g
  local -a hs=() ts=()
  if [[ $addr == *::* ]]; then
    head=${addr%%::*} tail=${addr#*::}
  else
    head=$addr tail=""
  fi
  # shellcheck disable=SC2206
  [ -z "$head" ] || hs=($head)
  # shellcheck disable=SC2206
  [ -z "$tail" ] || ts=($tail)
  for g in "${hs[@]}"; do printf '%04x\n' "0x$g"; n=$((n + 1)); done
  while [ $((n + ${#ts[@]})) -lt 8 ]; do echo 0000; n=$((n + 1)); done
  for g in "${ts[@]}"; do printf '%04x\n' "0x$g"; done
}

# RFC 5952 text of eight groups given as arguments (what `ip` prints).
compress6() {
  local -a g=()
  local i best=-1 bestlen=1 run=-1 len=0 out=""
  for i in "$@"; do g+=("$(printf '%x' "0x$i")"); done
  for i in 0 1 2 3 4 5 6 7; do
    if [ "${g[i]}" = 0 ]; then
      if [ "$run" -lt 0 ]; then run=$i len=0; fi
      len=$((len + 1))
      if [ "$len" -gt "$bestlen" ]; then best=$run bestlen=$len; fi
    else
      run=-1
    fi
  done
  for i in 0 1 2 3 4 5 6 7; do
    if [ "$best" -ge 0 ] && [ "$i" -ge "$best" ] && [ "$i" -lt $((best + bestlen)) ]; then
      [ "$i" = "$best" ] && out="$out::"
      continue
    fi
    case "$out" in "" | *:) out="$out${g[i]}" ;; *) out="$out:${g[i]}" ;; esac
  done
  echo "$out"
}

# behaviour.md §2.1: the first 64 bits of the prefix (whatever its length), then the modified
# EUI-64 of the MAC.
ncip() {
  local mac=$1 prefix=${2:-$NODE_CLIENT_PREFIX}
  local -a p l
  mapfile -t p < <(expand6 "$prefix")
  mapfile -t l < <(expand6 "$(mac_ll "$mac")")
  compress6 "${p[@]:0:4}" "${l[@]:4:4}"
}

# --- process bookkeeping --------------------------------------------------------------------

# Start time of a process in clock ticks since boot, empty if it is gone or a zombie. A PID
# is only ever signalled if its start time still matches, so a recycled PID is never hit.
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" = Z ] && return 0
  echo "${20}"
}

track() {
  local dir=$1 pid=$2 name=$3 start
  start=$(proc_start "$pid")
  [ -n "$start" ] || die "cannot track $name: process $pid is not running"
  echo "$pid $start $name" >>"$dir/pids"
}

alive() {
  [ -n "$2" ] && [ "$(proc_start "$1")" = "$2" ]
}

# TERM everything listed, give it 5 s (the daemon's shutdown budget under procd), then KILL.
stop_tracked() {
  local dir=$1 pid start name deadline left
  [ -f "$dir/pids" ] || return 0
  while read -r pid start name; do
    if alive "$pid" "$start"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done <"$dir/pids"
  deadline=$((SECONDS + 5))
  while :; do
    left=0
    while read -r pid start name; do
      if alive "$pid" "$start"; then left=1; fi
    done <"$dir/pids"
    [ "$left" = 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      while read -r pid start name; do
        if alive "$pid" "$start"; then
          echo "mesh.sh: $name (pid $pid) ignored TERM for 5 s, killing it" >&2
          kill -KILL "$pid" 2>/dev/null || true
        fi
      done <"$dir/pids"
      break
    fi
    sleep 0.05
  done
}

load_env() {
  local dir=$1
  [ -f "$dir/mesh.env" ] || die "$dir/mesh.env is missing: no mesh was brought up in $dir"
  # shellcheck disable=SC1091
  . "$dir/mesh.env"
}

ns_of() {
  local var="NS_${1^^}"
  [ -n "${!var:-}" ] || die "unknown node '$1' (one of: $ROUTERS srv ${CLIENTS:-cli})"
  echo "${!var}"
}

# Client K (from 1) of `up --clients`: sets C_NAME, C_MAC, C_IP6, C_IP4 and C_PORT. The
# first is `cli`, the one every test uses.
client_k() {
  local k=$1
  if [ "$k" = 1 ]; then
    C_NAME=cli C_MAC=$CLIENT_MAC C_IP6=$CLIENT_IP6 C_IP4=$CLIENT_IP4 C_PORT=$CLIENT_PORT
  else
    C_NAME=cli$k
    C_MAC=$(printf '02:00:00:00:%02x:00' "$k")
    C_IP6=${CLIENT_IP6%::*}::$(printf '%x' $((0x${CLIENT_IP6##*::} + k - 1)))
    C_IP4=${CLIENT_IP4%.*}.$((${CLIENT_IP4##*.} + k - 1))
    C_PORT=$CLIENT_PORT$k
  fi
}

# Where client C's port is now (r1 or r3): its file in DIR.
client_at_file() {
  if [ "$2" = cli ]; then echo "$1/client-at"; else echo "$1/client-at-$2"; fi
}

# --- down -----------------------------------------------------------------------------------

cmd_down() {
  local dir=$1 ns pid start
  [ -d "$dir" ] || return 0
  # `down` may race with itself (the demo's trap and the watchdog): one at a time.
  exec 9>>"$dir/lock"
  flock 9
  if [ -f "$dir/watchdog" ]; then
    read -r pid start <"$dir/watchdog" || true
    if [ "${pid:-}" != "$$" ] && alive "$pid" "$start"; then kill -TERM "$pid" 2>/dev/null || true; fi
    rm -f "$dir/watchdog"
  fi
  stop_tracked "$dir"
  if [ -f "$dir/netns" ]; then
    # Whatever still runs inside this run's namespaces was started by this run without
    # being tracked (a caller's bug): stop it too, or it would outlive the namespace.
    : >"$dir/pids"
    while read -r ns; do
      [ -e "/run/netns/$ns" ] || continue
      for pid in $(ip netns pids "$ns" 2>/dev/null); do
        echo "mesh.sh: untracked process $pid in $ns: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
        echo "$pid $(proc_start "$pid") untracked" >>"$dir/pids"
      done
    done <"$dir/netns"
    stop_tracked "$dir"
    while read -r ns; do
      if [ -e "/run/netns/$ns" ]; then
        ip netns del "$ns" || echo "mesh.sh: could not delete namespace $ns" >&2
      fi
    done <"$dir/netns"
    rm -f "$dir/netns"
  fi
  if [ -f "$dir/mesh.env" ]; then
    (
      load_env "$dir"
      case "$MESH_RUN" in /run/l3r*) rm -rf "$MESH_RUN" ;; esac
    )
  fi
  rm -f "$dir/pids"
  touch "$dir/down"
}

# Runs detached (own session, so a terminal's Ctrl-C does not reach it): once the owner is
# gone, tear down what it left behind.
cmd_watch() {
  local dir=$1 owner=$2 owner_start=$3
  trap '' INT HUP
  while alive "$owner" "$owner_start" && [ ! -e "$dir/down" ]; do
    sleep 1
  done
  if [ ! -e "$dir/down" ]; then
    echo "mesh.sh: owner $owner is gone, tearing down $dir" >&2
    cmd_down "$dir"
  fi
}

# --- up -------------------------------------------------------------------------------------

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

add_ns() {
  local dir=$1 ns=$2
  echo "$ns" >>"$dir/netns"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
}

router_conf() {
  local r=$1 n=${1#r} var ifs
  var="MESH_IFS_${r^^}"
  ifs=${!var}
  echo "# babeld.md §7, generated by tests/netns/mesh.sh"
  echo "router-id 02:00:00:ff:00:0$n"
  echo "local-path $MESH_RUN/babeld-$r.sock"
  echo "default type wired split-horizon false hello-interval $BABELD_HELLO"
  for i in $ifs; do echo "interface $i"; done
  echo "redistribute local ip $NODE_PREFIX eq 128 allow"
  echo "redistribute local ip $NODE_CLIENT_PREFIX eq 128 allow"
  # The release rule first (README "Graceful release and babeld"): l3roamd demotes a
  # released client's routes to proto 159, which babeld must announce at metric 65534.
  # MESH_NO_RELEASE_RULE=1 leaves it out: what a mesh whose babeld lacks it gets.
  if [ -z "${MESH_NO_RELEASE_RULE:-}" ]; then
    echo "redistribute proto 159 ip $CLIENT_PREFIX6 eq 128 metric 65534"
    echo "redistribute proto 159 ip $CLIENT_PREFIX4 eq 32 metric 65534"
  fi
  echo "redistribute proto 158 ip $CLIENT_PREFIX6 eq 128 allow"
  echo "redistribute proto 158 ip $CLIENT_PREFIX4 eq 32 allow"
  if [ "$r" = r2 ]; then
    echo "redistribute ip $SERVER_LAN6 eq ${SERVER_LAN6#*/} allow"
    echo "redistribute ip $SERVER_LAN4 eq ${SERVER_LAN4#*/} allow"
  fi
  echo "redistribute local deny"
  echo "redistribute deny"
}

write_env() {
  local dir=$1 local_node=$2 clients=$3 r k names=""
  {
    echo "# generated by tests/netns/mesh.sh up; shell syntax, one KEY=value a line"
    echo "MESH_ID=$MESH_ID"
    echo "MESH_DIR=$dir"
    echo "MESH_RUN=$MESH_RUN"
    echo "MESH_SH=$MESH_SH"
    for r in $ROUTERS srv; do echo "NS_${r^^}=$MESH_ID-$r"; done
    # Every client by name (suffix _CLI, _CLI2, ...), cli also as CLIENT_MAC etc. below.
    for k in $(seq 1 "$clients"); do
      client_k "$k"
      names="$names${names:+ }$C_NAME"
      echo "NS_${C_NAME^^}=$MESH_ID-$C_NAME"
      echo "CLIENT_MAC_${C_NAME^^}=$C_MAC"
      echo "CLIENT_IP6_${C_NAME^^}=$C_IP6"
      echo "CLIENT_IP4_${C_NAME^^}=$C_IP4"
      echo "CLIENT_PORT_${C_NAME^^}=$C_PORT"
      echo "CLIENT_NCIP_${C_NAME^^}=$(ncip "$C_MAC")"
    done
    echo "CLIENTS=\"$names\""
    echo "ROUTERS=\"$ROUTERS\""
    echo "CLIENT_ROUTERS=\"$CLIENT_ROUTERS\""
    for r in $ROUTERS; do echo "NODE_IP_${r^^}=2001:db8:ff::${r#r}"; done
    echo "MESH_IFS_R1=m-r2"
    echo "MESH_IFS_R2=\"m-r1 m-r3\""
    echo "MESH_IFS_R3=m-r2"
    for v in NODE_PREFIX CLIENT_PREFIX6 CLIENT_PREFIX4 NODE_CLIENT_PREFIX SERVER_LAN6 \
      SERVER_LAN4 SERVER_IP6 SERVER_IP4 GW_MAC GW_IP6 GW_IP4 CLIENT_BRIDGE CLIENT_MAC \
      CLIENT_IP6 CLIENT_IP4 CLIENT_PORT GLUON_NODE_CLIENT_PREFIX; do
      echo "$v=${!v}"
    done
    echo "GW_LL=$(mac_ll "$GW_MAC")"
    echo "CLIENT_LL=$(mac_ll "$CLIENT_MAC")"
    echo "CLIENT_NCIP=$(ncip "$CLIENT_MAC")"
    if [ "$local_node" = 1 ]; then
      echo "LOCAL_NODE=1"
      echo "GW_DEV=local-node"
    else
      echo "LOCAL_NODE=0"
      echo "GW_DEV=$CLIENT_BRIDGE"
    fi
    echo "BABELD_BIN=$BABELD"
    echo "BABELD_VERSION=\"$("$BABELD" -V 2>&1 | head -n1)\""
  } >"$dir/mesh.env"
}

router_sysctls() {
  local ns=$1
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# A client bridge: an always-present dummy port keeps it carrier-up, as the access points on
# a Gluon node's br-client do, so a roam never restarts the gateway's DAD or routes.
# --reattach: the bridge is re-created, and its ports (still there) join it again.
client_bridge() {
  local ns=$1 n=$2 local_node=$3 reattach=${4:-} gwdev
  if [ "$local_node" = 1 ]; then
    # Gluon: the bridge has the node's own MAC, the next-node MAC and addresses live on the
    # local-node macvlan on top of it.
    ip -n "$ns" link add name "$CLIENT_BRIDGE" address "02:00:00:00:0$n:01" type bridge
    ip -n "$ns" link add name local-node link "$CLIENT_BRIDGE" address "$GW_MAC" type macvlan mode bridge
    gwdev=local-node
  else
    ip -n "$ns" link add name "$CLIENT_BRIDGE" address "$GW_MAC" type bridge
    gwdev=$CLIENT_BRIDGE
  fi
  if [ "$reattach" != --reattach ]; then
    # A veth pair rather than a dummy: not every kernel has the dummy driver.
    ip -n "$ns" link add name ap0 type veth peer name ap0-air
    in_ns "$ns" sysctl -qw net.ipv6.conf.ap0.disable_ipv6=1 net.ipv6.conf.ap0-air.disable_ipv6=1
    # ap0-air shares the router's namespace: by default it would answer an ARP request for
    # the gateway's 10.0.1.1 that the daemon sends on the bridge (a SEEK for it), with its
    # own MAC, and the daemon would learn a "client" there. A radio does not answer for its
    # router.
    in_ns "$ns" sysctl -qw net.ipv4.conf.ap0-air.arp_ignore=1
    ip -n "$ns" link set ap0-air up
  fi
  ip -n "$ns" link set ap0 master "$CLIENT_BRIDGE" up
  ip -n "$ns" link set "$CLIENT_BRIDGE" up
  [ "$gwdev" = "$CLIENT_BRIDGE" ] || ip -n "$ns" link set "$gwdev" up
  ip -n "$ns" addr add "$GW_IP6/128" dev "$gwdev" nodad
  ip -n "$ns" addr add "$GW_IP4/32" dev "$gwdev"
}

wait_for() {
  local what=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${timeout}s waiting for $what"
    sleep 0.1
  done
}

no_tentative() {
  [ -z "$(ip -n "$1" -6 addr show tentative)" ]
}

has_route() {
  local ns=$1 fam=$2 dst=$3
  ip -n "$ns" "$fam" route show "$dst" | grep -q .
}

converged() {
  has_route "$NS_R1" -6 "$NODE_IP_R3/128" && has_route "$NS_R3" -6 "$NODE_IP_R1/128" &&
    has_route "$NS_R2" -6 "$NODE_IP_R1/128" && has_route "$NS_R2" -6 "$NODE_IP_R3/128" &&
    has_route "$NS_R1" -6 "$SERVER_LAN6" && has_route "$NS_R3" -6 "$SERVER_LAN6" &&
    has_route "$NS_R1" -4 "$SERVER_LAN4" && has_route "$NS_R3" -4 "$SERVER_LAN4"
}

cmd_up() {
  local dir=$1 local_node=0 owner="" clients=1 r n ns var k
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --local-node) local_node=1 ;;
      --owner)
        owner=$2
        shift
        ;;
      --clients)
        clients=$2
        case "$clients" in [1-9]) ;; *) die "up: --clients $clients: 1 to 9" ;; esac
        shift
        ;;
      *) die "up: unknown option $1" ;;
    esac
    shift
  done
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
  local missing=""
  for tool in ip ping stdbuf flock setsid sysctl; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "${BABELD_BIN:-}" ]; then
    BABELD=$(readlink -f "$BABELD_BIN" 2>/dev/null || true)
    if [ ! -f "$BABELD" ] || [ ! -x "$BABELD" ]; then
      die "BABELD_BIN=$BABELD_BIN is not an executable file"
    fi
  else
    BABELD=$(command -v babeld 2>/dev/null) || missing="$missing babeld"
  fi
  [ -z "$missing" ] || die "missing:$missing; install with: apt-get install -y babeld iproute2 iputils-ping procps coreutils util-linux"
  mkdir -p "$dir"
  dir=$(readlink -f "$dir")
  [ ! -e "$dir/mesh.env" ] || [ -e "$dir/down" ] || die "$dir holds a mesh that is still up: run 'mesh.sh down $dir' first"
  rm -f "$dir/down" "$dir/netns" "$dir/pids" "$dir/mesh.env" "$dir"/client-at* "$dir"/ping-*.log
  # Short: babeld's and l3roamd's socket paths must fit in sun_path.
  MESH_ID=l3r$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  MESH_RUN=/run/$MESH_ID
  mkdir -p "$MESH_RUN"
  write_env "$dir" "$local_node" "$clients"
  load_env "$dir"
  # Anything that fails from here on leaves nothing behind.
  UP_DIR=$dir
  trap 'echo "mesh.sh: up failed, tearing down" >&2; cmd_down "$UP_DIR"' EXIT

  if [ -n "$owner" ]; then
    local owner_start
    owner_start=$(proc_start "$owner")
    [ -n "$owner_start" ] || die "owner $owner is not running"
    setsid bash "$MESH_SH" watch "$dir" "$owner" "$owner_start" \
      </dev/null >>"$dir/watchdog.log" 2>&1 &
    echo "$! $(proc_start $!)" >"$dir/watchdog"
  fi

  for r in $ROUTERS srv $CLIENTS; do
    ns=$(ns_of "$r")
    add_ns "$dir" "$ns"
  done
  for r in $ROUTERS; do router_sysctls "$(ns_of "$r")"; done

  # Mesh links, each end created inside its namespace.
  ip -n "$NS_R1" link add name m-r2 type veth peer name m-r1 netns "$NS_R2"
  ip -n "$NS_R2" link add name m-r3 type veth peer name m-r2 netns "$NS_R3"
  for r in $ROUTERS; do
    ns=$(ns_of "$r")
    n=${r#r}
    var="MESH_IFS_${r^^}"
    for i in ${!var}; do ip -n "$ns" link set "$i" up; done
    ip -n "$ns" addr add "2001:db8:ff::$n/128" dev lo
  done

  # The server's LAN behind r2.
  ip -n "$NS_R2" link add name lan0 type veth peer name eth0 netns "$NS_SRV"
  ip -n "$NS_R2" addr add "$SERVER_GW6/${SERVER_LAN6#*/}" dev lan0
  ip -n "$NS_R2" addr add "$SERVER_GW4/${SERVER_LAN4#*/}" dev lan0
  ip -n "$NS_R2" link set lan0 up
  in_ns "$NS_SRV" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.eth0.accept_dad=0
  ip -n "$NS_SRV" addr add "$SERVER_IP6/${SERVER_LAN6#*/}" dev eth0
  ip -n "$NS_SRV" addr add "$SERVER_IP4/${SERVER_LAN4#*/}" dev eth0
  ip -n "$NS_SRV" link set eth0 up
  ip -n "$NS_SRV" -6 route add default via "$SERVER_GW6" dev eth0
  ip -n "$NS_SRV" -4 route add default via "$SERVER_GW4" dev eth0

  for r in $CLIENT_ROUTERS; do client_bridge "$(ns_of "$r")" "${r#r}" "$local_node"; done

  # The clients: one interface, default kernel settings (it does its own DAD, sends MLD
  # reports when its carrier returns, and nothing else unasked), like a Wi-Fi station.
  for k in $(seq 1 "$clients"); do
    client_k "$k"
    ns=$(ns_of "$C_NAME")
    ip -n "$ns" link add name eth0 address "$C_MAC" type veth peer name "$C_PORT" netns "$NS_R1"
    in_ns "$NS_R1" sysctl -qw "net.ipv6.conf.$C_PORT.disable_ipv6=1"
    ip -n "$NS_R1" link set "$C_PORT" master "$CLIENT_BRIDGE" up
    echo r1 >"$(client_at_file "$dir" "$C_NAME")"
    ip -n "$ns" addr add "$C_IP6/${CLIENT_PREFIX6#*/}" dev eth0
    ip -n "$ns" addr add "$C_IP4/${CLIENT_PREFIX4#*/}" dev eth0
    ip -n "$ns" link set eth0 up
    # The gateway by its link-local address, as a router advertisement would give it; IPv4
    # through 10.0.1.1, on-link for the client thanks to its /24 (no `onlink` needed). The
    # routers answer ARP for their /32 although they have no route back to the client until
    # the daemon adds one: rp_filter is off (babeld turns it off too).
    ip -n "$ns" -6 route add default via "$GW_LL" dev eth0
    ip -n "$ns" -4 route add default via "$GW_IP4" dev eth0
  done

  for r in $ROUTERS srv $CLIENTS; do wait_for "DAD in $r" 10 no_tentative "$(ns_of "$r")"; done

  for r in $ROUTERS; do
    ns=$(ns_of "$r")
    router_conf "$r" >"$dir/babeld-$r.conf"
    # babeld would otherwise share /var/run/babeld.pid and /var/lib/babel-state with every
    # other instance on the machine.
    # A simple command, not in_ns: `&` then forks a process that becomes babeld itself
    # (ip netns exec execs), so $! is babeld's PID.
    ip netns exec "$ns" "$BABELD" -I "$MESH_RUN/babeld-$r.pid" -S "$MESH_RUN/babel-state-$r" \
      -c "$dir/babeld-$r.conf" ${MESH_BABELD_DEBUG:+-d "$MESH_BABELD_DEBUG"} \
      </dev/null >"$dir/babeld-$r.log" 2>&1 &
    track "$dir" "$!" "babeld-$r"
  done
  wait_for "babeld to converge (see $dir/babeld-r*.log)" 30 converged

  trap - EXIT
  echo "mesh $MESH_ID up: $dir/mesh.env"
}

# --- a stranger on a mesh link ------------------------------------------------------------

cmd_rogue() {
  local dir=$1 ns peer_ns rogue_ll peer_ll p
  load_env "$dir"
  [ -z "${NS_ROGUE:-}" ] || die "$dir already has a rogue ($NS_ROGUE)"
  ns=$MESH_ID-rogue
  peer_ns=$(ns_of "$ROGUE_PEER")
  add_ns "$dir" "$ns"
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link add name "$ROGUE_IF" address "$ROGUE_MAC" type veth \
    peer name "$ROGUE_PEER_IF" address "$ROGUE_PEER_MAC" netns "$peer_ns"
  ip -n "$ns" link set "$ROGUE_IF" up
  ip -n "$peer_ns" link set "$ROGUE_PEER_IF" up
  ip -n "$ns" addr add "$ROGUE_IP6/128" dev lo
  rogue_ll=$(mac_ll "$ROGUE_MAC")
  peer_ll=$(mac_ll "$ROGUE_PEER_MAC")
  for p in "$NODE_PREFIX" "$NODE_CLIENT_PREFIX" "$CLIENT_PREFIX6"; do
    ip -n "$ns" -6 route add "$p" via "$peer_ll" dev "$ROGUE_IF" src "$ROGUE_IP6"
  done
  # The way back, so that what r1 or r3 answer to the rogue's own address arrives: r2 knows
  # it statically, and the others have no route to it (a stranger is not in babeld).
  ip -n "$peer_ns" -6 route add "$ROGUE_IP6/128" via "$rogue_ll" dev "$ROGUE_PEER_IF"
  wait_for "DAD in the rogue" 10 no_tentative "$ns"
  {
    echo "NS_ROGUE=$ns"
    for v in ROGUE_IF ROGUE_MAC ROGUE_PEER ROGUE_PEER_IF ROGUE_PEER_MAC ROGUE_IP6; do
      echo "$v=${!v}"
    done
    echo "ROGUE_LL=$rogue_ll"
    echo "ROGUE_PEER_LL=$peer_ll"
  } >>"$dir/mesh.env"
  echo "rogue $ns attached to $ROGUE_PEER ($ROGUE_PEER_IF)"
}

# --- roaming and measuring ------------------------------------------------------------------

cmd_host_routes() {
  local dir=$1 r=$2 op=$3 ns
  load_env "$dir"
  ns=$(ns_of "$r")
  # Create + replace, as the daemon sends them (behaviour.md §9.1): the new router usually
  # holds babeld's route to the client already, with the same metric.
  [ "$op" = add ] && op=replace
  ip -n "$ns" -6 route "$op" "$CLIENT_IP6/128" dev "$GW_DEV" proto 158
  ip -n "$ns" -4 route "$op" "$CLIENT_IP4/32" dev "$GW_DEV" proto 158
}

cmd_roam() {
  local dir=$1 to=$2 by_hand="" client=cli from var port at
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --by-hand) by_hand=1 ;;
      --client)
        client=$2
        shift
        ;;
      *) die "roam: unknown option $1" ;;
    esac
    shift
  done
  load_env "$dir"
  var="CLIENT_PORT_${client^^}"
  port=${!var:-}
  [ -n "$port" ] || die "roam: no client $client (clients: $CLIENTS)"
  [ -z "$by_hand" ] || [ "$client" = cli ] || die "roam: --by-hand moves cli only"
  at=$(client_at_file "$dir" "$client")
  from=$(cat "$at")
  [ "$from" != "$to" ] || die "$client is already at $to"
  case " $CLIENT_ROUTERS " in *" $to "*) ;; *) die "$to has no client bridge" ;; esac
  if [ -n "$by_hand" ]; then cmd_host_routes "$dir" "$from" del; fi
  # Leaving the namespace takes the port down and out of the bridge: the client's carrier
  # drops, as when a station leaves an access point.
  ip -n "$(ns_of "$from")" link set "$port" netns "$(ns_of "$to")"
  in_ns "$(ns_of "$to")" sysctl -qw "net.ipv6.conf.$port.disable_ipv6=1"
  ip -n "$(ns_of "$to")" link set "$port" master "$CLIENT_BRIDGE" up
  echo "$to" >"$at"
  if [ -n "$by_hand" ]; then cmd_host_routes "$dir" "$to" add; fi
}

# Deletes ROUTER's mesh link toward PEER (its veth, and with it PEER's end) and makes it
# anew under the same names: new interface indexes and link-local addresses, as when a
# router's mesh interface is torn down and set up again.
cmd_relink() {
  local dir=$1 a=$2 b=$3 var
  load_env "$dir"
  var="MESH_IFS_${a^^}"
  case " ${!var} " in *" m-$b "*) ;; *) die "$a has no mesh link to $b" ;; esac
  ip -n "$(ns_of "$a")" link del "m-$b"
  ip -n "$(ns_of "$a")" link add name "m-$b" type veth peer name "m-$a" netns "$(ns_of "$b")"
  ip -n "$(ns_of "$a")" link set "m-$b" up
  ip -n "$(ns_of "$b")" link set "m-$a" up
}

# Deletes ROUTER's client bridge (its ports stay, out of the bridge) and makes it anew as
# `up` did, with the same ports: a new interface index, as when the bridge is rebuilt.
cmd_rebridge() {
  local dir=$1 r=$2 ns c var
  load_env "$dir"
  case " $CLIENT_ROUTERS " in *" $r "*) ;; *) die "$r has no client bridge" ;; esac
  ns=$(ns_of "$r")
  ip -n "$ns" link del "$CLIENT_BRIDGE"
  # shellcheck disable=SC2153 # LOCAL_NODE comes from mesh.env
  client_bridge "$ns" "${r#r}" "$LOCAL_NODE" --reattach
  for c in $CLIENTS; do
    if [ "$(cat "$(client_at_file "$dir" "$c")")" = "$r" ]; then
      var="CLIENT_PORT_${c^^}"
      ip -n "$ns" link set "${!var}" master "$CLIENT_BRIDGE" up
    fi
  done
}

# Waits until babeld routes between the routers and to the server again (as after `up`).
cmd_wait_converged() {
  local dir=$1 timeout=${2:-30}
  load_env "$dir"
  wait_for "babeld to converge (see $dir/babeld-r*.log)" "$timeout" converged
}

cmd_ping_start() {
  local dir=$1 node=$2 addr=$3 name=$4
  load_env "$dir"
  # stdbuf: ping block-buffers a file, and replies must be readable while it runs.
  ip netns exec "$(ns_of "$node")" stdbuf -oL ping -n -D -i 0.01 "$addr" \
    </dev/null >"$dir/ping-$name.log" 2>&1 &
  echo "$!" >"$dir/ping-$name.pid"
  track "$dir" "$!" "ping-$name"
}

cmd_ping_stop() {
  local dir=$1 name=$2 pid start line
  [ -f "$dir/ping-$name.pid" ] || return 0
  pid=$(cat "$dir/ping-$name.pid")
  line=$(grep "^$pid " "$dir/pids" || true)
  start=$(echo "$line" | cut -d' ' -f2)
  if alive "$pid" "$start"; then kill -INT "$pid" 2>/dev/null || true; fi
  rm -f "$dir/ping-$name.pid"
}

# Echo-reply timestamps (ping -D) of FILE, one a line.
reply_times() {
  sed -n 's/^\[\([0-9.]*\)\] [0-9]* bytes from .*/\1/p' "$1"
}

cmd_replied_since() {
  # awk reads to the end: leaving early would kill sed with SIGPIPE, and pipefail would
  # turn a found reply into a failure.
  reply_times "$1" | awk -v t0="$2" '$1 > t0 { found = 1 } END { exit !found }'
}

# A gap still open at T1 counts up to T1.
cmd_cut() {
  reply_times "$1" | awk -v t0="$2" -v t1="$3" '
    $1 >= t0 - 1 && $1 <= t1 { if (n++) { gap = $1 - last; if (gap > max) max = gap } last = $1 }
    END {
      if (n == 0) { printf "%d\n", (t1 - t0 + 1) * 1000 + 0.5; exit }
      if (t1 - last > max) max = t1 - last
      printf "%d\n", max * 1000 + 0.5
    }'
}

# The daemon's command line on router R, one word a line. Standard: what the demo and most
# tests run, duplicate detection through babeld's socket included. --gluon: Gluon's init script's exact words (cli-and-control.md §3.1), including
# its last word, whose leading space hides -P from getopt; only on the client routers.
cmd_daemon_args() {
  local dir=$1 r=$2 style=${3:-standard} var ifs i
  load_env "$dir"
  var="NODE_IP_${r^^}"
  local node_ip=${!var}
  var="MESH_IFS_${r^^}"
  ifs=${!var}
  local sock="$MESH_RUN/l3roamd-$r.sock"
  local client=0
  case " $CLIENT_ROUTERS " in *" $r "*) client=1 ;; esac
  if [ "$style" = --gluon ]; then
    [ "$client" = 1 ] || die "daemon-args --gluon: $r has no client bridge"
    printf '%s\n' -s "$sock" -p "$CLIENT_PREFIX4" -p "$CLIENT_PREFIX6"
    for i in $ifs; do printf '%s\n' -m "$i"; done
    printf '%s\n' -i "$GW_DEV" -t 254 -a "$node_ip" -b "$CLIENT_BRIDGE" " -P $GLUON_NODE_CLIENT_PREFIX"
    return
  fi
  printf '%s\n' -a "$node_ip" -p "$CLIENT_PREFIX6" -p "$CLIENT_PREFIX4"
  for i in $ifs; do printf '%s\n' -m "$i"; done
  if [ "$client" = 1 ]; then printf '%s\n' -i "$GW_DEV" -b "$CLIENT_BRIDGE"; fi
  printf '%s\n' -t 254 -s "$sock" -v
  # Duplicate detection through babeld's local interface (README "Duplicate host routes").
  # MESH_NO_BABELD=1 leaves it out.
  [ -n "${MESH_NO_BABELD:-}" ] || printf '%s\n' --babeld "$MESH_RUN/babeld-$r.sock"
}

main() {
  local cmd=${1:-}
  [ -n "$cmd" ] || die "usage: mesh.sh up|down|roam|relink|rebridge|wait-converged|host-routes|track|ping-start|ping-stop|replied-since|cut|ncip|daemon-args|rogue|exec ..."
  shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    watch) cmd_watch "$@" ;;
    roam) cmd_roam "$@" ;;
    relink) cmd_relink "$@" ;;
    rebridge) cmd_rebridge "$@" ;;
    wait-converged) cmd_wait_converged "$@" ;;
    host-routes) cmd_host_routes "$@" ;;
    track) track "$@" ;;
    ping-start) cmd_ping_start "$@" ;;
    ping-stop) cmd_ping_stop "$@" ;;
    replied-since) cmd_replied_since "$@" ;;
    cut) cmd_cut "$@" ;;
    ncip) ncip "$@" ;;
    daemon-args) cmd_daemon_args "$@" ;;
    rogue) cmd_rogue "$@" ;;
    exec)
      local dir=$1 node=$2
      shift 2
      load_env "$dir"
      in_ns "$(ns_of "$node")" "$@"
      ;;
    *) die "unknown subcommand $cmd" ;;
  esac
}

main "$@"
