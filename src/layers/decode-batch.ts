import { CHUNK_ID_BYTES, chunkIdOf } from "../store/chunk-id.js";
import { decodeChunkInto } from "../store/codec.js";

/** What a batch's chunks must be: each one's id (back to back) and plain length. */
export interface ExpectedChunks {
  ids: Uint8Array;
  lengths: Uint32Array;
}

/** Marks, in a decoded batch's lengths, a chunk that could not be decoded or is not what was expected. */
export const REJECTED = -1;

/** The bytes a batch's chunks take decoded: their expected lengths, summed. */
export function decodedBytes(expected: ExpectedChunks): number {
  let total = 0;
  for (const length of expected.lengths) total += length;
  return total;
}

/**
 * Decodes stored chunks straight into `out` (decodedBytes(expected) long), back to back in
 * order, each at the place its expected length gives it, and checks each against its id: the
 * work of a decode worker (and of the main thread for small batches). Returns each chunk's
 * length, or REJECTED for one that cannot be decoded, has another length or another id: a
 * damaged chunk costs no more than itself, and its place in `out` holds no meaning.
 */
export function decodeBatchInto(stored: readonly Uint8Array[], expected: ExpectedChunks, out: Uint8Array): Int32Array {
  const lengths = new Int32Array(stored.length);
  let at = 0;
  stored.forEach((chunk, i) => {
    const length = expected.lengths[i]!;
    const id = expected.ids.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES);
    const ok = decodeChunkInto(chunk, out, at, length) === length && chunkIdOf(out.subarray(at, at + length)).equals(id);
    lengths[i] = ok ? length : REJECTED;
    at += length;
  });
  return lengths;
}
