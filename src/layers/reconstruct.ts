import { createHash } from "node:crypto";
import { DedupError } from "../errors.js";
import type { ChunkId } from "../store/chunk-id.js";
import { sliceOf } from "../store/codec.js";
import type { ChunkCache } from "./chunk-cache.js";
import type { CodecPool } from "./codec-pool.js";
import type { ReadAheadBudget } from "./read-ahead.js";
import { ReadBatches } from "./read-batches.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";

/** Inclusive byte range, as in an HTTP `Range` header. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What reads of one process share: decoded chunks, the threads that decode, and what was verified. */
export interface ReadParts {
  cache: ChunkCache;
  codec: CodecPool;
  /** Bounds the batches all reads fetch ahead, beyond the first of each. */
  readAhead: ReadAheadBudget;
  /**
   * Recipes (these very objects) rebuilt whole by a read and found to match their digests: their
   * chunks make up the blob, so whoever holds such a recipe need not hash the blob again.
   */
  verified: WeakSet<Recipe>;
}

/** Batches (read-batches.ts) fetched and decoded ahead. */
const BATCHES_AHEAD = 4;

/**
 * Streams a blob back from its recipe, reading and decoding ahead of the consumer. Every byte is
 * proven before it is yielded. Each chunk decoded is checked against its id (in the decode
 * threads); a chunk from the cache was checked when it went in, and its length must be the one
 * the recipe gives. A proven recipe (store/recipe.ts) then proves the blob: it is these chunks.
 * An unproven one (a peer's, a version-1 record) is proven as a whole read streams, by its sha256
 * digest, its last piece held back until the digest matched (else the stream fails, one piece
 * short); a range of it is only as good as the recipe.
 *
 * Why this and not the blob's digest on every read: a digest is one sequential hash on the
 * thread that sends, over every byte of every read, cached or not; chunk ids are checked once per
 * chunk decoded, in parallel, and a read from the cache costs no hash at all (BENCHMARKS.md).
 */
export async function* readBlob(store: Store, recipe: Recipe, range: ByteRange | undefined, parts: ReadParts): AsyncGenerator<Buffer> {
  const { start, end } = range ?? { start: 0, end: recipe.size - 1 };
  if (recipe.size === 0) return;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end < recipe.size)) {
    throw new DedupError("RANGE_INVALID", `range ${start}-${end} is outside the ${recipe.size}-byte blob`, { start, end, size: recipe.size });
  }
  const whole = start === 0 && end === recipe.size - 1;
  const digester = whole && recipe.proven !== true ? createHash("sha256") : undefined;

  // Find the chunks that cover [start, end].
  let first = 0;
  let firstOffset = 0;
  while (firstOffset + recipe.lengths[first]! <= start) firstOffset += recipe.lengths[first++]!;
  let last = first;
  let lastEnd = firstOffset + recipe.lengths[first]!;
  while (lastEnd <= end) lastEnd += recipe.lengths[++last]!;

  /** Batches on the way, in order, each with the read-ahead budget it holds (none for a read's only batch). */
  const ahead: { batch: Promise<Buffer[]>; reserved: number }[] = [];
  /** This rebuild, as the decode pool's fairness counts it. */
  const owner = {};
  let nextBatch = first;
  const batches = new ReadBatches();
  const fill = (): void => {
    while (ahead.length < BATCHES_AHEAD && nextBatch <= last) {
      const from = nextBatch;
      let to = from;
      let bytes = 0;
      for (let ends = false; to <= last && !ends; to++) {
        bytes += recipe.lengths[to]!;
        ends = batches.add(recipe.lengths[to]!);
      }
      const reserved = ahead.length === 0 ? 0 : bytes;
      if (reserved > 0 && !parts.readAhead.tryTake(reserved)) return;
      nextBatch = to;
      const batch = fetchBatch(store, recipe, from, to, parts, owner);
      batch.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      ahead.push({ batch, reserved });
    }
  };

  let offset = firstOffset;
  let held: Buffer | undefined;
  try {
    fill();
    while (ahead.length > 0) {
      const { batch, reserved } = ahead.shift()!;
      parts.readAhead.give(reserved);
      const chunks = await batch;
      fill();
      const pieces: Buffer[] = [];
      for (const chunk of chunks) {
        const from = Math.max(0, start - offset);
        const to = Math.min(chunk.length, end + 1 - offset);
        offset += chunk.length;
        pieces.push(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
      }
      for (const piece of joinAdjacent(pieces)) {
        digester?.update(piece);
        // An unproven blob's last piece is held back until the digest is checked: a consumer that
        // streams to a client never hands out a complete-looking blob of wrong bytes.
        if (held !== undefined) yield held;
        held = piece;
      }
    }
  } finally {
    // A read that failed or was left early (its client went away) gives back what it held.
    for (const { reserved } of ahead.splice(0)) parts.readAhead.give(reserved);
  }
  if (digester !== undefined) {
    const actual = `sha256:${digester.digest("hex")}`;
    if (actual !== recipe.digest) {
      throw new DedupError("CHUNK_CORRUPT", `rebuilt ${recipe.digest} but got ${actual}: the store is damaged`, { digest: recipe.digest, actual });
    }
    parts.verified.add(recipe);
  }
  if (held !== undefined) yield held;
}

/**
 * Pieces that follow each other in one buffer (chunks decoded in one batch lie back to back)
 * joined into one view, without a copy: a hash call and a yield per run instead of per chunk.
 */
function joinAdjacent(pieces: Buffer[]): Buffer[] {
  const joined: Buffer[] = [];
  for (const piece of pieces) {
    const last = joined.at(-1);
    if (last !== undefined && last.buffer === piece.buffer && last.byteOffset + last.length === piece.byteOffset) {
      joined[joined.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + piece.length);
    } else {
      joined.push(piece);
    }
  }
  return joined;
}

/**
 * Chunks [from, to) of a recipe, in order: from the cache, else read, decoded and checked against
 * their ids, and put in the cache (only chunks so checked go there).
 */
async function fetchBatch(store: Store, recipe: Recipe, from: number, to: number, { cache, codec }: ReadParts, owner: object): Promise<Buffer[]> {
  const ids = recipe.ids.slice(from, to);
  const out: (Buffer | undefined)[] = ids.map((id) => cache.get(id));
  // A cached chunk is the chunk of its id, but a damaged recipe may name the wrong one: its length tells, for free.
  const misplaced = out.findIndex((chunk, i) => chunk !== undefined && chunk.length !== recipe.lengths[from + i]);
  if (misplaced !== -1) throw damaged(recipe, ids[misplaced]!, "does not have the length its recipe gives");
  const misses = out.flatMap((chunk, i) => (chunk === undefined ? [i] : []));
  if (misses.length === 0) return out as Buffer[];
  const stored = await store.getChunks(misses.map((i) => ids[i]!));
  const missing = stored.findIndex((data) => data === undefined);
  if (missing !== -1) {
    const chunk = ids[misses[missing]!]!.toString("hex");
    throw new DedupError("CHUNK_MISSING", `chunk ${chunk} of ${recipe.digest} is missing`, { digest: recipe.digest, chunk });
  }
  // A chunk may have entered the cache while it was read: a site puts each chunk it fetches from
  // a peer there, decoded and checked, as the read waiting for it ends. It is not decoded again.
  const undecoded: number[] = [];
  const toDecode: Uint8Array[] = [];
  misses.forEach((i, k) => {
    const cached = cache.getAgain(ids[i]!);
    if (cached !== undefined) {
      out[i] = cached;
    } else {
      undecoded.push(i);
      toDecode.push(stored[k]!);
    }
  });
  const freshIds = undecoded.map((i) => ids[i]!);
  const fresh = await codec.decodeChecked(
    toDecode,
    freshIds,
    undecoded.map((i) => recipe.lengths[from + i]!),
    owner,
    await runsNamed(store, toDecode, recipe),
  );
  fresh.forEach((chunk, k) => {
    if (chunk === undefined) throw damaged(recipe, freshIds[k]!, "is damaged");
    out[undecoded[k]!] = chunk;
  });
  // The decoded batch's buffer is this read's alone: the cache may keep it rather than a copy.
  cache.putAll(freshIds, fresh as Buffer[], { adopt: true });
  return out as Buffer[];
}

/** The runs that slices among `stored` name (store/codec.ts), each once. */
async function runsNamed(store: Store, stored: readonly Uint8Array[], recipe: Recipe): Promise<{ ids: ChunkId[]; stored: Uint8Array[] }> {
  const named = new Map<string, ChunkId>();
  for (const chunk of stored) {
    const run = sliceOf(chunk)?.run;
    if (run !== undefined) named.set(run.toString("latin1"), run);
  }
  if (named.size === 0) return { ids: [], stored: [] };
  const ids = [...named.values()];
  const runs = await store.getChunks(ids);
  const missing = runs.findIndex((data) => data === undefined);
  if (missing !== -1) {
    const run = ids[missing]!.toString("hex");
    throw new DedupError("CHUNK_MISSING", `run ${run}, which holds chunks of ${recipe.digest}, is missing`, { digest: recipe.digest, chunk: run });
  }
  return { ids, stored: runs as Uint8Array[] };
}

function damaged(recipe: Recipe, id: ChunkId, problem: string): DedupError {
  const chunk = id.toString("hex");
  return new DedupError("CHUNK_CORRUPT", `chunk ${chunk} of ${recipe.digest} ${problem}`, { digest: recipe.digest, chunk });
}
