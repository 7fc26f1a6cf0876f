import { CHUNK_ID_BYTES, chunkIdOf } from "../store/chunk-id.js";
import { decodeChunkInto, plainLength, sliceOf, type Slice } from "../store/codec.js";

/** What a batch's chunks must be: each one's id (back to back) and plain length. */
export interface ExpectedChunks {
  ids: Uint8Array;
  lengths: Uint32Array;
}

/** The runs a batch's slices name (store/codec.ts): their ids (back to back) and stored forms, in the same order. */
export interface BatchRuns {
  ids: Uint8Array;
  stored: readonly Uint8Array[];
}

/** Marks, in a decoded batch's lengths, a chunk that could not be decoded or is not what was expected. */
export const REJECTED = -1;

const NO_RUNS: BatchRuns = { ids: new Uint8Array(0), stored: [] };

/** The bytes a batch's chunks take decoded: their expected lengths, summed. */
export function decodedBytes(lengths: Iterable<number>): number {
  let total = 0;
  for (const length of lengths) total += length;
  return total;
}

/**
 * Decodes stored chunks straight into `out` (decodedBytes(expected.lengths) long), back to back in
 * order, each at the place its expected length gives it, and checks each against its id: the
 * work of a decode worker (and of the main thread for small batches). Returns each chunk's
 * length, or REJECTED for one that cannot be decoded, has another length or another id: a
 * damaged chunk costs no more than itself, and its place in `out` holds no meaning.
 *
 * A slice is cut from its run, which `runs` holds, and each run is decoded once: straight into
 * `out` when the batch holds all of it, in order (a layer read back as it was pushed: ingest
 * makes runs of one read batch's new chunks), else apart, once its slices are all known.
 */
export function decodeBatchInto(stored: readonly Uint8Array[], expected: ExpectedChunks, out: Uint8Array, runs: BatchRuns = NO_RUNS): Int32Array {
  const runIndex = new Map<string, number>();
  for (let r = 0; r < runs.stored.length; r++) runIndex.set(Buffer.from(runs.ids.buffer, runs.ids.byteOffset + r * CHUNK_ID_BYTES, CHUNK_ID_BYTES).toString("latin1"), r);
  const starts = new Array<number>(stored.length);
  const decoded = new Uint8Array(stored.length);
  /** Slices to cut from runs decoded apart: per run, the chunks. */
  const apart = new Map<number, number[]>();
  let at = 0;
  for (let i = 0; i < stored.length; at += expected.lengths[i++]!) {
    starts[i] = at;
    if (decoded[i] === 1) continue; // part of a whole run decoded in place
    const length = expected.lengths[i]!;
    const slice = sliceOf(stored[i]!);
    if (slice === undefined) {
      decoded[i] = decodeChunkInto(stored[i]!, out, at, length) === length ? 1 : 0;
      continue;
    }
    const r = runIndex.get(slice.run.toString("latin1"));
    if (r === undefined) continue;
    const through = wholeRunThrough(stored, expected.lengths, i, slice, runs.stored[r]!);
    if (through !== -1 && decodeChunkInto(runs.stored[r]!, out, at, plainLength(runs.stored[r]!)!) !== -1) decoded.fill(1, i, through + 1);
    else if (apart.has(r)) apart.get(r)!.push(i);
    else apart.set(r, [i]);
  }
  for (const [r, chunks] of apart) {
    const plain = decodeRun(runs.stored[r]!);
    if (plain === undefined) continue;
    for (const i of chunks) {
      const { offset, length } = sliceOf(stored[i]!)!;
      if (length !== expected.lengths[i] || offset + length > plain.length) continue;
      out.set(plain.subarray(offset, offset + length), starts[i]!);
      decoded[i] = 1;
    }
  }
  const lengths = new Int32Array(stored.length);
  for (let i = 0; i < stored.length; i++) {
    const length = expected.lengths[i]!;
    const id = expected.ids.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES);
    lengths[i] = decoded[i] === 1 && chunkIdOf(out.subarray(starts[i]!, starts[i]! + length)).equals(id) ? length : REJECTED;
  }
  return lengths;
}

/**
 * If the slices from `first` on are the whole of their run, in order and of the lengths
 * expected, the index of the last of them; else -1.
 */
function wholeRunThrough(stored: readonly Uint8Array[], lengths: Uint32Array, first: number, slice: Slice, run: Uint8Array): number {
  const size = plainLength(run);
  if (size === undefined || slice.offset !== 0) return -1;
  let end = 0;
  for (let i = first; i < stored.length; i++) {
    const next = sliceOf(stored[i]!);
    if (next === undefined || !next.run.equals(slice.run) || next.offset !== end || next.length !== lengths[i]) return -1;
    end += next.length;
    if (end === size) return i;
    if (end > size) return -1;
  }
  return -1;
}

/** A run decoded apart from its batch, into this thread's buffer for that (the next call overwrites it); undefined if it is damaged. */
function decodeRun(run: Uint8Array): Uint8Array | undefined {
  const size = plainLength(run);
  if (size === undefined || size > MAX_RUN_BYTES) return undefined;
  const plain = runBuffer(size);
  return decodeChunkInto(run, plain, 0, size) === -1 ? undefined : plain;
}

/** Runs are at most a read batch and a chunk (4 MiB and a little): a stored form that claims far more is damaged. */
const MAX_RUN_BYTES = 16 << 20;

/** One buffer per thread for runs decoded apart from their batch, grown as needed. */
let runBytes = new Uint8Array(0);

function runBuffer(size: number): Uint8Array {
  if (runBytes.length < size) runBytes = new Uint8Array(size);
  return runBytes.subarray(0, size);
}
