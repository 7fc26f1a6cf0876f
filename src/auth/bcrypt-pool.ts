import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * bcrypt comparisons on worker threads. A cost-10 check is about 75 ms of CPU in bcryptjs; on the
 * main thread (even in bcryptjs's async form, which only slices the work) a flood of wrong
 * passwords, which are never remembered, would take that CPU from every pull and push. Here they
 * queue for the workers instead, and the event loop stays free.
 *
 * Give `compare` to Htpasswd/HtpasswdFile (their `compare` option).
 */
export class BcryptPool {
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #workers: Worker[] = [];
  readonly #queue: { id: number; password: string; hash: string }[] = [];
  readonly #pending = new Map<number, { resolve(ok: boolean): void; reject(error: Error): void }>();
  #next = 0;
  #closed = false;

  /** `size` worker threads (default: one fewer than the cores, at least one), started on first use. */
  constructor(size = Math.max(1, availableParallelism() - 1)) {
    this.#size = size;
  }

  /** Whether `password` matches the bcrypt `hash`. */
  readonly compare = (password: string, hash: string): Promise<boolean> => {
    if (this.#closed) return Promise.reject(new Error("the bcrypt pool is closed"));
    if (this.#workers.length === 0) this.#start();
    const id = this.#next++;
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#queue.push({ id, password, hash });
      this.#dispatch();
    });
  };

  /** Stops the workers; comparisons still waiting fail. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#failAll(new Error("the bcrypt pool is closed"));
    await Promise.all(this.#workers.splice(0).map((worker) => worker.terminate()));
  }

  #start(): void {
    for (let i = 0; i < this.#size; i++) {
      const worker = new Worker(new URL("./bcrypt-worker.js", import.meta.url));
      worker.on("message", (message: { id: number; ok: boolean }) => {
        this.#pending.get(message.id)?.resolve(message.ok);
        this.#pending.delete(message.id);
        this.#idle.push(worker);
        this.#dispatch();
      });
      // A worker that fails is a bug: every comparison out fails, and the next use starts afresh.
      worker.on("error", (error) => {
        this.#failAll(error);
        void Promise.all(this.#workers.splice(0).map((each) => each.terminate()));
        this.#idle.length = 0;
      });
      // Idle workers must not keep the process alive; a worker is ref'd while it compares.
      worker.unref();
      this.#workers.push(worker);
      this.#idle.push(worker);
    }
  }

  #dispatch(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      worker.ref();
      worker.postMessage(this.#queue.shift()!);
    }
    for (const worker of this.#idle) worker.unref();
  }

  #failAll(error: Error): void {
    this.#queue.length = 0;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
