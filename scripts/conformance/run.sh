#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite v1.1.1 (all four workflows: pull, push,
# content discovery, content management) against `docker-dedup serve` on a fresh store.
#
#   scripts/conformance/run.sh            needs `npm run build` first, Go >= 1.20 and the Go module proxy
#
# The suite is built once from the module pinned in go.mod/go.sum beside this script and cached
# as a binary under ${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}. Set
# DOCKER_DEDUP_CONFORMANCE_REPORT=DIR to keep the suite's junit.xml, report.html, its log and the
# server's access log there. Exits non-zero if any spec fails or the suite did not run.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS="${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}"
SUITE_VERSION="v0.0.0-20250123160558-a139cc423184" # = go.mod's requirement (tag v1.1.1's commit)
SUITE_BIN="$TOOLS/oci-conformance-$SUITE_VERSION/conformance.test"
CLI="$ROOT/dist/src/cli/main.js"

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

build_suite() {
  [[ -x "$SUITE_BIN" ]] && return 0
  command -v go >/dev/null || die "go is not installed (Go >= 1.20 builds the suite)"
  log "building the conformance suite $SUITE_VERSION (first run only; downloads its modules)"
  local work
  work="$(mktemp -d)"
  cp "$HERE/go.mod" "$HERE/go.sum" "$work/"
  mkdir -p "$(dirname "$SUITE_BIN")"
  # -mod=readonly with the committed go.sum: every module must match its pinned hash, so no
  # checksum database is consulted (the suite's pseudo-version is not in it).
  if ! (cd "$work" && GOFLAGS=-mod=readonly GOSUMDB=off GOTOOLCHAIN=local \
        go test -c -o "$SUITE_BIN.partial" github.com/opencontainers/distribution-spec/conformance); then
    rm -rf "$work"
    die "building the suite failed"
  fi
  mv "$SUITE_BIN.partial" "$SUITE_BIN"
  rm -rf "$work"
}

[[ -f "$CLI" ]] || die "$CLI is missing: run 'npm run build' first"
build_suite

RUN="$(mktemp -d)"
SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [[ -n "${DOCKER_DEDUP_CONFORMANCE_REPORT:-}" ]]; then
    mkdir -p "$DOCKER_DEDUP_CONFORMANCE_REPORT"
    cp -r "$RUN"/* "$DOCKER_DEDUP_CONFORMANCE_REPORT/" 2>/dev/null || true
    rm -rf "$DOCKER_DEDUP_CONFORMANCE_REPORT"/*/store
  fi
  rm -rf "$RUN"
}
trap cleanup EXIT

# One run of the suite on a fresh store. $1 names the run; $2 is OCI_DELETE_MANIFEST_BEFORE_BLOBS,
# the order of the suite's teardown deletes (both orders must work).
run_suite() {
  local dir="$RUN/$1"
  mkdir -p "$dir/report"
  # Port 0: the server picks a free port and names it on its first line.
  node "$CLI" serve --store "$dir/store" --listen 127.0.0.1:0 --access-log 2>"$dir/server.log" &
  SERVER_PID=$!
  local url=""
  for _ in $(seq 1 100); do
    url="$(sed -n 's/.*registry listening on \(http:\/\/[^ ]*\).*/\1/p' "$dir/server.log" | head -n 1)"
    [[ -n "$url" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "$1: the server exited at start"; }
    sleep 0.1
  done
  [[ -n "$url" ]] || die "$1: the server did not start within 10 s"
  log "$1: server at $url (pid $SERVER_PID)"

  local status=0
  (
    cd "$dir/report"
    env OCI_ROOT_URL="$url" \
      OCI_NAMESPACE="conformance/main" \
      OCI_CROSSMOUNT_NAMESPACE="conformance/other" \
      OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
      OCI_AUTOMATIC_CROSSMOUNT=0 \
      OCI_DELETE_MANIFEST_BEFORE_BLOBS="$2" \
      OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0 \
      OCI_REPORT_DIR="$dir/report" \
      "$SUITE_BIN" -ginkgo.no-color >"$dir/report/conformance.log" 2>&1
  ) || status=$?
  stop_server

  tail -n 4 "$dir/report/conformance.log" >&2
  local junit="$dir/report/junit.xml"
  [[ -s "$junit" ]] || { tail -n 40 "$dir/report/conformance.log" >&2; die "$1: the suite wrote no junit.xml (exit $status)"; }
  # The suite's own counts, from its first <testsuite> element.
  local counts tests failures errors skipped
  counts="$(grep -o '<testsuite [^>]*>' "$junit" | head -n 1)"
  tests="$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$counts")"
  failures="$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$counts")"
  errors="$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$counts")"
  skipped="$(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$counts")"
  log "$1: junit tests=$tests failures=$failures errors=$errors skipped=$skipped (suite exit $status)"
  if [[ "$status" -ne 0 || "${failures:-1}" != "0" || "${errors:-1}" != "0" || "${tests:-0}" == "0" ]]; then
    grep -B2 -A12 '<failure' "$junit" | head -n 80 >&2 || true
    die "$1: FAILED"
  fi
}

run_suite manifests-first 1
run_suite blobs-first 0
log "PASSED (both teardown orders)"
