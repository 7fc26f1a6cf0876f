import { isDedupError } from "../errors.js";
import { chunkIdOf } from "../store/chunk-id.js";
import { decodeChunk, sliceOf } from "../store/codec.js";
import { slicesAmong } from "../store/runs.js";
import type { Store } from "../store/types.js";
import { ChunkCache } from "./chunk-cache.js";
import { readForChecks, type ReadParts } from "./reconstruct.js";

export interface Damage {
  kind: "chunk" | "blob";
  id: string;
  problem: string;
}

/** How far a verification got: chunks re-hashed, then blobs rebuilt. */
export interface VerifyProgress {
  chunks: number;
  blobs: number;
}

/** What a verification found: what it checked, what is damaged, and the recipes without a seal (version 1) it left or sealed. */
export interface VerifyReport {
  chunks: number;
  blobs: number;
  damage: Damage[];
  unsealed: number;
  sealed: number;
}

/**
 * Re-hashes every chunk, then rebuilds every blob against its digest; reports what is damaged.
 * `onProgress` hears of each chunk and blob checked. With `seal`, a recipe without a seal (from a
 * store written before recipes had one, store/recipe.ts) whose blob verified is written again,
 * sealed: whole reads of it then prove their bytes chunk by chunk instead of hashing the blob.
 */
export async function verifyStore(store: Store, parts: ReadParts, onProgress?: (checked: VerifyProgress) => void, { seal = false } = {}): Promise<VerifyReport> {
  // Every chunk is decoded and checked again, never taken from the cache.
  const reading: ReadParts = { ...parts, cache: new ChunkCache(0), verified: new WeakSet() };
  const damage: Damage[] = [];
  let chunks = 0;
  /** Runs that slices name: their bytes are checked as chunks of their own, and the slices' with the blobs. */
  const runs = new Set<string>();
  for await (const { id, data } of store.scanChunks()) {
    chunks++;
    const slice = sliceOf(data);
    if (slice !== undefined) {
      runs.add(slice.run.toString("hex"));
      onProgress?.({ chunks, blobs: 0 });
      continue;
    }
    try {
      const plain = decodeChunk(data);
      if (!chunkIdOf(plain).equals(id)) damage.push({ kind: "chunk", id: id.toString("hex"), problem: "content does not match its id" });
    } catch (error) {
      damage.push({ kind: "chunk", id: id.toString("hex"), problem: `cannot be decoded: ${(error as Error).message}` });
    }
    onProgress?.({ chunks, blobs: 0 });
  }
  damage.push(...(await slicesOfBadRuns(store, runs, damage)));
  let blobs = 0;
  let unsealed = 0;
  let sealed = 0;
  for await (const recipe of store.scanRecipes()) {
    blobs++;
    try {
      // Proven or not, every blob is hashed whole against its digest here: verify trusts no seal.
      await readForChecks(store, { ...recipe, proven: false }, reading);
      if (recipe.proven !== true && seal) {
        // Written again as it is, sealed. Were garbage collection dooming it meanwhile, it is
        // merely live again, and its next run dooms it anew.
        await store.putRecipe(recipe);
        sealed++;
      } else if (recipe.proven !== true) {
        unsealed++;
      }
    } catch (error) {
      if (!isDedupError(error)) throw error;
      damage.push({ kind: "blob", id: recipe.digest, problem: error.message });
    }
    onProgress?.({ chunks, blobs });
  }
  if (sealed > 0) await store.sync();
  return { chunks, blobs, damage, unsealed, sealed };
}

/**
 * The slices whose runs are missing or damaged, as damage of their own: a repair fetches those
 * chunks again (a run, the bytes of many, is no source's to give). Costs a look at the index,
 * and more only if such a run exists.
 */
async function slicesOfBadRuns(store: Store, runs: Set<string>, damage: readonly Damage[]): Promise<Damage[]> {
  const bad = new Map<string, string>();
  for (const d of damage) if (runs.has(d.id)) bad.set(d.id, "is damaged");
  const missing = new Set(runs);
  for await (const batch of store.scanChunkEntries()) for (const entry of batch) missing.delete(entry.id.toString("hex"));
  for (const run of missing) bad.set(run, "is missing");
  if (bad.size === 0) return [];
  const found: Damage[] = [];
  for await (const batch of store.scanChunkEntries()) {
    for (const { id, run } of await slicesAmong(store, batch)) {
      const problem = bad.get(run.toString("hex"));
      if (problem !== undefined) found.push({ kind: "chunk", id: id.toString("hex"), problem: `its run ${run.toString("hex")} ${problem}` });
    }
  }
  return found;
}
