import type { MissingChunks } from "./transfer.js";

/**
 * The two baselines the network-aware schedule is measured against. Both see only usable sites
 * (`usableSites`: a mask of the sites with bandwidth), and both leave `source` untouched for
 * chunks none of them holds.
 */

/** Nitro's baseline: each chunk from a holder picked uniformly at random; the seed makes runs repeatable. */
export function assignRandom(
  chunks: MissingChunks,
  selected: Uint32Array,
  usableSites: number,
  seed: number,
  source: Uint8Array,
): void {
  const random = mulberry32(seed);
  for (const chunk of selected) {
    const mask = (chunks.holders[chunk]! & usableSites) >>> 0;
    if (mask === 0) continue;
    let pick = Math.floor(random() * popCount(mask));
    let rest = mask;
    while (pick-- > 0) rest = (rest & (rest - 1)) >>> 0;
    source[chunk] = 31 - Math.clz32(rest & -rest);
  }
}

/**
 * The seed's behaviour, everything from one site (docker_dedup asked site 0 for every chunk),
 * made usable: each chunk from the first site in `siteOrder` that holds it.
 */
export function assignSingleSource(
  chunks: MissingChunks,
  selected: Uint32Array,
  usableSites: number,
  siteOrder: readonly number[],
  source: Uint8Array,
): void {
  for (const chunk of selected) {
    const mask = chunks.holders[chunk]! & usableSites;
    const site = siteOrder.find((s) => (mask >>> s) & 1);
    if (site !== undefined) source[chunk] = site;
  }
}

function popCount(mask: number): number {
  let count = 0;
  for (let rest = mask >>> 0; rest !== 0; rest = (rest & (rest - 1)) >>> 0) count++;
  return count;
}

/** A small, fast, seedable 32-bit generator (Tommy Ettinger's mulberry32); uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
