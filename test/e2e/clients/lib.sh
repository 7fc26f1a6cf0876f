# Shared by the real-client scenarios run in a loopback-only network namespace (scenario.sh here,
# ../gzip-corpus/scenario.sh): step bookkeeping, process cleanup, docker-dedup and dockerd.
# Sourced (not run) by a script that runs as root inside fresh network, PID and mount namespaces
# holding only `lo` (and so can reach nothing off the machine), e.g.
#   unshare --net --pid --fork --mount-proc --kill-child=SIGTERM bash scenario.sh
#
# Environment: WORK (empty scratch dir), NODE (node binary), CLI (docker-dedup's dist/src/cli/main.js).
# Writes: WORK/results.tsv, one line per step: ID <TAB> exit code <TAB> milliseconds <TAB> size of
#           serve.log <TAB> size of mirror.log when the step began (so the test can see which
#           requests a step made)
#         WORK/out/ID.out, WORK/out/ID.err: the step's stdout and stderr
#         WORK/serve.log: docker-dedup's stderr (with its access log), WORK/port: its port
# Every process started through these functions is stopped on exit, also on SIGTERM/SIGINT.
: "${WORK:?}" "${NODE:?}" "${CLI:?}"
OUT="$WORK/out"; RES="$WORK/results.tsv"; mkdir -p "$OUT"; : >"$RES"
ip link set lo up

# --- process bookkeeping ------------------------------------------------------------------------
SERVE_PID=; DOCKERD_PID=; CONTAINERD_PID=; UPSTREAM_PID=; MIRROR_PID=
stop_pid() { # PID [seconds]: SIGTERM, wait, then SIGKILL
  local pid=$1 tries=$(( ${2:-10} * 10 ))
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 "$tries"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  trap - EXIT TERM INT
  stop_pid "$DOCKERD_PID" 15; DOCKERD_PID=
  stop_pid "$CONTAINERD_PID" 10; CONTAINERD_PID=
  stop_pid "$SERVE_PID" 10; SERVE_PID=
  stop_pid "$MIRROR_PID" 10; MIRROR_PID=
  stop_pid "$UPSTREAM_PID" 10; UPSTREAM_PID=
}
trap cleanup EXIT
trap 'echo "scenario: interrupted" >&2; exit 130' TERM INT

# step ID COMMAND...: runs COMMAND, records its exit code and time; returns its exit code.
step() {
  local id=$1; shift
  local t0 at mat; t0=$(date +%s%N)
  at=$(stat -c %s "$WORK/serve.log" 2>/dev/null || echo 0); mat=$(stat -c %s "$WORK/mirror.log" 2>/dev/null || echo 0)
  if [ "$(type -t "$1")" = function ]; then
    # Functions of this script (start/stop a daemon) set variables here: not in a subshell.
    "$@" >"$OUT/$id.out" 2>"$OUT/$id.err" </dev/null
  else
    # Commands run in the background and are waited for, so that a SIGTERM runs the trap at once.
    "$@" >"$OUT/$id.out" 2>"$OUT/$id.err" </dev/null &
    wait $!
  fi
  local rc=$?
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$rc" $(( ($(date +%s%N) - t0) / 1000000 )) "$at" "$mat" >>"$RES"
  return $rc
}
wait_for() { # SECONDS COMMAND...: retries COMMAND every 0.1 s
  local tries=$(( $1 * 10 )); shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- docker-dedup -------------------------------------------------------------------------------
start_serve() { # `docker-dedup serve` on WORK/store, a free loopback port; sets REG (127.0.0.1:PORT)
  "$NODE" "$CLI" serve --store "$WORK/store" --listen 127.0.0.1:0 --access-log 2>"$WORK/serve.log" &
  SERVE_PID=$!
  wait_for 20 grep -q 'registry listening on' "$WORK/serve.log" || { cat "$WORK/serve.log" >&2; return 1; }
  sed -n 's|.*registry listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/serve.log" | head -1 >"$WORK/port"
  REG="127.0.0.1:$(cat "$WORK/port")"
  wait_for 5 curl -fsS "http://$REG/v2/"
}
stop_serve() { # SIGTERM; fails unless docker-dedup exits 0
  kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; local rc=$?; SERVE_PID=; return $rc
}

# --- dockerd ------------------------------------------------------------------------------------
start_dockerd() { # DIR REGISTRY: a dockerd with its state under DIR, REGISTRY (host:port) its mirror
  local dir=$1 mirror=$2
  mkdir -p "$dir/data" "$dir/exec"; echo '{}' >"$dir/daemon.json"
  dockerd --iptables=false --ip6tables=false --ip-masq=false --bridge=none --storage-driver=vfs \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" -H "unix://$dir/docker.sock" \
    --config-file "$dir/daemon.json" --registry-mirror "http://$mirror" --insecure-registry "$mirror" >"$dir/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  wait_for 30 docker -H "unix://$dir/docker.sock" version || { tail -30 "$dir/dockerd.log" >&2; return 1; }
}
