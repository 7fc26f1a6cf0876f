#!/usr/bin/env bash
# The multi-site testbed: N sites as processes in one fresh network namespace that holds only
# loopback (nothing leaves the machine), each site on its own 127.0.0.x address, and the
# bandwidth of every link (source address -> destination address) limited by an HTB class on
# `lo` that u32 filters select by source and destination. Traffic of links not listed is not
# limited. There are no delays: the kernel has no netem here.
#
#   testbed.sh run [--link SRC>DST=RATE]... [--] COMMAND [ARGS...]
#       Runs COMMAND inside new network, PID and mount namespaces (as root, or as any user with
#       --map-root-user: unprivileged user namespaces are enough). Everything COMMAND starts
#       dies with it. Exits with COMMAND's status.
#   testbed.sh link SRC>DST=RATE...
#       From inside: sets links' rates, also while traffic flows (tc class change).
#   testbed.sh counters
#       From inside: one line per shaped link, "SRC>DST RATE BYTES PACKETS" (RATE in bit/s,
#       BYTES and PACKETS sent through the link's class), then "default - BYTES PACKETS" for
#       all other traffic.
#
# SRC and DST are 127.0.0.1 to 127.0.0.254 (every 127/8 address is local on lo; a site binds
# its own, and connects out from it with a local address). RATE is tc's: 20mbit, 2.5mbps (megabytes per second), ...
# Quote link specs in a shell: '127.0.0.2>127.0.0.1=20mbit'.
#
# Link SRC>DST is class 1:XXYY with XX and YY the last bytes of SRC and DST in hex, so the class
# is found again without keeping state.
#
# lo carries packets of at most TESTBED_MTU bytes (default 9000, a data-centre link's jumbo
# frames), segmentation offload included, rather than its own 64 KiB: one 64 KiB packet lasts
# 0.26 s at 2 Mbit/s, longer than TCP's least retransmission timeout (0.2 s), so a connection
# that starts sending behind a queue of them retransmits for nothing, and those bytes count on
# the link. Rates hold on lo whatever the packet size: HTB lets a packet go
# while the class has tokens and charges it after, so a packet larger than the burst is only
# paid for later. Measured on 2 busy cores, steady rates came within 0.5% of 20 to 1000 Mbit/s
# whatever the burst (1600 bytes to 1 MiB). The burst (TESTBED_BURST, bytes, default 128 KiB)
# decides how much leaves at once after a pause, and how late the kernel may
# dequeue without the link losing rate: 128 KiB is 5 ms at 200 Mbit/s, a head start of 50 ms at
# 20 Mbit/s. The quantum (TESTBED_QUANTUM) only matters between classes that borrow, which
# these do not (rate = ceil, no parent class); it is set so that tc does not warn.
# Needs iproute2 (ip, tc with HTB) and util-linux (unshare, setpriv).
set -euo pipefail

BURST=${TESTBED_BURST:-131072}
MTU=${TESTBED_MTU:-9000}
QUANTUM=${TESTBED_QUANTUM:-200000}
DEFAULT_MINOR=1 # no link can have it: link minors are at least 0x0101
SELF=$(readlink -f "$0")

die() { echo "testbed: $*" >&2; exit 2; }

# SRC>DST=RATE -> LINK_SRC, LINK_DST, LINK_RATE and LINK_MINOR (its class's minor, in hex)
parse_link() {
  [[ $1 =~ ^127\.0\.0\.([0-9]{1,3})\>127\.0\.0\.([0-9]{1,3})=([0-9.]+[a-zA-Z]*)$ ]] ||
    die "a link is 127.0.0.A>127.0.0.B=RATE, not: $1"
  local a=$((10#${BASH_REMATCH[1]})) b=$((10#${BASH_REMATCH[2]}))
  ((a >= 1 && a <= 254 && b >= 1 && b <= 254)) || die "sites are 127.0.0.1 to 127.0.0.254: $1"
  LINK_SRC=127.0.0.$a LINK_DST=127.0.0.$b LINK_RATE=${BASH_REMATCH[3]}
  printf -v LINK_MINOR %x $((a << 8 | b))
}

inside_only() {
  [ "${DOCKER_DEDUP_TESTBED:-}" = 1 ] || die "$1 works only inside 'testbed.sh run' (it would shape this machine's lo)"
}

set_link() {
  parse_link "$1"
  local class=(classid "1:$LINK_MINOR" htb rate "$LINK_RATE" ceil "$LINK_RATE" burst "$BURST" cburst "$BURST" quantum "$QUANTUM")
  if tc class show dev lo classid "1:$LINK_MINOR" | grep -q .; then
    tc class change dev lo parent 1: "${class[@]}"
  else
    tc class add dev lo parent 1: "${class[@]}"
    tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src "$LINK_SRC/32" match ip dst "$LINK_DST/32" flowid "1:$LINK_MINOR"
  fi
}

counters() {
  local first second third rest minor=0 rate=- scale
  while read -r first second third rest; do
    if [ "$first" = class ] && [ "$second" = htb ]; then
      minor=$((16#${third#*:}))
      [[ $rest =~ rate\ ([0-9]+)([KMGT]?)bit ]] || die "unexpected tc output: $first $second $third $rest"
      case ${BASH_REMATCH[2]} in K) scale=1000 ;; M) scale=1000000 ;; G) scale=1000000000 ;; T) scale=1000000000000 ;; *) scale=1 ;; esac
      rate=$((BASH_REMATCH[1] * scale))
    elif [ "$first" = Sent ]; then # Sent BYTES bytes PACKETS pkt ...
      if [ "$minor" = "$DEFAULT_MINOR" ]; then
        echo "default - $second ${rest%% *}"
      else
        echo "127.0.0.$((minor >> 8))>127.0.0.$((minor & 255)) $rate $second ${rest%% *}"
      fi
    fi
  done < <(tc -s class show dev lo)
}

# Waits for the background process $1 and exits with its status; on SIGTERM, SIGINT or SIGHUP
# meanwhile, runs the command $2 first.
wait_for() {
  local child=$1 status
  # shellcheck disable=SC2064 # $2 is fixed now
  trap "$2" TERM INT HUP
  while :; do
    wait "$child" && status=0 || status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  exit "$status"
}

# unshare blocks SIGTERM and SIGINT while it waits, so the signal goes to the namespaces' first
# process (unshare's only child), which passes it on to COMMAND; unshare then exits with
# COMMAND's status. Without /proc's list of children, unshare is killed: its child then gets
# SIGTERM from the kernel (--kill-child).
stop_namespaces() {
  local unshare=$1 first
  first=$(cat "/proc/$unshare/task/$unshare/children" 2>/dev/null) || true
  if [ -n "$first" ]; then kill -TERM "$first"; else kill -KILL "$unshare"; fi
}

# The first process of the new namespaces: sets up lo, then runs COMMAND as its child. It stays
# a shell because the first process ignores the signals it has no handler for, and everything
# else in the namespaces dies when it exits.
inside() {
  trap 'exit 143' TERM INT HUP
  ip link set lo mtu "$MTU" gso_max_size "$MTU" up
  tc qdisc add dev lo root handle 1: htb default "$DEFAULT_MINOR"
  tc class add dev lo parent 1: classid "1:$DEFAULT_MINOR" htb rate 32gbit burst 4m cburst 4m quantum "$QUANTUM"
  while [ "${1:-}" = --link ]; do
    set_link "$2"
    shift 2
  done
  [ "${1:-}" = -- ] && shift
  "$@" <&0 &
  wait_for $! "kill -TERM $!"
}

case "${1:-}" in
  run)
    shift
    args=()
    while [ "${1:-}" = --link ]; do
      [ $# -ge 2 ] || die "--link needs SRC>DST=RATE"
      parse_link "$2"
      args+=(--link "$2")
      shift 2
    done
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || die "run: no COMMAND"
    command -v tc >/dev/null && command -v unshare >/dev/null && command -v setpriv >/dev/null ||
      die "needs tc (iproute2), unshare and setpriv (util-linux)"
    map_root=()
    [ "$(id -u)" = 0 ] || map_root=(--map-root-user)
    export DOCKER_DEDUP_TESTBED=1
    # If this shell is killed outright, unshare is too (--pdeathsig), and so its child (--kill-child).
    setpriv --pdeathsig SIGKILL unshare "${map_root[@]}" --net --pid --fork --mount-proc --kill-child=SIGTERM \
      -- "$SELF" _inside "${args[@]}" -- "$@" <&0 &
    wait_for $! "stop_namespaces $!"
    ;;
  _inside)
    shift
    inside_only "_inside"
    inside "$@"
    ;;
  link)
    shift
    inside_only link
    [ $# -ge 1 ] || die "link: no SRC>DST=RATE"
    for spec in "$@"; do set_link "$spec"; done
    ;;
  counters)
    inside_only counters
    counters
    ;;
  *)
    sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
