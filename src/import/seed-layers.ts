import { DedupError } from "../errors.js";
import { isChunkOf, keyLengthsFitting, mayBeRecipe, RECIPE_TAIL_BYTES, recipeKeys, sliceKeys, type ChunkKeyLength } from "./seed-format.js";
import type { SeedSource } from "./seed-source.js";

/** A seed layer worth importing: every chunk it names is in the seed. */
export interface SeedLayer {
  /** The layer's sha256 hex: its key in the seed. */
  key: string;
  keyLength: ChunkKeyLength;
  chunks: number;
  /** The bytes its chunks take in the seed (compressed or not), repeats counted: what importing it reads. */
  storedBytes: number;
}

/** A seed layer that cannot be imported, and why. */
export interface SeedLayerFault {
  key: string;
  error: DedupError;
}

export interface SeedScan {
  /** Every layer key found, to tell a recipe written over a chunk (seed-format.ts). */
  layerKeys: Set<string>;
  /** In key order. */
  toImport: SeedLayer[];
  alreadyStored: number;
  faults: SeedLayerFault[];
}

/** Keys whose lengths are asked for at once. */
const LENGTH_BATCH = 1000;

/**
 * Finds the layers of a seed database and checks that each can be rebuilt: its chunk keys cut
 * evenly at some key length and every one of them is there. Layers whose digest the store
 * already holds are only counted.
 */
export async function scanSeed(source: SeedSource, stored: (digest: string) => Promise<boolean>): Promise<SeedScan> {
  const scan: SeedScan = { layerKeys: new Set(), toImport: [], alreadyStored: 0, faults: [] };
  const checked = new Set<string>();
  for await (const candidates of source.scanLayerCandidates(RECIPE_TAIL_BYTES)) {
    // SCAN may return a key twice; with sha256 chunk keys most candidates are chunks, dropped by their tail.
    const keys = candidates.filter((c) => !checked.has(c.key) && mayBeRecipe(c.tail)).map((c) => c.key);
    keys.forEach((key) => checked.add(key));
    const values = await source.getValues(keys);
    for (const [i, key] of keys.entries()) {
      const value = values[i];
      const chunkKeys = value === undefined ? undefined : recipeKeys(value);
      // A sha256 chunk whose bytes happen to end like a recipe is still a chunk.
      if (chunkKeys === undefined || isChunkOf(key, value!)) continue;
      scan.layerKeys.add(key);
      if (await stored(`sha256:${key}`)) {
        scan.alreadyStored++;
        continue;
      }
      try {
        scan.toImport.push(await checkLayer(source, key, chunkKeys));
      } catch (error) {
        if (!(error instanceof DedupError)) throw error;
        scan.faults.push({ key, error });
      }
    }
  }
  scan.toImport.sort((a, b) => (a.key < b.key ? -1 : 1));
  scan.faults.sort((a, b) => (a.key < b.key ? -1 : 1));
  return scan;
}

/** The concatenated chunk keys of a layer, read again (scanSeed keeps only their count). */
export async function readLayerRecipe(source: SeedSource, key: string): Promise<string> {
  const [value] = await source.getValues([key]);
  const chunkKeys = value === undefined ? undefined : recipeKeys(value);
  if (chunkKeys === undefined) throw new DedupError("CHUNK_MISSING", `its recipe is gone from the seed (changed during the import?)`, { key });
  return chunkKeys;
}

/** Picks the chunk key length at which every chunk of the layer exists. */
async function checkLayer(source: SeedSource, key: string, chunkKeys: string): Promise<SeedLayer> {
  if (chunkKeys === key) {
    throw new DedupError(
      "CHUNK_MISSING",
      "unrecoverable: a single-chunk layer with sha256 chunk keys, whose chunk key is the layer's own digest; the seed wrote the recipe over the chunk, so its bytes are gone",
      { key },
    );
  }
  // Most lengths are ruled out by their first key alone; try those whose first chunk exists first.
  const lengths = keyLengthsFitting(chunkKeys);
  const firstChunks = await source.valueLengths(lengths.map((length) => chunkKeys.slice(0, length)));
  const candidates = lengths.filter((_, i) => firstChunks[i] !== undefined);
  if (candidates.length === 0) {
    const tried = lengths.map((length) => chunkKeys.slice(0, length)).join(", ");
    throw new DedupError("CHUNK_MISSING", `its first chunk is missing from the seed (as any key length: ${tried})`, { key });
  }
  let fewestMissing: { missing: number; first: number; chunks: number; keyLength: ChunkKeyLength } | undefined;
  for (const keyLength of candidates) {
    const { missing, firstMissing, chunks, storedBytes } = await measureChunks(source, chunkKeys, keyLength);
    if (missing === 0) return { key, keyLength, chunks, storedBytes };
    if (fewestMissing === undefined || missing < fewestMissing.missing) fewestMissing = { missing, first: firstMissing, chunks, keyLength };
  }
  const { missing, first, chunks, keyLength } = fewestMissing!;
  const [firstKey] = sliceKeys(chunkKeys, keyLength, first, first + 1);
  throw new DedupError("CHUNK_MISSING", `${missing} of its ${chunks} chunks are missing from the seed (the first: #${first + 1}, ${firstKey})`, { key });
}

/** Counts a layer's chunks whose keys (cut at `keyLength`) are missing, and the bytes of the others. */
async function measureChunks(source: SeedSource, chunkKeys: string, keyLength: ChunkKeyLength) {
  const chunks = chunkKeys.length / keyLength;
  let missing = 0;
  let firstMissing = -1;
  let storedBytes = 0;
  for (let start = 0; start < chunks; start += LENGTH_BATCH) {
    const keys = sliceKeys(chunkKeys, keyLength, start, start + LENGTH_BATCH);
    const unique = [...new Set(keys)];
    const lengths = await source.valueLengths(unique);
    const lengthOf = new Map(unique.map((k, i) => [k, lengths[i]]));
    for (const [i, k] of keys.entries()) {
      const length = lengthOf.get(k);
      if (length !== undefined) {
        storedBytes += length;
      } else {
        missing++;
        if (firstMissing < 0) firstMissing = start + i;
      }
    }
  }
  return { missing, firstMissing, chunks, storedBytes };
}
