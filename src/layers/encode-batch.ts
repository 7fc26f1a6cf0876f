import { CHUNK_ID_BYTES, chunkIdOf } from "../store/chunk-id.js";
import { encodeChunksInto, type Compression } from "../store/codec.js";

/**
 * Compresses chunks as the store keeps them, back to back into `out` (room for their
 * encodedBounds): the work of an encode worker (and of the caller's thread for small batches or
 * a pool without threads). With `name`, each chunk's id too (back to back): what ingest's runs,
 * which no one has hashed yet, are stored under.
 */
export function encodeBatchInto(chunks: readonly Uint8Array[], compression: Compression, out: Buffer, name: boolean): { stored: Buffer[]; lengths: Int32Array; ids?: Uint8Array } {
  const stored = encodeChunksInto(chunks, compression, out);
  const lengths = Int32Array.from(stored, (chunk) => chunk.length);
  if (!name) return { stored, lengths };
  const ids = new Uint8Array(chunks.length * CHUNK_ID_BYTES);
  chunks.forEach((chunk, i) => ids.set(chunkIdOf(chunk), i * CHUNK_ID_BYTES));
  return { stored, lengths, ids };
}
