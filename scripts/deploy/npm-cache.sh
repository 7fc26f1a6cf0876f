#!/usr/bin/env bash
# Fills deploy/npm-cache with the packages of package-lock.json, for a machine whose `docker
# build` containers cannot reach the npm registry (no network, or a proxy they do not trust):
# the Dockerfile copies that folder into npm's cache, and `npm ci --prefer-offline` takes the
# packages from there. Run it where npm itself reaches the registry; it leaves node_modules alone.
#
#   scripts/deploy/npm-cache.sh && docker build --network none -t docker-dedup .
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp package.json package-lock.json "$scratch/"
# Downloads only: nothing is built or run (the image builds zstd-napi's addon itself).
(cd "$scratch" && npm ci --ignore-scripts --no-audit --no-fund --cache "$scratch/cache" >/dev/null)
cp -r "$scratch/cache/_cacache/." deploy/npm-cache/
echo "npm-cache: deploy/npm-cache holds $(du -sh deploy/npm-cache | cut -f1) of packages"
