#!/usr/bin/env bash
# Peer baseline: casync (content-defined chunking + chunk store) over the dataset's distinct layers.
# Every layer tar is chunked as a blob into ONE shared store, in dataset order, so the store holds
# what casync would keep for the whole dataset.
#
# Usage: bench/peers/casync.sh [CACHE_DIR] [AVG]    (defaults /var/tmp/docker-dedup-bench, 64K)
#   AVG: casync --chunk-size average (e.g. 16K 32K 64K); casync derives min = AVG/4, max = AVG*4.
# Needs the dataset (bench/dataset/build.sh) and Debian's casync, zstd, jq (bench/dataset/deps.sh).
# The store is a temporary directory under CACHE_DIR, deleted at exit (KEEP_STORE=1 keeps it).
#
# Prints per layer: input bytes, wall and CPU (user+sys) seconds, MB/s (10^6 B/s, by wall time),
# new distinct chunk bytes; then totals: input, distinct chunk bytes (uncompressed), chunk counts,
# store bytes on disk, MB/s. CPU time is shown because wall time on a shared 2-core box is noisy.
# Defaults of casync used as they are: sha512-256 chunk ids and zstd compression of each chunk.
set -euo pipefail
CACHE=${1:-/var/tmp/docker-dedup-bench}; AVG=${2:-64K}
for b in casync zstd jq awk; do
  command -v "$b" >/dev/null || { echo "casync.sh: '$b' not found; run bench/dataset/deps.sh" >&2; exit 1; }
done
[ -f "$CACHE/dataset.json" ] || { echo "casync.sh: no dataset in $CACHE; run bench/dataset/build.sh $CACHE" >&2; exit 1; }

S=$(mktemp -d "$CACHE/casync-$AVG.XXXXXX")
[ -n "${KEEP_STORE:-}" ] || trap 'rm -rf "$S"' EXIT
mkdir -p "$S/store" "$S/index"
# uncompressed bytes of the given .cacnk files: each is one zstd frame, and zstd -d decodes a
# concatenation of frames into the concatenation of their contents
unpacked_bytes() { if [ -s "$1" ]; then xargs -a "$1" -d '\n' cat | zstd -dc | wc -c; else echo 0; fi; }

echo "casync make, chunk size avg $AVG, store $S/store"
printf '%-14s %12s %8s %8s %8s %12s %8s\n' layer input_B wall_s cpu_s MB/s new_B new_chunks
: >"$S/before"
in_total=0; secs_total=0; cpu_total=0; distinct=0
TIMEFORMAT='%R %U %S'
while read -r digest file size; do
  if ! { time casync make --store="$S/store" --chunk-size="$AVG" \
      "$S/index/${file%.tar}.caibx" "$CACHE/layers/$file" >/dev/null 2>"$S/err"; } 2>"$S/time"; then
    cat "$S/err" >&2; echo "casync.sh: casync make failed on $file" >&2; exit 1
  fi
  read -r secs user sys <"$S/time"
  # chunks that this layer added to the store
  find "$S/store" -name '*.cacnk' | sort >"$S/after"
  comm -13 "$S/before" "$S/after" >"$S/new"; mv "$S/after" "$S/before"
  new=$(unpacked_bytes "$S/new")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  in_total=$((in_total + size)); distinct=$((distinct + new))
  secs_total=$(awk -v a="$secs_total" -v b="$secs" 'BEGIN { print a + b }')
  cpu_total=$(awk -v a="$cpu_total" -v b="$cpu" 'BEGIN { print a + b }')
  printf '%-14s %12d %8.2f %8.2f %8.1f %12d %8d\n' "${digest:7:12}" "$size" "$secs" "$cpu" \
    "$(awk -v n="$size" -v s="$secs" 'BEGIN { print n / s / 1e6 }')" "$new" "$(wc -l <"$S/new")"
done < <(jq -r '.layers[] | "\(.digest) \(.file) \(.size)"' "$CACHE/dataset.json")

chunks=$(wc -l <"$S/before")
# a blob index (.caibx) = 48-byte header + 16-byte table header + 40 bytes per chunk + 40-byte tail
refs=0; for i in "$S"/index/*.caibx; do refs=$((refs + ($(stat -c %s "$i") - 104) / 40)); done
packed=$(find "$S/store" -name '*.cacnk' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
# du also counts the store's directories (one per 4-hex-digit prefix, 4 KiB each when allocated)
apparent=$(du -sb --apparent-size "$S/store" | cut -f1)
blocks=$(du -sB1 "$S/store" | cut -f1)
indexes=$(du -sb --apparent-size "$S/index" | cut -f1)
awk -v avg="$AVG" -v inb="$in_total" -v d="$distinct" -v c="$chunks" -v r="$refs" -v pk="$packed" -v ap="$apparent" \
    -v bl="$blocks" -v ix="$indexes" -v s="$secs_total" -v cpu="$cpu_total" 'BEGIN {
  M = 1048576
  printf "casync avg %s: input %d B (%.1f MiB)\n", avg, inb, inb / M
  printf "  distinct chunk bytes (uncompressed) %d B (%.1f MiB), ratio %.2fx\n", d, d / M, inb / d
  printf "  chunks: %d distinct of %d referenced, mean distinct chunk %.0f B\n", c, r, d / c
  printf "  zstd-compressed chunk files: %d B (%.1f MiB), %.2fx of input\n", pk, pk / M, inb / pk
  printf "  store on disk: du --apparent-size %d B (%.1f MiB), du %d B (%.1f MiB); indexes %d B\n", ap, ap / M, bl, bl / M, ix
  printf "  make time %.2f s wall, %.2f s CPU: %.1f MB/s by wall time, %.1f MB/s by CPU time\n", s, cpu, inb / s / 1e6, inb / cpu / 1e6
}'
