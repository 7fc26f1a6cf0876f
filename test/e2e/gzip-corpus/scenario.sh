#!/usr/bin/env bash
# gzip layers made by the real tools, pushed to `docker-dedup serve` and pulled back.
# Run by test/e2e/gzip-corpus.test.ts, which makes the inputs first and checks the outputs after.
#
# Must run as root inside fresh network, PID and mount namespaces holding only `lo` (see
# ../clients/lib.sh), e.g.
#   unshare --net --pid --fork --mount-proc --kill-child=SIGTERM bash scenario.sh
#
# Environment: WORK, NODE, CLI (as ../clients/lib.sh), and
#   PUSHES          a file, one image a line: ID <TAB> skopeo source <TAB> 1 to push it with
#                   --preserve-digests (its layers as they are), 0 to let skopeo compress them
#   DOCKER_TAR      a rootfs tar for `docker import`
#   DOCKER_CONTEXT  a build context whose Dockerfile starts FROM corpus/docker-base:1
#   CONVERT_SECONDS how long to wait for the conversions (default 240)
# Every image ID goes to docker-dedup as corpus/ID:1; `docker` is the image dockerd built.
# Writes (besides lib.sh's WORK/results.tsv, WORK/out/, WORK/serve.log):
#   WORK/blobs/HEX      every layer of every image, as a plain GET of the blob gave it
#   WORK/pulled/ID/     every image as `skopeo copy docker://... dir:` pulled it
#   WORK/store          the registry's store, stopped, verified
set -uo pipefail
: "${PUSHES:?}" "${DOCKER_TAR:?}" "${DOCKER_CONTEXT:?}"
# step, wait_for, stop_pid, the cleanup on exit, start_serve/stop_serve, start_dockerd
source "$(dirname "${BASH_SOURCE[0]}")/../clients/lib.sh"

step serve.start start_serve || exit 1
SK=(skopeo --insecure-policy)
IDS=(docker $(cut -f1 "$PUSHES"))

# --- pushes: skopeo (as it is, or compressed by skopeo), then dockerd ---------------------------
while IFS=$'\t' read -r id source preserve; do
  flags=(); [ "$preserve" = 1 ] && flags=(--preserve-digests)
  step "push.$id" "${SK[@]}" copy -q "${flags[@]}" --dest-tls-verify=false "$source" "docker://$REG/corpus/$id:1"
done <"$PUSHES"

D="$WORK/docker"; DK=(docker -H "unix://$D/docker.sock")
if step docker.start start_dockerd "$D" "$REG"; then
  # A rootfs imported, a second layer COPYed onto it by the classic builder, pushed by dockerd.
  step docker.import "${DK[@]}" import "$DOCKER_TAR" corpus/docker-base:1 &&
    step docker.build env DOCKER_BUILDKIT=0 "${DK[@]}" build -q -t "$REG/corpus/docker:1" "$DOCKER_CONTEXT" &&
    step push.docker "${DK[@]}" push "$REG/corpus/docker:1"
fi

# --- the background conversions ----------------------------------------------------------------
# A gzip layer is marked for conversion before its push is acknowledged, and the mark goes once it
# is converted or kept: with every push done, no mark left means every conversion is over.
wait_conversions() { # SECONDS: until `stats --json` counts no gzip layer pending
  local deadline=$(( SECONDS + $1 )) json="$WORK/stats-poll.json"
  local settled='process.exit(JSON.parse(require("fs").readFileSync(0, "utf8")).gzip.pending === 0 ? 0 : 1)'
  while :; do
    if "$NODE" "$CLI" stats --json --store "$WORK/store" >"$json" && "$NODE" -e "$settled" <"$json"; then cat "$json"; return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || { echo "conversions not settled after $1 s" >&2; cat "$json" >&2; return 1; }
    sleep 0.5
  done
}
step convert.wait wait_conversions "${CONVERT_SECONDS:-240}"

# --- pulls: every image, after the conversions --------------------------------------------------
get_layers() { # ID: every layer of corpus/ID:1 (its manifest in out/inspect.ID.out) by a plain GET
  local digests digest
  digests=$("$NODE" -e 'for (const l of JSON.parse(require("fs").readFileSync(0, "utf8")).layers) console.log(l.digest)' <"$OUT/inspect.$1.out") || return 1
  mkdir -p "$WORK/blobs"
  for digest in $digests; do
    curl -fsS -o "$WORK/blobs/${digest#sha256:}" "http://$REG/v2/corpus/$1/blobs/$digest" || return 1
    echo "$digest"
  done
}
mkdir -p "$WORK/pulled"
for id in "${IDS[@]}"; do
  step "inspect.$id" "${SK[@]}" inspect --raw --tls-verify=false "docker://$REG/corpus/$id:1" &&
    step "get.$id" get_layers "$id"
  step "skopeo.pull.$id" "${SK[@]}" copy -q --src-tls-verify=false "docker://$REG/corpus/$id:1" "dir:$WORK/pulled/$id"
done
if [ -n "$DOCKERD_PID" ]; then
  # Nothing of what dockerd built or pushed stays: every layer of every pull comes from docker-dedup.
  step docker.rmi "${DK[@]}" image rm "$REG/corpus/docker:1" corpus/docker-base:1
  step docker.prune "${DK[@]}" image prune -af &&
    step docker.images "${DK[@]}" image ls -aq
  for id in "${IDS[@]}"; do
    step "docker.pull.$id" "${DK[@]}" pull "$REG/corpus/$id:1" &&
      step "docker.inspect.$id" "${DK[@]}" image inspect "$REG/corpus/$id:1"
  done
  stop_pid "$DOCKERD_PID" 15; DOCKERD_PID=
  cp "$D/dockerd.log" "$OUT/dockerd.log"
fi

# --- the store ---------------------------------------------------------------------------------
step serve.stop stop_serve
step verify "$NODE" "$CLI" verify --store "$WORK/store"
step stats.json "$NODE" "$CLI" stats --json --store "$WORK/store"
step stats "$NODE" "$CLI" stats --store "$WORK/store"
exit 0
