import type { MissingChunks } from "../../src/sites/schedule/transfer.js";

/** Deterministic pseudo-random numbers for test instances (a linear congruential generator). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** `count` chunks of sizes in [minSize, maxSize], each held by a random non-empty set of the first `siteCount` sites. */
export function randomChunks(
  random: () => number,
  count: number,
  siteCount: number,
  minSize: number,
  maxSize: number,
): MissingChunks {
  const sizes = new Uint32Array(count);
  const holders = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    sizes[i] = minSize + Math.floor(random() * (maxSize - minSize + 1));
    while (holders[i] === 0) holders[i] = Math.floor(random() * 2 ** siteCount);
  }
  return { sizes, holders };
}

export const mask = (...sites: number[]) => sites.reduce((m, s) => (m | (1 << s)) >>> 0, 0);
