import { CHUNK_ID_BYTES, chunkIdOf } from "../store/chunk-id.js";
import { decodeChunk } from "../store/codec.js";

/** What a batch's chunks must be: each one's id (back to back) and plain length. */
export interface ExpectedChunks {
  ids: Uint8Array;
  lengths: readonly number[];
}

/** Marks, in a decoded batch's lengths, a chunk that could not be decoded or is not what was expected. */
export const REJECTED = -1;

/**
 * Decodes stored chunks, the work of a decode worker (and of the main thread for small
 * batches). Without `expected`, a chunk that cannot be decoded fails the batch. With it, each
 * chunk is also checked against its id and length, and one that fails either check, or cannot be
 * decoded, is rejected alone (its length REJECTED): chunks from a peer are checked where they
 * are decoded, so that a damaged one costs no more than itself.
 */
export function decodeBatch(stored: readonly Uint8Array[], expected?: ExpectedChunks): { chunks: Buffer[]; lengths: number[] } {
  const chunks: Buffer[] = [];
  const lengths: number[] = [];
  stored.forEach((chunk, i) => {
    if (expected === undefined) {
      const plain = decodeChunk(chunk);
      chunks.push(plain);
      lengths.push(plain.length);
      return;
    }
    const plain = decodeOrUndefined(chunk);
    const id = expected.ids.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES);
    if (plain === undefined || plain.length !== expected.lengths[i] || !chunkIdOf(plain).equals(id)) {
      lengths.push(REJECTED);
      return;
    }
    chunks.push(plain);
    lengths.push(plain.length);
  });
  return { chunks, lengths };
}

function decodeOrUndefined(stored: Uint8Array): Buffer | undefined {
  try {
    return decodeChunk(stored);
  } catch {
    return undefined;
  }
}
