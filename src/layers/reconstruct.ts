import { createHash } from "node:crypto";
import { DedupError } from "../errors.js";
import { chunkIdOf } from "../store/chunk-id.js";
import { decodeChunk } from "../store/codec.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";

/** Inclusive byte range, as in an HTTP `Range` header. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Chunks fetched per store call, and how many such batches are fetched and decoded ahead. */
const BATCH_CHUNKS = 16;
const BATCHES_AHEAD = 4;

/**
 * Streams a blob back from its recipe, reading and decompressing ahead of the consumer.
 * A whole blob is checked against its sha256 digest as it streams, and the stream fails at the
 * end if it differs; a range cannot be checked that way, so each of its chunks is checked
 * against its id before any of its bytes are yielded.
 */
export async function* readBlob(store: Store, recipe: Recipe, range?: ByteRange): AsyncGenerator<Buffer> {
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

  const ahead: Promise<Buffer[]>[] = [];
  let nextBatch = first;
  const fill = (): void => {
    while (ahead.length < BATCHES_AHEAD && nextBatch <= last) {
      const from = nextBatch;
      const to = Math.min(last + 1, from + BATCH_CHUNKS);
      nextBatch = to;
      const batch = fetchBatch(store, recipe, from, to, !whole);
      batch.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      ahead.push(batch);
    }
  };

  let offset = firstOffset;
  fill();
  while (ahead.length > 0) {
    const chunks = await ahead.shift()!;
    fill();
    for (const chunk of chunks) {
      const from = Math.max(0, start - offset);
      const to = Math.min(chunk.length, end + 1 - offset);
      offset += chunk.length;
      const piece = from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
      digester?.update(piece);
      yield piece;
    }
  }
  if (digester !== undefined) {
    const actual = `sha256:${digester.digest("hex")}`;
    if (actual !== recipe.digest) {
      throw new DedupError("CHUNK_CORRUPT", `rebuilt ${recipe.digest} but got ${actual}: the store is damaged`, { digest: recipe.digest, actual });
    }
  }
}

async function fetchBatch(store: Store, recipe: Recipe, from: number, to: number, verifyChunks: boolean): Promise<Buffer[]> {
  const ids = recipe.ids.slice(from, to);
  const stored = await store.getChunks(ids);
  return stored.map((data, i) => {
      const id = ids[i]!;
      if (data === undefined) {
        throw new DedupError("CHUNK_MISSING", `chunk ${id.toString("hex")} of ${recipe.digest} is missing`, { digest: recipe.digest, chunk: id.toString("hex") });
      }
      const chunk = decodeChunk(data);
      if (chunk.length !== recipe.lengths[from + i] || (verifyChunks && !chunkIdOf(chunk).equals(id))) {
        throw new DedupError("CHUNK_CORRUPT", `chunk ${id.toString("hex")} of ${recipe.digest} is damaged`, { digest: recipe.digest, chunk: id.toString("hex") });
      }
    return chunk;
  });
}
