#!/usr/bin/env bash
# Makes the two base images the Dockerfile names, for a machine that cannot pull node:20-bookworm
# and node:20-bookworm-slim from Docker Hub: Debian 12 root filesystems from Debian's packages
# (mmdebstrap), with this machine's Node.js 20 laid out as the official images have it
# (/usr/local/bin/node, npm in /usr/local/lib/node_modules/npm, headers in /usr/local/include/node).
# The build image adds what node-gyp needs (g++, make, python3). Cached by Node.js version.
#
#   scripts/deploy/base-images.sh     prints the two tarballs' paths, build then runtime (`docker import` them)
#
# Needs root, mmdebstrap and Debian's package mirror (outside any network namespace).
set -euo pipefail
TOOLS="${DOCKER_DEDUP_TOOLS:-/var/tmp/docker-dedup-tools}"
NODE_BIN="$(readlink -f "$(command -v node)")"
NODE_VERSION="$("$NODE_BIN" --version)"
NPM_DIR="$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")"
HEADERS="$(dirname "$(dirname "$NODE_BIN")")/include/node"
OUT="$TOOLS/deploy-base-$NODE_VERSION"

[ "$(id -u)" -eq 0 ] || { echo "base-images: must run as root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "base-images: mmdebstrap is needed (Debian package mmdebstrap)" >&2; exit 1; }
[ -f "$HEADERS/node.h" ] || { echo "base-images: no Node.js headers at $HEADERS" >&2; exit 1; }
mkdir -p "$OUT"

# make NAME EXTRA_PACKAGES: a root filesystem tarball with Node.js in /usr/local, unless cached.
make_base() {
  local name=$1 packages=$2 tar="$OUT/$1.tar"
  [ -s "$tar" ] && { echo "$tar"; return; }
  # The hook copies Node.js in while the tree is still a directory; `useradd` (passwd) as in the official images.
  mmdebstrap --quiet --format=tar --variant=minbase --include="ca-certificates,passwd${packages:+,$packages}" \
    --customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/lib/node_modules\" \"\$1/usr/local/include\"" \
    --customize-hook="copy-in $NODE_BIN /usr/local/bin" \
    --customize-hook="copy-in $NPM_DIR /usr/local/lib/node_modules" \
    --customize-hook="copy-in $HEADERS /usr/local/include" \
    --customize-hook="ln -sf ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\"; ln -sf ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
    --customize-hook="rm -rf \"\$1/var/lib/apt/lists\"/* \"\$1/var/cache/apt\"/*.bin" \
    bookworm "$tar.partial" >&2
  mv "$tar.partial" "$tar"
  echo "$tar"
}

make_base build "g++,make,python3"
make_base runtime ""
