import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { DedupError } from "../errors.js";
import { decodeChunk } from "../store/codec.js";

/**
 * Decompresses chunks in worker threads, so that a blob being rebuilt keeps the main thread for
 * reading, hashing and sending while its next batches are decompressed on the other cores.
 * Batches travel without copies: stored chunks go out in one transferred buffer, and come back
 * decoded, back to back, in another.
 */
interface Pending {
  resolve(chunks: Buffer[]): void;
  reject(error: Error): void;
}

/** Batches smaller than this are decoded in place: a thread hop would cost more than it saves. */
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
        else pending?.resolve(views(Buffer.from(message.buffer!), message.lengths!));
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
  decode(stored: readonly Uint8Array[]): Promise<Buffer[]> {
    let total = 0;
    for (const chunk of stored) total += chunk.length;
    if (total < MIN_OFFLOAD_BYTES || this.#workers.length === 0) return Promise.resolve(stored.map((chunk) => decodeChunk(chunk)));
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
      worker.postMessage({ id, buffer: batch.buffer, lengths }, [batch.buffer]);
    });
  }
}

function views(buffer: Buffer, lengths: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const length of lengths) {
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
