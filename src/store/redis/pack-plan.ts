/**
 * How to cut a batch of chunks into pack values so that Redis wastes almost no memory.
 *
 * Redis stores a string in one allocation from jemalloc, which rounds every size up to its next
 * size class: four classes per power of two (5120, 6144, 7168, 8192, 10240, ...). A value of
 * random size thus wastes 1/8 of itself on average, and up to 1/4; one key per chunk would
 * also pay ~100 bytes of key, object and dictionary entry. Packs of several chunks sized to sit
 * just under a class boundary waste less than one chunk each.
 *
 * The plan is greedy and keeps the chunks in order (a blob's chunks stay adjacent, so a read
 * fetches neighbours with one GETRANGE): take the largest class that the remaining bytes fill,
 * fill it, repeat with what is left. Each step leaves less than a quarter of the bytes, so a
 * batch of n bytes becomes about log4(n / chunk size) packs.
 */

/** Per-value bytes besides the data: the sds header (up to 9) and terminator, with room to spare. */
const VALUE_OVERHEAD = 16;
/** No pack above this: a read seeks by GETRANGE, so size only bounds one write's latency. */
export const MAX_PACK_BYTES = 4 << 20;

/** The largest jemalloc size class (lg_quantum 3, four classes per doubling) not above `n` (n >= 8). */
function classAtMost(n: number): number {
  if (n < 128) return Math.max(8, Math.floor(n / 16) * 16);
  const spacing = 2 ** (Math.floor(Math.log2(n)) - 2);
  return Math.floor(n / spacing) * spacing;
}

/** Splits chunks of the given sizes, in order, into packs; returns the number of chunks in each. */
export function planPacks(sizes: readonly number[]): number[] {
  const counts: number[] = [];
  let remaining = sizes.reduce((sum, size) => sum + size, 0);
  let i = 0;
  while (i < sizes.length) {
    const room = classAtMost(Math.min(remaining, MAX_PACK_BYTES) + VALUE_OVERHEAD) - VALUE_OVERHEAD;
    // A chunk larger than the room still goes in, alone: packs hold whole chunks.
    let bytes = sizes[i]!;
    let count = 1;
    while (i + count < sizes.length && bytes + sizes[i + count]! <= room) bytes += sizes[i + count++]!;
    counts.push(count);
    remaining -= bytes;
    i += count;
  }
  return counts;
}
