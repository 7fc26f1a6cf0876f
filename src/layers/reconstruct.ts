import { createHash } from "node:crypto";
import { DedupError } from "../errors.js";
import type { ChunkCache } from "./chunk-cache.js";
import type { CodecPool } from "./codec-pool.js";
import type { Loans } from "./loans.js";
import type { ReadAheadBudget } from "./read-ahead.js";
import { ReadBatches } from "./read-batches.js";
import { ReadPlan } from "./read-plan.js";
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
  /** Decoded batch buffers lent to reads, reused once their pieces are handed back. */
  loans: Loans;
  /**
   * Recipes (these very objects) rebuilt whole by a read and found to match their digests: their
   * chunks make up the blob, so whoever holds such a recipe need not hash the blob again.
   */
  verified: WeakSet<Recipe>;
}

/** Batches (read-batches.ts) fetched and decoded ahead: one being sent, one on each codec thread. */
const BATCHES_AHEAD = 3;

/**
 * Streams a blob back from its recipe, reading and decoding ahead of the consumer. Every byte is
 * proven before it is yielded. Each chunk decoded is checked against its id (in the decode
 * threads); a chunk from the cache was checked when it went in, and its length must be the one
 * the recipe gives. A proven recipe (store/recipe.ts) then proves the blob: it is these chunks.
 * An unproven one (a peer's, a version-1 record) is proven as a whole read streams, by its sha256
 * digest, its last piece held back until the digest matched (else the stream fails, one piece
 * short); a range of it is only as good as the recipe.
 *
 * Pieces may be views of a buffer lent for this read (loans.ts): a consumer that hands each back
 * once its bytes have left the process (`parts.loans.returned`) lets the buffer be reused; one
 * that does not leaves it to the garbage collector.
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
  const plan = new ReadPlan(store, recipe, last, parts);
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
      const batch = plan.batch(from, to);
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
      const joined = joinAdjacent(pieces);
      // Counted before the chunks are passed: a lent buffer is reused only once its pieces are back.
      for (const piece of joined) parts.loans.yielding(piece);
      for (const chunk of chunks) parts.loans.passed(chunk);
      for (const piece of joined) {
        digester?.update(piece);
        // An unproven blob's last piece is held back until the digest is checked: a consumer that
        // streams to a client never hands out a complete-looking blob of wrong bytes. A proven
        // one's pieces are proven as they come.
        if (digester === undefined) {
          yield piece;
          continue;
        }
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
 * Reads a blob whole for its checks alone (an unproven recipe is hashed against its digest),
 * throwing its bytes away: each piece is handed back as it comes, so that a buffer lent for the
 * read is decoded into again rather than left to the garbage collector.
 */
export async function readForChecks(store: Store, recipe: Recipe, parts: ReadParts): Promise<void> {
  for await (const piece of readBlob(store, recipe, undefined, parts)) parts.loans.returned(piece);
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
