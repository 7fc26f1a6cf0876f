/** Plain bytes a read fetches and decodes per batch, in at most this many chunks. */
const BATCH_BYTES = 1 << 20;
const MAX_BATCH_CHUNKS = 256;

/**
 * Where a read cuts a blob into batches, chunk by chunk from its first. Ingest makes its runs
 * (store/codec.ts) of the new chunks of the same spans, so that a layer read back whole decodes
 * each of its runs once, in the batch that holds all of it.
 */
export class ReadBatches {
  #chunks = 0;
  #bytes = 0;

  /** Counts the next chunk in; true if it ends its batch. */
  add(length: number): boolean {
    this.#chunks++;
    this.#bytes += length;
    if (this.#chunks < MAX_BATCH_CHUNKS && this.#bytes < BATCH_BYTES) return false;
    this.#chunks = 0;
    this.#bytes = 0;
    return true;
  }
}
