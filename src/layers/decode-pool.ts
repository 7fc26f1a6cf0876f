import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { DedupError } from "../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "../store/chunk-id.js";
import { isRawStored } from "../store/codec.js";
import { decodeBatch, REJECTED, type ExpectedChunks } from "./decode-batch.js";

/**
 * Decompresses chunks in worker threads, so that a blob being rebuilt keeps the main thread for
 * reading, hashing and sending while its next batches are decompressed on the other cores.
 * Batches travel without copies: stored chunks go out in one transferred buffer, and come back
 * decoded, back to back, in another.
 */
interface Pending {
  resolve(decoded: { chunks: Buffer[]; lengths: number[] }): void;
  reject(error: Error): void;
}

/** Batches smaller than this, or of raw chunks only (unless checked), are decoded in place: a thread hop would cost more than it saves. */
const MIN_OFFLOAD_BYTES = 32 * 1024;

export class DecodePool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #next = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL("./decode-worker.js", import.meta.url));
      worker.on("message", (message: { id: number; buffer?: ArrayBuffer; lengths?: number[]; error?: string }) => {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
        if (message.error !== undefined) pending?.reject(new DedupError("CHUNK_CORRUPT", message.error));
        else pending?.resolve({ chunks: views(Buffer.from(message.buffer!), message.lengths!), lengths: message.lengths! });
      });
      worker.on("error", (error) => {
        for (const p of this.#pending.values()) p.reject(error);
        this.#pending.clear();
      });
      // Idle workers must not hold the process open; they are ref'd while a batch is out.
      worker.unref();
      this.#workers.push(worker);
    }
  }

  /** Decodes a batch of stored chunks, in order. */
  async decode(stored: readonly Uint8Array[]): Promise<Buffer[]> {
    return (await this.#run(stored)).chunks;
  }

  /**
   * Decodes chunks that must have the given ids and plain lengths (those a peer sent): each is
   * its plain bytes, or undefined if it cannot be decoded or is not the chunk expected. The
   * checks (a SHA-256 per chunk) run in the worker with the decompression, off the main thread.
   */
  async decodeChecked(stored: readonly Uint8Array[], ids: readonly ChunkId[], lengths: readonly number[]): Promise<(Buffer | undefined)[]> {
    const expected = { ids: Buffer.concat(ids as Buffer[], ids.length * CHUNK_ID_BYTES), lengths };
    const decoded = await this.#run(stored, expected);
    let next = 0;
    return decoded.lengths.map((length) => (length === REJECTED ? undefined : decoded.chunks[next++]));
  }

  #run(stored: readonly Uint8Array[], expected?: ExpectedChunks): Promise<{ chunks: Buffer[]; lengths: number[] }> {
    let total = 0;
    for (const chunk of stored) total += chunk.length;
    const inPlace = total < MIN_OFFLOAD_BYTES || this.#workers.length === 0 || (expected === undefined && stored.every(isRawStored));
    if (inPlace) return Promise.resolve(decodeBatch(stored, expected));
    // Copied into a buffer this pool owns, which can then be handed over without another copy
    // whatever backend the chunks came from.
    const batch = Buffer.allocUnsafeSlow(total);
    const lengths: number[] = [];
    let at = 0;
    for (const chunk of stored) {
      batch.set(chunk, at);
      at += chunk.length;
      lengths.push(chunk.length);
    }
    const id = this.#next++;
    const worker = this.#workers[id % this.#workers.length]!;
    if (this.#pending.size === 0) for (const w of this.#workers) w.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const checks = expected === undefined ? {} : { expectedIds: expected.ids, expectedLengths: expected.lengths };
      worker.postMessage({ id, buffer: batch.buffer, lengths, ...checks }, [batch.buffer]);
    });
  }
}

/** The decoded chunks, views into the batch's buffer; rejected chunks (REJECTED) take no bytes and get no view. */
function views(buffer: Buffer, lengths: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const length of lengths) {
    if (length === REJECTED) continue;
    out.push(buffer.subarray(at, at + length));
    at += length;
  }
  return out;
}

let shared: DecodePool | undefined;

/** The process's decode pool: one worker per core beyond the main thread's. */
export function decodePool(): DecodePool {
  shared ??= new DecodePool(availableParallelism());
  return shared;
}
