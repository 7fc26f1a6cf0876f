import type { ChunkId } from "../store/chunk-id.js";

/**
 * Decoded chunks of recently rebuilt blobs, bounded in bytes, least recently used out first.
 * Popular layers (a base image under many apps) are pulled again and again; serving their chunks
 * from memory skips the pack reads and the decompression, which cost more CPU than anything else
 * in a pull (BENCHMARKS.md). Only chunks known to be right are put here: those a read decoded and
 * checked against their ids, or those an ingest just hashed into their ids.
 */
export class ChunkCache {
  readonly #capacity: number;
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;
  /** Lookups that found their chunk, and those that did not (serve's metrics read them). */
  hits = 0;
  misses = 0;

  constructor(capacityBytes: number) {
    this.#capacity = capacityBytes;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Bytes of the chunks held now. */
  get bytes(): number {
    return this.#bytes;
  }

  get(id: ChunkId): Buffer | undefined {
    const chunk = this.getAgain(id);
    if (chunk === undefined) this.misses++;
    else this.hits++;
    return chunk;
  }

  /**
   * A second look for a chunk `get` missed moments ago, which may have come in meanwhile (a site
   * puts each chunk it fetches here): not counted, so that each chunk a read wants counts once.
   */
  getAgain(id: ChunkId): Buffer | undefined {
    const key = id.toString("latin1");
    const chunk = this.#entries.get(key);
    if (chunk !== undefined) {
      // Re-inserting moves the entry to the young end of the Map's insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, chunk);
    }
    return chunk;
  }

  put(id: ChunkId, chunk: Buffer): void {
    if (chunk.length > this.#capacity) return;
    const key = id.toString("latin1");
    const old = this.#entries.get(key);
    if (old !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= old.length;
    }
    this.#entries.set(key, chunk);
    this.#bytes += chunk.length;
    this.#evict();
  }

  #evict(): void {
    for (const [oldest, value] of this.#entries) {
      if (this.#bytes <= this.#capacity) break;
      this.#entries.delete(oldest);
      this.#bytes -= value.length;
    }
  }
}
