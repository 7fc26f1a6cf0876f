import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { DedupError, type ErrorCode } from "../errors.js";
import type { ChunkId } from "../store/chunk-id.js";
import type { Store } from "../store/types.js";
import type { ChunkClaims } from "./claims.js";
import type { IngestResult } from "./ingest.js";
import type { BlobSource } from "./sources.js";
import { splitIds, type FromWorker, type ToWorker } from "./ingest-protocol.js";

interface Job {
  resolve(result: IngestResult): void;
  reject(error: Error): void;
  onBytes?: (bytes: number) => void;
  /** The worker took its next blob already (this one's input is all read). */
  released?: boolean;
}

/**
 * Ingests file-backed blobs in worker threads, one blob per worker at a time (a worker takes the
 * next as soon as it has read the last byte of the current one, whose last batches and recipe are
 * still being written), so chunking, hashing and compression use every core. The workers write
 * chunks to the store themselves; which chunks each one writes is decided here, through the
 * claims of this process, so blobs that share content store it once and no recipe names a chunk
 * before it is committed.
 */
export class IngestPool {
  readonly #claims: ChunkClaims;
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #queue: { source: BlobSource; job: Job }[] = [];
  readonly #jobs = new Map<number, Job>();
  #nextJob = 0;

  constructor(store: Store, claims: ChunkClaims, size = availableParallelism()) {
    this.#claims = claims;
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(new URL("./ingest-worker.js", import.meta.url), { workerData: { location: store.location } });
      worker.on("message", (message: FromWorker) => void this.#onMessage(worker, message));
      worker.on("error", (error) => this.#failAll(error));
      this.#workers.push(worker);
      this.#idle.push(worker);
    }
  }

  ingest(source: BlobSource, onBytes?: (bytes: number) => void): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ source, job: { resolve, reject, onBytes } });
      // Deferred, so that blobs handed over together are ordered before any is started.
      queueMicrotask(() => this.#dispatch());
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }

  #dispatch(): void {
    // Largest blob first: the last blobs to finish are then the small ones, and the workers
    // finish close together instead of one core idling while the other ingests a big layer.
    this.#queue.sort((a, b) => b.source.size - a.source.size);
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      const { source, job } = this.#queue.shift()!;
      const id = this.#nextJob++;
      this.#jobs.set(id, job);
      worker.postMessage({ type: "ingest", job: id, source } satisfies ToWorker);
    }
  }

  async #onMessage(worker: Worker, message: FromWorker): Promise<void> {
    const claims = this.#claims;
    switch (message.type) {
      case "progress":
        this.#jobs.get(message.job)?.onBytes?.(message.bytes);
        return;
      case "inputDone":
        this.#release(worker, this.#jobs.get(message.job));
        return;
      case "done":
      case "failed": {
        const job = this.#jobs.get(message.job)!;
        this.#jobs.delete(message.job);
        this.#release(worker, job);
        if (message.type === "done") job.resolve(message.result);
        else job.reject(new DedupError(message.error.code as ErrorCode, message.error.message, message.error.detail));
        return;
      }
      case "settle":
        claims.settle(splitIds(message.ids));
        return;
      case "claim":
      case "awaitIdle": {
        const ids: ChunkId[] = splitIds(message.ids);
        try {
          const value = message.type === "claim" ? await claims.claim(ids) : await claims.awaitIdle(ids);
          worker.postMessage({ type: "reply", call: message.call, value } satisfies ToWorker);
        } catch (error) {
          worker.postMessage({ type: "reply", call: message.call, error: (error as Error).message } satisfies ToWorker);
        }
        return;
      }
    }
  }

  /** The worker may take another blob: the one it has (`job`) needs it no more. */
  #release(worker: Worker, job: Job | undefined): void {
    if (job === undefined || job.released) return;
    job.released = true;
    this.#idle.push(worker);
    this.#dispatch();
  }

  #failAll(error: Error): void {
    for (const job of this.#jobs.values()) job.reject(error);
    this.#jobs.clear();
    for (const { job } of this.#queue.splice(0)) job.reject(error);
  }
}

