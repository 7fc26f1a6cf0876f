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
# Environment: WORK (empty scratch dir), LAYOUT (OCI layout with refs tar, gz, mirror, multi, pt),
#   NODE (node binary), CLI (docker-dedup's dist/src/cli/main.js).
# Writes: WORK/results.tsv, one line per step: ID <TAB> exit code <TAB> milliseconds <TAB> size of
#           serve.log <TAB> size of mirror.log when the step began (so the test can see which
#           requests a step made)
#         WORK/out/ID.out, WORK/out/ID.err: the step's stdout and stderr
#         WORK/serve.log: docker-dedup's stderr (with its access log)
#         WORK/mirror.log: the stderr of the second docker-dedup, a pull-through mirror of a
#           docker-registry upstream (the last section)
#         WORK/port, WORK/mirror-port: the two docker-dedup ports
# A step whose prerequisite failed is not run (and so has no line). Every process started here
# is stopped on exit, also on SIGTERM/SIGINT.
set -uo pipefail
: "${WORK:?}" "${LAYOUT:?}" "${NODE:?}" "${CLI:?}"
# step, wait_for, stop_pid, the cleanup on exit, start_serve/stop_serve, start_dockerd
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
D="$WORK/docker"
DK=(docker -H "unix://$D/docker.sock")
if step docker.start start_dockerd "$D" "$REG"; then
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
containerd_config() { # DIR: a containerd config with its state and socket under DIR
  mkdir -p "$1"
  cat >"$1/config.toml" <<TOML
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$1/containerd.sock"
TOML
}
C="$WORK/ctrd"; containerd_config "$C"; mkdir -p "$C/certs.d/docker.io"
# "server" points at docker-dedup too, so that docker.io names never reach the real Hub.
cat >"$C/certs.d/docker.io/hosts.toml" <<TOML
server = "http://$REG"
[host."http://$REG"]
  capabilities = ["pull", "resolve"]
TOML
start_containerd() { # DIR (made by containerd_config)
  containerd --config "$1/config.toml" >"$1/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  wait_for 20 ctr -a "$1/containerd.sock" version || { tail -30 "$1/containerd.log" >&2; return 1; }
}
CT=(ctr -a "$C/containerd.sock")
if step ctr.start start_containerd "$C"; then
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

# --- pull-through: a second docker-dedup in mirror mode in front of a docker-registry -----------
# The upstream is Debian's docker-registry (CNCF distribution) holding library/bbpt:latest (the
# `pt` image) and library/bbpt:gz (the gzip image); the mirror is `serve --upstream
# docker.io=http://UPSTREAM` with manifestTtlSeconds 0, so every tag request revalidates with the
# upstream. dockerd (a fresh data root, --registry-mirror at the mirror) and ctr (hosts.toml) pull
# Docker Hub names through it; then the upstream is stopped, the images removed, and both pull
# again: everything must come from the mirror's store, the tags served unrevalidated.
UP="$WORK/upstream"; UPREG=127.0.0.1:5001 # a fresh network namespace: the port is free
mkdir -p "$UP"
cat >"$UP/config.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $UP/data}
  delete: {enabled: true}
http:
  addr: $UPREG
YAML
start_upstream() {
  docker-registry serve "$UP/config.yml" >"$UP/registry.log" 2>&1 &
  UPSTREAM_PID=$!
  wait_for 20 curl -fsS "http://$UPREG/v2/" || { tail -30 "$UP/registry.log" >&2; return 1; }
}
stop_upstream() { # and check that nothing answers on its port any more
  stop_pid "$UPSTREAM_PID" 10; UPSTREAM_PID=
  cp "$UP/registry.log" "$OUT/upstream.log"
  ! curl -sS -m 2 "http://$UPREG/v2/"
}
echo '{"mirrors": [], "manifestTtlSeconds": 0}' >"$WORK/mirror.json"
start_mirror() {
  "$NODE" "$CLI" serve --store "$WORK/mirror-store" --listen 127.0.0.1:0 --access-log \
    --upstream "docker.io=http://$UPREG" --config "$WORK/mirror.json" 2>"$WORK/mirror.log" &
  MIRROR_PID=$!
  wait_for 20 grep -q 'registry listening on' "$WORK/mirror.log" || { cat "$WORK/mirror.log" >&2; return 1; }
  sed -n 's|.*registry listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/mirror.log" | head -1 >"$WORK/mirror-port"
  MREG="127.0.0.1:$(cat "$WORK/mirror-port")"
  wait_for 5 curl -fsS "http://$MREG/v2/"
}
if step pt.upstream.start start_upstream &&
  step pt.push.latest "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false "oci:$LAYOUT:pt" "docker://$UPREG/library/bbpt:latest" &&
  step pt.push.gz "${SK[@]}" copy -q --dest-tls-verify=false "oci:$LAYOUT:gz" "docker://$UPREG/library/bbpt:gz" &&
  step pt.mirror.start start_mirror; then
  # Fresh state for both daemons: nothing of the earlier pulls (the gz image's blobs) is local.
  D2="$WORK/docker-pt"; DK2=(docker -H "unix://$D2/docker.sock")
  C2="$WORK/ctrd-pt"; containerd_config "$C2"; CT2=(ctr -a "$C2/containerd.sock")
  mkdir -p "$C2/certs.d/docker.io"
  cat >"$C2/certs.d/docker.io/hosts.toml" <<TOML
server = "http://$MREG"
[host."http://$MREG"]
  capabilities = ["pull", "resolve"]
TOML
  step pt.docker.start start_dockerd "$D2" "$MREG" &&
    step pt.docker.pull1 "${DK2[@]}" pull bbpt:latest &&
    step pt.docker.inspect1 "${DK2[@]}" image inspect bbpt:latest
  step pt.ctr.start start_containerd "$C2" &&
    step pt.ctr.pull1 "${CT2[@]}" images pull --hosts-dir "$C2/certs.d" docker.io/library/bbpt:gz &&
    step pt.ctr.images1 "${CT2[@]}" images ls
  if step pt.upstream.stop stop_upstream; then
    if [ -s "$OUT/pt.docker.inspect1.out" ]; then
      step pt.docker.rmi "${DK2[@]}" rmi bbpt:latest &&
        step pt.docker.pull2 "${DK2[@]}" pull bbpt:latest &&
        step pt.docker.inspect2 "${DK2[@]}" image inspect bbpt:latest
    fi
    if [ -s "$OUT/pt.ctr.images1.out" ]; then
      # --sync: containerd's garbage collector removes the image's blobs before rm returns
      step pt.ctr.rm "${CT2[@]}" images rm --sync docker.io/library/bbpt:gz &&
        step pt.ctr.content "${CT2[@]}" content ls &&
        step pt.ctr.pull2 "${CT2[@]}" images pull --hosts-dir "$C2/certs.d" docker.io/library/bbpt:gz &&
        step pt.ctr.images2 "${CT2[@]}" images ls
    fi
  fi
  stop_pid "$DOCKERD_PID" 15; DOCKERD_PID=
  [ -f "$D2/dockerd.log" ] && cp "$D2/dockerd.log" "$OUT/dockerd-pt.log"
  stop_pid "$CONTAINERD_PID" 10; CONTAINERD_PID=
  [ -f "$C2/containerd.log" ] && cp "$C2/containerd.log" "$OUT/containerd-pt.log"
  stop_mirror() {
    kill -TERM "$MIRROR_PID"; wait "$MIRROR_PID"; local rc=$?; MIRROR_PID=; return $rc
  }
  step pt.mirror.stop stop_mirror &&
    step pt.verify "$NODE" "$CLI" verify --store "$WORK/mirror-store"
fi
stop_pid "$UPSTREAM_PID" 10; UPSTREAM_PID=

# --- the store after all pulls ------------------------------------------------------------------
step serve.stop stop_serve
step verify "$NODE" "$CLI" verify --store "$WORK/store"
exit 0
