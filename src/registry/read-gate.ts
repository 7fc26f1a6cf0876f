/**
 * Bounds how many blobs are rebuilt from chunks at once. Rebuilding costs store reads, decode
 * work and memory for read-ahead per stream; a limit of 1 reproduces the seed's lock that let
 * one layer through at a time. Waiters are admitted strictly in arrival order.
 */
export class ReadGate {
  readonly #limit: number;
  #active = 0;
  readonly #queue: (() => void)[] = [];

  /** `limit` 0 means no limit. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves with a release function once a place is free. Call the release exactly once. */
  async enter(signal?: AbortSignal): Promise<() => void> {
    if (this.#limit === 0 || (this.#active < this.#limit && this.#queue.length === 0)) {
      this.#active++;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const admit = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        // A client that left while queued gives up its turn.
        const at = this.#queue.indexOf(admit);
        if (at !== -1) this.#queue.splice(at, 1);
        reject(signal!.reason);
      };
      this.#queue.push(admit);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      // The place passes straight to the next waiter, so nobody can overtake the queue.
      if (next !== undefined) next();
      else this.#active--;
    };
  }
}
