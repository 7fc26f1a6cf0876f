/**
 * The Gear table of FastCDC: 256 pseudo-random 32-bit words. It is part of the storage format
 * (changing it changes every cut), so it is generated from a fixed seed, never at random.
 */
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const GEAR_SEED = 0x6765_6172; // "gear"

export const GEAR: Int32Array = (() => {
  const next = splitmix32(GEAR_SEED);
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) table[i] = next() | 0;
  return table;
})();
