#!/usr/bin/env bash
# Builds gzipper (main.go: Go's compress/gzip, klauspost/pgzip and klauspost/compress/gzip, the
# real encoders whose output docker-dedup re-creates) and prints the binary's path. Built once per
# source version and cached under ${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}.
#
# Go is pinned to 1.26.8: compress/flate gave the same bytes from Go 1.8 to 1.26 and changed in
# 1.27 (../shared/research/gzip-reproduction.md); the machine's own go is used when it is that
# version, else the go command fetches it from the Go module proxy.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TOOLS="${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}"
VERSION="$(cat "$HERE/main.go" "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-12)"
BIN="$TOOLS/gzipper-$VERSION/gzipper"
if [[ ! -x "$BIN" ]]; then
  command -v go >/dev/null || { echo "gzip-vectors: go is needed to build the gzip test encoders" >&2; exit 1; }
  mkdir -p "$(dirname "$BIN")"
  (cd "$HERE" && GOTOOLCHAIN=go1.26.8 GOFLAGS=-mod=readonly go build -o "$BIN.partial" .) >&2
  mv "$BIN.partial" "$BIN"
fi
echo "$BIN"
