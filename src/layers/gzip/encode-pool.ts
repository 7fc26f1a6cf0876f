import { Worker } from "node:worker_threads";
import { DedupError } from "../../errors.js";
import type { EncodeJob, FromEncoder, ToEncoder } from "./encode-protocol.js";

/** One thing an encode job produces, in order: a piece of its output, or a checkpoint (at that point of the output). */
export type EncodeEvent = { output: Uint8Array } | { checkpoint: Uint8Array };

/** Input handed to an encode thread at a time (see inPieces). */
const PIECE_BYTES = 1 << 20;
/** Input pieces sent to a job and not yet taken by its worker: enough to keep it busy, little memory. */
const PIECES_IN_FLIGHT = 2;

interface Running {
  events: EncodeEvent[];
  wake: () => void;
  took: () => void;
  done: boolean;
  failed?: Error;
}

/**
 * Deflate encoders on worker threads (encode-worker.ts), started at the first job and stopped by
 * their owner: re-encoding costs far more CPU than anything else a pull of a gzip layer does
 * (Go's level 6 runs at about 30 MB/s per core here), so it never runs on the thread that serves.
 * Each job goes to the worker with the fewest jobs; several jobs run at once when a stream is
 * cut into parts.
 */
export class EncodePool {
  readonly #size: number;
  readonly #workers: Worker[] = [];
  readonly #load = new Map<Worker, number>();
  readonly #jobs = new Map<number, Running>();
  #next = 0;

  constructor(size: number) {
    this.#size = Math.max(1, size);
  }

  get threads(): number {
    return this.#size;
  }

  /**
   * Runs `job` over `input`: the output and checkpoints as they come. Leaving early stops
   * feeding the job (its worker finishes it and drops the rest).
   */
  async *encode(job: EncodeJob, input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<EncodeEvent> {
    if (this.#workers.length === 0) this.#start();
    const worker = [...this.#workers].sort((a, b) => this.#load.get(a)! - this.#load.get(b)!)[0]!;
    const id = this.#next++;
    let wake: () => void = () => undefined;
    let inFlight = 0;
    let tookOne: () => void = () => undefined;
    const running: Running = {
      events: [],
      wake: () => wake(),
      took: () => {
        inFlight--;
        tookOne();
      },
      done: false,
    };
    this.#jobs.set(id, running);
    this.#load.set(worker, this.#load.get(worker)! + 1);
    if (this.#jobs.size === 1) for (const w of this.#workers) w.ref();
    const post = (message: ToEncoder, transfer: ArrayBuffer[] = []) => worker.postMessage(message, transfer);
    post({ type: "start", job: id, work: job });
    const feeding = (async () => {
      for await (const piece of input) {
        if (running.done || running.failed !== undefined) return;
        while (inFlight >= PIECES_IN_FLIGHT && !running.done && running.failed === undefined) await new Promise<void>((resolve) => (tookOne = resolve));
        if (running.done || running.failed !== undefined) return;
        // A copy of its own (a Buffer's slice() would be a view), handed over without another.
        const own = new Uint8Array(piece);
        inFlight++;
        post({ type: "input", job: id, bytes: own }, [own.buffer as ArrayBuffer]);
      }
      if (!running.done && running.failed === undefined) post({ type: "end", job: id });
    })();
    feeding.catch((error: unknown) => {
      running.failed = error as Error;
      running.wake();
    });
    try {
      for (;;) {
        if (running.events.length > 0) {
          yield running.events.shift()!;
          continue;
        }
        if (running.failed !== undefined) throw running.failed;
        if (running.done) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      // Left early (the caller saw enough): the worker finishes the job and drops it.
      if (!running.done && running.failed === undefined) post({ type: "end", job: id });
      running.done = true;
      tookOne();
      this.#jobs.delete(id);
      this.#load.set(worker, this.#load.get(worker)! - 1);
      if (this.#jobs.size === 0) for (const w of this.#workers) w.unref();
    }
  }

  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  #start(): void {
    for (let i = 0; i < this.#size; i++) {
      const worker = new Worker(new URL("./encode-worker.js", import.meta.url));
      worker.on("message", (message: FromEncoder) => {
        const running = this.#jobs.get(message.job);
        if (running === undefined) return;
        switch (message.type) {
          case "output":
            running.events.push({ output: message.bytes });
            break;
          case "checkpoint":
            running.events.push({ checkpoint: message.bytes });
            break;
          case "took":
            running.took();
            break;
          case "done":
            running.done = true;
            running.took();
            break;
          case "failed":
            running.failed = new DedupError("STORE_INVALID", `re-encoding failed: ${message.message}`);
            break;
        }
        running.wake();
      });
      worker.on("error", (error) => {
        for (const running of this.#jobs.values()) {
          running.failed = error;
          running.wake();
        }
      });
      // Idle workers must not hold the process open; they are ref'd while a job runs.
      worker.unref();
      this.#workers.push(worker);
      this.#load.set(worker, 0);
    }
  }
}

/** An input held whole, in pieces of PIECE_BYTES for `encode`: its worker starts on the first while the next is copied to it. */
export function* inPieces(input: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < input.length; at += PIECE_BYTES) yield input.subarray(at, at + PIECE_BYTES);
}
