import { createHash } from "node:crypto";
import { DedupError } from "../errors.js";
import { chunkIdOf, type ChunkId } from "../store/chunk-id.js";
import type { ChunkCache } from "./chunk-cache.js";
import type { DecodePool } from "./decode-pool.js";
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
  decoder: DecodePool;
  /**
   * Recipes (these very objects) rebuilt whole by a read and found to match their digests: their
   * chunks make up the blob, so whoever holds such a recipe need not hash the blob again.
   */
  verified: WeakSet<Recipe>;
}

/** Plain bytes fetched per store call (at most MAX_BATCH_CHUNKS), and batches fetched and decoded ahead. */
const BATCH_BYTES = 1 << 20;
const MAX_BATCH_CHUNKS = 256;
const BATCHES_AHEAD = 4;

/**
 * Streams a blob back from its recipe, reading and decompressing ahead of the consumer.
 * A whole blob is checked against its sha256 digest as it streams, its last piece held back until
 * the digest matched (else the stream fails, one piece short); a range cannot be checked that
 * way, so each of its chunks is checked against its id (or, from the cache, its length) before
 * any of its bytes are yielded.
 */
export async function* readBlob(store: Store, recipe: Recipe, range: ByteRange | undefined, parts: ReadParts): AsyncGenerator<Buffer> {
  const { cache } = parts;
  const { start, end } = range ?? { start: 0, end: recipe.size - 1 };
  if (recipe.size === 0) return;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end < recipe.size)) {
    throw new DedupError("RANGE_INVALID", `range ${start}-${end} is outside the ${recipe.size}-byte blob`, { start, end, size: recipe.size });
  }
  const whole = start === 0 && end === recipe.size - 1;
  const digester = whole ? createHash("sha256") : undefined;

  // Find the chunks that cover [start, end].
  let first = 0;
  let firstOffset = 0;
  while (firstOffset + recipe.lengths[first]! <= start) firstOffset += recipe.lengths[first++]!;
  let last = first;
  let lastEnd = firstOffset + recipe.lengths[first]!;
  while (lastEnd <= end) lastEnd += recipe.lengths[++last]!;

  const ahead: Promise<FetchedBatch>[] = [];
  /** This rebuild, as the decode pool's fairness counts it. */
  const owner = {};
  let nextBatch = first;
  const fill = (): void => {
    while (ahead.length < BATCHES_AHEAD && nextBatch <= last) {
      const from = nextBatch;
      let to = from;
      let bytes = 0;
      while (to <= last && to - from < MAX_BATCH_CHUNKS && bytes < BATCH_BYTES) bytes += recipe.lengths[to++]!;
      nextBatch = to;
      const batch = fetchBatch(store, recipe, from, to, !whole, parts, owner);
      batch.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      ahead.push(batch);
    }
  };

  // Chunks go into the cache only once the blob they came from has verified (or, for a range,
  // once each was checked against its id): a damaged chunk must never be served from memory.
  // The cache sets aside room for them meanwhile, so that reads together hold no more than it.
  const staged: [ChunkId, Buffer][] = [];
  let stagedBytes = 0;
  try {
    let offset = firstOffset;
    let index = first;
    let held: Buffer | undefined;
    fill();
    while (ahead.length > 0) {
      const { chunks, decoded } = await ahead.shift()!;
      fill();
      const pieces: Buffer[] = [];
      for (let i = 0; i < chunks.length; i++) {
        const chunk = chunks[i]!;
        // Chunks that came from the cache are there already (and were moved to its young end).
        if (decoded[i] && cache.stage(chunk.length)) {
          staged.push([recipe.ids[index]!, chunk]);
          stagedBytes += chunk.length;
        }
        index++;
        const from = Math.max(0, start - offset);
        const to = Math.min(chunk.length, end + 1 - offset);
        offset += chunk.length;
        pieces.push(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
      }
      for (const piece of joinAdjacent(pieces)) {
        digester?.update(piece);
        // A whole blob's last piece is held back until the digest is checked: a consumer that
        // streams to a client never hands out a complete-looking blob of wrong bytes.
        if (held !== undefined) yield held;
        held = piece;
      }
    }
    if (digester !== undefined) {
      const actual = `sha256:${digester.digest("hex")}`;
      if (actual !== recipe.digest) {
        throw new DedupError("CHUNK_CORRUPT", `rebuilt ${recipe.digest} but got ${actual}: the store is damaged`, { digest: recipe.digest, actual });
      }
      parts.verified.add(recipe);
    }
    if (held !== undefined) yield held;
    cache.unstage(stagedBytes);
    stagedBytes = 0;
    for (const [id, chunk] of staged) cache.put(id, chunk);
  } finally {
    // A read that failed or was left early (its client went away) drops what it held.
    cache.unstage(stagedBytes);
  }
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

/** A batch's chunks in order; `decoded[i]` when chunk i was read and decoded, not found in the cache. */
interface FetchedBatch {
  chunks: Buffer[];
  decoded: boolean[];
}

async function fetchBatch(store: Store, recipe: Recipe, from: number, to: number, verifyChunks: boolean, { cache, decoder }: ReadParts, owner: object): Promise<FetchedBatch> {
  const ids = recipe.ids.slice(from, to);
  const out: (Buffer | undefined)[] = ids.map((id) => cache.get(id));
  // A cached chunk is the chunk of its id, but a damaged recipe may name the wrong one: its length tells, for free.
  const misplaced = out.findIndex((chunk, i) => chunk !== undefined && chunk.length !== recipe.lengths[from + i]);
  if (misplaced !== -1) {
    const chunk = ids[misplaced]!.toString("hex");
    throw new DedupError("CHUNK_CORRUPT", `chunk ${chunk} of ${recipe.digest} does not have the length its recipe gives`, { digest: recipe.digest, chunk });
  }
  const decoded = out.map((chunk) => chunk === undefined);
  const misses = out.flatMap((chunk, i) => (chunk === undefined ? [i] : []));
  if (misses.length === 0) return { chunks: out as Buffer[], decoded };
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
      decoded[i] = false;
    } else {
      undecoded.push(i);
      toDecode.push(stored[k]!);
    }
  });
  const fresh = await decoder.decode(toDecode, owner);
  fresh.forEach((chunk, k) => {
    const i = undecoded[k]!;
    const id = ids[i]!;
    if (chunk.length !== recipe.lengths[from + i] || (verifyChunks && !chunkIdOf(chunk).equals(id))) {
      throw new DedupError("CHUNK_CORRUPT", `chunk ${id.toString("hex")} of ${recipe.digest} is damaged`, { digest: recipe.digest, chunk: id.toString("hex") });
    }
    out[i] = chunk;
  });
  return { chunks: out as Buffer[], decoded };
}
