/**
 * Plain bytes a read fetches and decodes per batch, in at most this many chunks (a batch ends
 * with the chunk that reaches either). Also the size of ingest's runs: 4 MiB of context makes
 * zstd store the benchmark dataset in about 5% less than 1 MiB does (BENCHMARKS.md).
 */
export const READ_BATCH_BYTES = 4 << 20;
export const MAX_READ_BATCH_CHUNKS = 512;

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
    if (this.#chunks < MAX_READ_BATCH_CHUNKS && this.#bytes < READ_BATCH_BYTES) return false;
    this.#chunks = 0;
    this.#bytes = 0;
    return true;
  }
}
