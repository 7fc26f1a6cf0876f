#!/usr/bin/env bash
# Build the benchmark dataset: a family of real, related Debian bookworm images whose layers are
# UNCOMPRESSED tars, so that dedup measurements see the bytes a registry really stores.
#
#   tag           content                                          layers
#   minbase       mmdebstrap minbase (bookworm + updates + security)  1: whole rootfs
#   python        minbase + python3                                   2: minbase + diff
#   node          minbase + nodejs                                    2: minbase + diff
#   minbase-old   minbase from the bookworm point release only        1: whole rootfs
#   python-old    minbase-old + python3                               2: minbase-old + diff
#
# The "old" set has older versions of several packages (libssl3, tzdata, python3.11, ...), so it
# models a rebuild of the same image some weeks later.
#
# Usage: bench/dataset/build.sh [CACHE_DIR]     (default /var/tmp/docker-dedup-bench)
# Output in CACHE_DIR:
#   images/<tag>/                  skopeo dir: copy (manifest.json + blobs named by hex digest)
#   layers/sha256-<hex>.tar        one hard link (or copy) per distinct layer
#   dataset.json                   tags, layers, sizes (written last: its presence means "complete")
# Cached: when dataset.json and every layer it lists are present, it prints the summary and exits.
# Needs root and the Debian packages from bench/dataset/deps.sh (installs nothing itself).
# About 5 minutes on 2 cores (5.5 to 9 min measured on a busy shared machine); about 2.5 GB of
# scratch at peak (CACHE_DIR/work, removed at the end; KEEP_WORK=1 keeps the root filesystems
# and the OCI layout). The result takes 514 MiB (the images/ blobs are hard links to layers/).
# Note: skopeo records gzip<->tar digest pairs in its blob-info cache
# (/var/lib/containers/cache); push benchmarks should use fresh repositories or clear it.
set -euo pipefail
CACHE=${1:-/var/tmp/docker-dedup-bench}
TAGS=(minbase python node minbase-old python-old)

summary() {
  jq -r '.images[] | [.tag, (.layers | map(.[7:19]) | join(" + "))] | @tsv' "$CACHE/dataset.json" |
    awk -F'\t' '{printf "  %-12s %s\n", $1, $2}'
  jq -r '.layers[] | [.digest[7:19], .size, (.usedBy | join(","))] | @tsv' "$CACHE/dataset.json" |
    awk -F'\t' '{printf "  %s  %10d bytes  %6.1f MiB  %s\n", $1, $2, $2/1048576, $3}'
  jq -r '.totals | [.distinctLayers, .distinctBytes, .pulledBytes] | @tsv' "$CACHE/dataset.json" |
    awk -F'\t' '{printf "  distinct layers: %d, %d bytes (%.1f MiB); all layers of all images: %d bytes (%.1f MiB)\n", $1, $2, $2/1048576, $3, $3/1048576}'
}

# --- cache hit: nothing to do -------------------------------------------------------------------
if [ -f "$CACHE/dataset.json" ] && command -v jq >/dev/null; then
  ok=1
  while read -r f size; do
    [ "$(stat -c %s "$CACHE/layers/$f" 2>/dev/null)" = "$size" ] || { ok=; break; }
  done < <(jq -r '.layers[] | "\(.file) \(.size)"' "$CACHE/dataset.json")
  if [ -n "$ok" ]; then echo "dataset present in $CACHE"; summary; exit 0; fi
  echo "dataset in $CACHE is incomplete: rebuilding" >&2
fi

# --- preconditions ------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || { echo "build.sh: must run as root (mmdebstrap --mode=root, umoci ownership)" >&2; exit 1; }
for b in mmdebstrap umoci skopeo jq apt-get sha256sum; do
  command -v "$b" >/dev/null || { echo "build.sh: '$b' not found; run bench/dataset/deps.sh" >&2; exit 1; }
done

# everything below deletes and rewrites parts of CACHE_DIR: refuse a directory that holds
# anything else (a typo such as "/" must not become rm -rf /work)
if [ -n "$(ls -A "$CACHE" 2>/dev/null)" ] && [ ! -e "$CACHE/.docker-dedup-bench" ]; then
  echo "build.sh: $CACHE is not empty and is not a dataset directory; give an empty or new one" >&2; exit 1
fi
mkdir -p "$CACHE"; touch "$CACHE/.docker-dedup-bench"
W="$CACHE/work"
rm -rf "$CACHE/dataset.json" "$CACHE/images" "$CACHE/layers" "$W/oci" "$W/bundles"
mkdir -p "$W/rootfs" "$W/bundles" "$CACHE/images" "$CACHE/layers"
T0=$(date +%s)
step() { local s=$(date +%s); "$@"; echo "  $(( $(date +%s) - s )) s  $*" | cut -c1-120; }

# --- 1. root filesystems ------------------------------------------------------------------------
# "URI SUITE" for each Packages index the host's apt knows (from .list or .sources files), read at
# run time so that no mirror host is ever written into this repository.
mapfile -t REPOS < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' | sort -u)
[ ${#REPOS[@]} -gt 0 ] || { echo "build.sh: apt has no package lists; run apt-get update (or deps.sh)" >&2; exit 1; }
sources() { # current|old -> one "deb URI SUITE main" line per matching repository
  local r
  for r in "${REPOS[@]}"; do
    case "$1:${r#* }" in
      current:bookworm|current:bookworm-updates|current:bookworm-security|old:bookworm)
        echo "deb ${r% *} ${r#* } main" ;;
    esac
  done
}
for set in current old; do
  [ -n "$(sources $set)" ] || { echo "build.sh: the host's apt config has no bookworm sources" >&2; exit 1; }
done

rootfs() { # name set [include]
  local out="$W/rootfs/$1" log
  [ -d "$out" ] && return 0            # finished in an earlier, interrupted run
  rm -rf "$out.tmp"
  local args=(--variant=minbase --mode=root --format=directory
    --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Languages "none"'
    --skip=output/dev
    # no mirror address and no apt lists inside the image, as an image build would leave it
    --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*; rm -rf "$1"/var/lib/apt/lists/*')
  [ -n "${3:-}" ] && args+=(--include="$3")
  mapfile -t src < <(sources "$2")
  # the log names the mirror: keep it in memory, show its tail only on failure
  if ! log=$(mmdebstrap "${args[@]}" bookworm "$out.tmp" "${src[@]}" 2>&1); then
    printf '%s\n' "$log" | tail -20 >&2; echo "build.sh: mmdebstrap $1 failed" >&2; exit 1
  fi
  mv "$out.tmp" "$out"
}
echo "root filesystems (mmdebstrap):"
step rootfs minbase current
step rootfs python current python3
step rootfs node current nodejs
step rootfs minbase-old old
step rootfs python-old old python3

# --- 2. OCI images (umoci writes gzip layers; we decompress in step 3) --------------------------
OCI="$W/oci"
umoci init --layout "$OCI"
# The rootfs is moved into the bundle and back rather than copied (same file system; copying
# ~200 MB of small files per image was most of umoci's time). An interrupted run just rebuilds it.
swap_in() { rm -rf "$W/bundles/$1/rootfs"; mv "$W/rootfs/$1" "$W/bundles/$1/rootfs"; }
swap_out() { mv "$W/bundles/$1/rootfs" "$W/rootfs/$1"; rm -rf "$W/bundles/$1"; }
base_image() { # tag: the whole rootfs becomes one layer
  umoci new --image "$OCI:$1"
  umoci unpack --image "$OCI:$1" "$W/bundles/$1" >/dev/null
  swap_in "$1"
  umoci repack --history.created_by "mmdebstrap --variant=minbase bookworm" --image "$OCI:$1" "$W/bundles/$1"
  umoci config --image "$OCI:$1" --architecture=amd64 --os=linux --config.cmd=/bin/bash \
    --config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  swap_out "$1"
}
derived_image() { # base tag: a real diff layer of the derived rootfs over the unpacked base
  umoci tag --image "$OCI:$1" "$2"
  umoci unpack --image "$OCI:$2" "$W/bundles/$2" >/dev/null
  # Swap the whole tree for the derived one. umoci's mtree diff then emits only what changed
  # (files with other bytes, mode, owner or mtime; dpkg keeps package mtimes, so untouched
  # files stay out) plus whiteouts for anything removed.
  swap_in "$2"
  umoci repack --history.created_by "apt-get install" --image "$OCI:$2" "$W/bundles/$2"
  swap_out "$2"
}
echo "OCI images (umoci):"
step base_image minbase
step base_image minbase-old
step derived_image minbase python
step derived_image minbase node
step derived_image minbase-old python-old
umoci gc --layout "$OCI"

# --- 3. uncompressed dir: copies and the flat layer directory -----------------------------------
echo "uncompressed copies (skopeo dir:):"
for tag in "${TAGS[@]}"; do
  step skopeo copy -q --dest-decompress "oci:$OCI:$tag" "dir:$CACHE/images/$tag"
done
for tag in "${TAGS[@]}"; do
  for d in $(jq -r '.layers[].digest' "$CACHE/images/$tag/manifest.json"); do
    hex=${d#sha256:}; src="$CACHE/images/$tag/$hex"; dst="$CACHE/layers/sha256-$hex.tar"
    [ -e "$dst" ] && continue
    # never trust a mediaType for compression: check the bytes (gzip 1f8b, zstd 28b52ffd)
    case "$(head -c4 "$src" | od -An -tx1 | tr -d ' \n')" in
      1f8b*|28b52ffd) echo "build.sh: layer $hex of $tag is still compressed" >&2; exit 1 ;;
    esac
    ln "$src" "$dst" 2>/dev/null || cp "$src" "$dst"
  done
  # skopeo wrote a private copy of the shared base layer into every image: share one file instead
  for d in $(jq -r '.layers[].digest' "$CACHE/images/$tag/manifest.json"); do
    ln -f "$CACHE/layers/sha256-${d#sha256:}.tar" "$CACHE/images/$tag/${d#sha256:}" 2>/dev/null || true
  done
done
# the file names are the contract for the benchmarks: check every one against its content
(cd "$CACHE/layers" && for f in sha256-*.tar; do h=${f#sha256-}; echo "${h%.tar}  $f"; done | sha256sum --quiet -c -) \
  || { echo "build.sh: layer digest mismatch" >&2; exit 1; }

# --- 4. dataset.json (last: marks the dataset complete) -----------------------------------------
# installed packages and versions of each image ("old" vs current differ here)
pkgs() { chroot "$W/rootfs/$1" dpkg-query -W -f '${Package}\t${Version}\n' | jq -R 'split("\t") | {(.[0]): .[1]}' | jq -s -c add; }
for tag in "${TAGS[@]}"; do
  jq -c --arg tag "$tag" --argjson packages "$(pkgs "$tag")" \
    '{tag: $tag, packageCount: ($packages | length), packages: $packages,
      mediaType: (.mediaType // "application/vnd.oci.image.manifest.v1+json"),
      config: .config.digest,
      layers: [.layers[].digest], layerSizes: [.layers[].size]}' "$CACHE/images/$tag/manifest.json"
done | jq -s --arg created "$(date -u +%FT%TZ)" --argjson seconds $(( $(date +%s) - T0 )) '
  . as $imgs
  | ([$imgs[] | . as $i | range(0; .layers | length) | {digest: $i.layers[.], size: $i.layerSizes[.], tag: $i.tag}]) as $all
  | (reduce $all[] as $l ([];   # distinct layers, in order of first use
        if any(.[]; .digest == $l.digest) then map(if .digest == $l.digest then .usedBy += [$l.tag] else . end)
        else . + [{digest: $l.digest, size: $l.size, file: ("sha256-" + $l.digest[7:] + ".tar"), usedBy: [$l.tag]}] end)) as $layers
  | {created: $created, buildSeconds: $seconds, suite: "bookworm",
     images: [$imgs[] | del(.layerSizes)],
     layers: $layers,
     totals: {distinctLayers: ($layers | length), distinctBytes: ($layers | map(.size) | add),
              pulledBytes: ($all | map(.size) | add)}}' >"$CACHE/dataset.json.tmp"
mv "$CACHE/dataset.json.tmp" "$CACHE/dataset.json"

[ -n "${KEEP_WORK:-}" ] || rm -rf "$W"
echo "dataset built in $(( $(date +%s) - T0 )) s: $CACHE"
summary
