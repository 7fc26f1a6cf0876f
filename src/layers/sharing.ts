import { setImmediate as nextTurn } from "node:timers/promises";
import type { Recipe } from "../store/recipe.js";

/** A set of blobs whose chunks count together: an image and its layers. */
export interface BlobGroup {
  blobs: readonly string[];
}

/** How much a blob of a group shares with each group (its own included), in bytes of its distinct chunks. */
export interface BlobSharing {
  /** The plain bytes of the blob's distinct chunks (0 if the store has no chunks for it). */
  uniqueBytes: number;
  /** Group index -> bytes of this blob's distinct chunks that group's blobs also contain. */
  sharedWith: Map<number, number>;
}

export interface Sharing {
  /** common[i][j]: bytes of the distinct chunks groups i and j both contain; common[i][i] is group i's distinct bytes. */
  common: number[][];
  blobs: Map<string, BlobSharing>;
}

/** A blob's distinct chunks, compactly: 32-byte ids end to end, and each one's plain length. */
interface DistinctChunks {
  ids: Buffer;
  lengths: Uint32Array;
}

const ID_BYTES = 32;
/** Chunks looked at between two turns of the event loop, so that requests queued meanwhile are answered. */
const CHUNKS_PER_TURN = 20_000;

/**
 * Which blobs share which bytes, counted by chunk: two blobs have in common the plain bytes of
 * the distinct chunks both contain (a chunk repeated inside one blob counts once). The recipes a
 * computation reads are kept, up to `maxCachedChunks` chunks in all (least recently used dropped
 * first): a blob's chunks never change, and re-reading every recipe is what a computation costs.
 * A computation is O(chunks of the blobs) and yields to the event loop as it goes.
 */
export class SharingIndex {
  readonly #chunksOf: (digest: string) => Promise<Recipe | undefined>;
  readonly #maxCachedChunks: number;
  readonly #cache = new Map<string, DistinctChunks>();
  #cachedChunks = 0;

  /** `chunksOf`: BlobService.chunksOf, the recipe whose chunks make a blob. */
  constructor(chunksOf: (digest: string) => Promise<Recipe | undefined>, maxCachedChunks: number) {
    this.#chunksOf = chunksOf;
    this.#maxCachedChunks = maxCachedChunks;
  }

  async compute(groups: readonly BlobGroup[]): Promise<Sharing> {
    // Each distinct chunk, with the groups that contain it (ascending, as groups are walked in order).
    const groupsOf = new Map<string, number[]>();
    const lengthOf = new Map<string, number>();
    const chunksOfBlob = new Map<string, DistinctChunks>();
    let steps = 0;
    for (let g = 0; g < groups.length; g++) {
      for (const digest of groups[g]!.blobs) {
        let chunks = chunksOfBlob.get(digest);
        if (chunks === undefined) {
          chunks = await this.#distinctChunks(digest);
          chunksOfBlob.set(digest, chunks);
        }
        for (let i = 0; i < chunks.lengths.length; i++) {
          const key = chunks.ids.toString("latin1", i * ID_BYTES, (i + 1) * ID_BYTES);
          const holders = groupsOf.get(key);
          if (holders === undefined) {
            groupsOf.set(key, [g]);
            lengthOf.set(key, chunks.lengths[i]!);
          } else if (holders[holders.length - 1] !== g) holders.push(g);
          if (++steps % CHUNKS_PER_TURN === 0) await nextTurn();
        }
      }
    }
    // Chunks grouped by the set of groups holding them: pairs are counted per set, not per chunk.
    const setOf = new Map<string, number>();
    const setOfChunk = new Map<string, number>();
    const sets: { groups: number[]; bytes: number }[] = [];
    for (const [key, holders] of groupsOf) {
      const name = holders.join(",");
      let at = setOf.get(name);
      if (at === undefined) {
        at = sets.length;
        setOf.set(name, at);
        sets.push({ groups: holders, bytes: 0 });
      }
      sets[at]!.bytes += lengthOf.get(key)!;
      setOfChunk.set(key, at);
      if (++steps % CHUNKS_PER_TURN === 0) await nextTurn();
    }
    const common = groups.map(() => new Array<number>(groups.length).fill(0));
    for (const { groups: holders, bytes } of sets) {
      for (const i of holders) for (const j of holders) common[i]![j]! += bytes;
    }
    const blobs = new Map<string, BlobSharing>();
    for (const [digest, chunks] of chunksOfBlob) {
      const bySet = new Map<number, number>();
      let uniqueBytes = 0;
      for (let i = 0; i < chunks.lengths.length; i++) {
        const at = setOfChunk.get(chunks.ids.toString("latin1", i * ID_BYTES, (i + 1) * ID_BYTES))!;
        bySet.set(at, (bySet.get(at) ?? 0) + chunks.lengths[i]!);
        uniqueBytes += chunks.lengths[i]!;
        if (++steps % CHUNKS_PER_TURN === 0) await nextTurn();
      }
      const sharedWith = new Map<number, number>();
      for (const [at, bytes] of bySet) for (const g of sets[at]!.groups) sharedWith.set(g, (sharedWith.get(g) ?? 0) + bytes);
      blobs.set(digest, { uniqueBytes, sharedWith });
    }
    return { common, blobs };
  }

  async #distinctChunks(digest: string): Promise<DistinctChunks> {
    const cached = this.#cache.get(digest);
    if (cached !== undefined) {
      // Map order is the LRU order: a hit moves to the end.
      this.#cache.delete(digest);
      this.#cache.set(digest, cached);
      return cached;
    }
    const recipe = await this.#chunksOf(digest);
    const chunks = recipe === undefined ? { ids: Buffer.alloc(0), lengths: new Uint32Array(0) } : distinct(recipe);
    // A blob the store lacks is not cached: it may arrive (a site's fetch, a push under way).
    if (recipe === undefined || chunks.lengths.length > this.#maxCachedChunks) return chunks;
    this.#cache.set(digest, chunks);
    this.#cachedChunks += chunks.lengths.length;
    for (const [old, entry] of this.#cache) {
      if (this.#cachedChunks <= this.#maxCachedChunks) break;
      this.#cache.delete(old);
      this.#cachedChunks -= entry.lengths.length;
    }
    return chunks;
  }
}

function distinct(recipe: Recipe): DistinctChunks {
  const seen = new Set<string>();
  const at: number[] = [];
  recipe.ids.forEach((id, i) => {
    const key = id.toString("latin1");
    if (seen.has(key)) return;
    seen.add(key);
    at.push(i);
  });
  const ids = Buffer.allocUnsafe(at.length * ID_BYTES);
  const lengths = new Uint32Array(at.length);
  at.forEach((i, k) => {
    recipe.ids[i]!.copy(ids, k * ID_BYTES);
    lengths[k] = recipe.lengths[i]!;
  });
  return { ids, lengths };
}
