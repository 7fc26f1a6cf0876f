#!/usr/bin/env bash
# Real clients (skopeo, dockerd, containerd/ctr, podman) against `docker-dedup serve`.
# Run by test/e2e/clients.test.ts, which builds the OCI layout first and checks the outputs after.
#
# Must run as root inside a fresh network namespace holding only `lo` (and its own PID and mount
# namespaces, so that nothing started here can outlive it), e.g.
#   unshare --net --pid --fork --mount-proc --kill-child=SIGTERM bash scenario.sh
# With only loopback, dockerd's fallback from the mirror to the real Docker Hub fails at once
# instead of leaving the machine.
#
# Environment: WORK (empty scratch dir), LAYOUT (OCI layout with refs tar, gz, mirror, multi),
#   NODE (node binary), CLI (docker-dedup's dist/src/cli/main.js).
# Writes: WORK/results.tsv, one line per step: ID <TAB> exit code <TAB> milliseconds <TAB> size of
#           serve.log when the step began (so the test can see which requests a step made)
#         WORK/out/ID.out, WORK/out/ID.err: the step's stdout and stderr
#         WORK/serve.log: docker-dedup's stderr (with its access log)
#         WORK/port: the registry's port
# A step whose prerequisite failed is not run (and so has no line). Every process started here
# is stopped on exit, also on SIGTERM/SIGINT.
set -uo pipefail
: "${WORK:?}" "${LAYOUT:?}" "${NODE:?}" "${CLI:?}"
OUT="$WORK/out"; RES="$WORK/results.tsv"; mkdir -p "$OUT"; : >"$RES"
ip link set lo up

# --- process bookkeeping ------------------------------------------------------------------------
SERVE_PID=; DOCKERD_PID=; CONTAINERD_PID=
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
}
trap cleanup EXIT
trap 'echo "scenario: interrupted" >&2; exit 130' TERM INT

# step ID COMMAND...: runs COMMAND, records its exit code and time; returns its exit code.
step() {
  local id=$1; shift
  local t0 at; t0=$(date +%s%N); at=$(stat -c %s "$WORK/serve.log" 2>/dev/null || echo 0)
  if [ "$(type -t "$1")" = function ]; then
    # Functions of this script (start/stop a daemon) set variables here: not in a subshell.
    "$@" >"$OUT/$id.out" 2>"$OUT/$id.err" </dev/null
  else
    # Commands run in the background and are waited for, so that a SIGTERM runs the trap at once.
    "$@" >"$OUT/$id.out" 2>"$OUT/$id.err" </dev/null &
    wait $!
  fi
  local rc=$?
  printf '%s\t%s\t%s\t%s\n' "$id" "$rc" $(( ($(date +%s%N) - t0) / 1000000 )) "$at" >>"$RES"
  return $rc
}
wait_for() { # SECONDS COMMAND...: retries COMMAND every 0.1 s
  local tries=$(( $1 * 10 )); shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- docker-dedup -------------------------------------------------------------------------------
start_serve() {
  "$NODE" "$CLI" serve --store "$WORK/store" --listen 127.0.0.1:0 --access-log 2>"$WORK/serve.log" &
  SERVE_PID=$!
  wait_for 20 grep -q 'registry listening on' "$WORK/serve.log" || { cat "$WORK/serve.log" >&2; return 1; }
  sed -n 's|.*registry listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/serve.log" | head -1 >"$WORK/port"
  REG="127.0.0.1:$(cat "$WORK/port")"
  wait_for 5 curl -fsS "http://$REG/v2/"
}
step serve.start start_serve || exit 1

# --- skopeo pushes ------------------------------------------------------------------------------
# skopeo and podman share a blob-info cache (/var/lib/containers/cache); the test makes new
# content on every run, so nothing in it can stand in for an upload.
SK=(skopeo --insecure-policy)
step push.tar "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false "oci:$LAYOUT:tar" "docker://$REG/test/bb:tar"
step push.gz "${SK[@]}" copy -q --dest-tls-verify=false "oci:$LAYOUT:gz" "docker://$REG/test/bb:gz"
step push.mirror "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false "oci:$LAYOUT:mirror" "docker://$REG/library/bbmirror:latest"
step push.multi "${SK[@]}" copy -q --all --preserve-digests --dest-tls-verify=false "oci:$LAYOUT:multi" "docker://$REG/test/bb:multi"
for ref in test/bb:tar test/bb:gz library/bbmirror:latest test/bb:multi; do
  step "inspect.${ref//[\/:]/_}" "${SK[@]}" inspect --raw --tls-verify=false "docker://$REG/$ref"
done

# --- dockerd ------------------------------------------------------------------------------------
D="$WORK/docker"; mkdir -p "$D/data" "$D/exec"; echo '{}' >"$D/daemon.json"
start_dockerd() {
  dockerd --iptables=false --ip6tables=false --ip-masq=false --bridge=none --storage-driver=vfs \
    --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" -H "unix://$D/docker.sock" \
    --config-file "$D/daemon.json" --registry-mirror "http://$REG" --insecure-registry "$REG" >"$D/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  wait_for 30 docker -H "unix://$D/docker.sock" version || { tail -30 "$D/dockerd.log" >&2; return 1; }
}
DK=(docker -H "unix://$D/docker.sock")
if step docker.start start_dockerd; then
  # The mirror first: on a fresh daemon every blob of it comes through the mirror.
  step docker.pull.mirror "${DK[@]}" pull bbmirror:latest &&
    step docker.inspect.mirror "${DK[@]}" image inspect bbmirror:latest
  step docker.pull.tar "${DK[@]}" pull "$REG/test/bb:tar" &&
    step docker.inspect.tar "${DK[@]}" image inspect "$REG/test/bb:tar"
  step docker.pull.gz "${DK[@]}" pull "$REG/test/bb:gz" &&
    step docker.inspect.gz "${DK[@]}" image inspect "$REG/test/bb:gz"
  step docker.pull.multi "${DK[@]}" pull "$REG/test/bb:multi" &&
    step docker.inspect.multi "${DK[@]}" image inspect "$REG/test/bb:multi"
  [ -s "$OUT/docker.inspect.tar.out" ] &&
    step docker.run "${DK[@]}" run --rm --network none "$REG/test/bb:tar" /bin/busybox cat /etc/docker-dedup-e2e
  stop_pid "$DOCKERD_PID" 15; DOCKERD_PID=
  cp "$D/dockerd.log" "$OUT/dockerd.log"
fi

# --- containerd + ctr ---------------------------------------------------------------------------
C="$WORK/ctrd"; mkdir -p "$C/certs.d/docker.io"
cat >"$C/config.toml" <<TOML
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/containerd.sock"
TOML
# "server" points at docker-dedup too, so that docker.io names never reach the real Hub.
cat >"$C/certs.d/docker.io/hosts.toml" <<TOML
server = "http://$REG"
[host."http://$REG"]
  capabilities = ["pull", "resolve"]
TOML
start_containerd() {
  containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  wait_for 20 ctr -a "$C/containerd.sock" version || { tail -30 "$C/containerd.log" >&2; return 1; }
}
CT=(ctr -a "$C/containerd.sock")
if step ctr.start start_containerd; then
  step ctr.pull.tar "${CT[@]}" images pull --plain-http "$REG/test/bb:tar"
  step ctr.pull.gz "${CT[@]}" images pull --plain-http "$REG/test/bb:gz"
  step ctr.pull.mirror "${CT[@]}" images pull --hosts-dir "$C/certs.d" docker.io/library/bbmirror:latest
  step ctr.pull.multi "${CT[@]}" images pull --plain-http "$REG/test/bb:multi"
  step ctr.images "${CT[@]}" images ls
  step ctr.content "${CT[@]}" content ls
  stop_pid "$CONTAINERD_PID" 10; CONTAINERD_PID=
  cp "$C/containerd.log" "$OUT/containerd.log"
fi

# --- podman -------------------------------------------------------------------------------------
P="$WORK/podman"; mkdir -p "$P/root" "$P/run" "$P/tmp"
cat >"$P/registries.conf" <<TOML
unqualified-search-registries = []
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "$REG"
insecure = true
TOML
PM=(podman --root "$P/root" --runroot "$P/run" --tmpdir "$P/tmp" --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
export CONTAINERS_REGISTRIES_CONF="$P/registries.conf"
step podman.pull.tar "${PM[@]}" pull --tls-verify=false "$REG/test/bb:tar" &&
  step podman.inspect.tar "${PM[@]}" image inspect "$REG/test/bb:tar"
step podman.pull.mirror "${PM[@]}" pull docker.io/library/bbmirror:latest &&
  step podman.inspect.mirror "${PM[@]}" image inspect docker.io/library/bbmirror:latest
step podman.pull.multi "${PM[@]}" pull --tls-verify=false "$REG/test/bb:multi" &&
  step podman.inspect.multi "${PM[@]}" image inspect "$REG/test/bb:multi"

# --- the store after all pulls ------------------------------------------------------------------
stop_serve() {
  kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; local rc=$?; SERVE_PID=; return $rc
}
step serve.stop stop_serve
step verify "$NODE" "$CLI" verify --store "$WORK/store"
exit 0
